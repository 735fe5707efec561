"""Validated YAML configs (torch-free)."""

from .loader import ConfigError, StrictModel, apply_overrides, load_config, parse_config, to_yaml
from .schema import ModelConfig, TrainConfig, load_model_config, load_train_config, resolve_config_path

__all__ = [
    "ConfigError", "StrictModel", "apply_overrides", "load_config", "parse_config", "to_yaml",
    "ModelConfig", "TrainConfig", "load_model_config", "load_train_config", "resolve_config_path",
]
