"""The pairs and what feeds the step: the registry and cache, batches, augmentation, input preparation."""
