"""What a checkpoint is worth: evaluation, batched forwards, domain metrics, diagnostics, baselines."""
