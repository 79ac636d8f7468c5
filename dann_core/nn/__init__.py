"""Networks: the gradient reversal layer, the DANN module, the model registry, weight averaging, AdaBN."""
