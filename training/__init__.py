"""Training package: the DTS-VIBE model and everything that makes checkpoints (configs, body models, …)."""
