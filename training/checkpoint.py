"""Training checkpoints: write, read, check against a config, and rebuild the model.

A checkpoint (``torch.save`` of a dict of tensors and plain values, readable with
``torch.load(weights_only=True)``) holds:

* ``model`` — the network's state dict (the body model's arrays are not in it: they come from the
  body file named by the config); ``discriminator`` — the motion discriminator's, or None;
* ``optimizers`` / ``scalers`` — optimizer (``generator``, ``discriminator``) and GradScaler states;
* ``progress`` — phase (``main``/``refinement``), epoch, step in the epoch, global step, best metric;
* ``rng`` — RNG states (torch CPU, CUDA, numpy, Python) of every process, for exact resumption;
* ``model_config`` / ``train_config`` — the fully resolved configs as YAML text;
* ``code_version`` — ``git describe --always --dirty`` of the source tree, else the package version;
* ``flow_provider`` — what computed the flow the O-stream was trained with (``streams.flow.provider``;
  None when the flow stream is off); ``metrics`` — the last validation metrics.

Loading into another model config fails with one line naming the differing config keys
(:func:`check_model_config`); a state dict whose shapes still differ names the parameters
(:func:`load_model_state`). Running with another flow provider is an error unless forced
(:func:`check_flow_provider`).
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import yaml
from torch import nn

from .config import ModelConfig, TrainConfig, apply_overrides, parse_config, to_yaml

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointError",
    "Progress",
    "check_flow_provider",
    "check_model_config",
    "code_version",
    "config_differences",
    "flow_provider_of",
    "get_rng_state",
    "load_checkpoint",
    "load_model_state",
    "model_from_checkpoint",
    "save_checkpoint",
    "set_rng_state",
]

CHECKPOINT_FORMAT = "dtsvibe-checkpoint/1"

#: Model-config keys that do not change what the weights mean: training-only settings and where
#: backbones start from. Every other key must match between a checkpoint and the config it is
#: loaded into. (``streams.flow.provider`` is checked separately, see :func:`check_flow_provider`.)
NON_ARCHITECTURE_KEYS: tuple[str, ...] = (
    "name",
    "loss",
    "optim",
    "flow_loss",
    "discriminator.enabled",
    "streams.rgb.pretrained",
    "streams.flow.pretrained",
    "streams.flow.provider",
    "temporal_encoder.dropout",
    "regressor.dropout",
    "body_model.path",
)

PathLike = Union[str, Path]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message is one line and says what to do."""


@dataclass
class Progress:
    """Where a run stands: phase index (0 main, 1 refinement), epoch and step inside the phase."""

    phase: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_value: float = float("inf")
    best_metric: str = ""

    PHASES = ("main", "refinement")

    @property
    def phase_name(self) -> str:
        return self.PHASES[self.phase] if self.phase < len(self.PHASES) else "done"

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "phase_name": self.phase_name, "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "best_value": self.best_value, "best_metric": self.best_metric,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Progress":
        return cls(**{k: d[k] for k in ("phase", "epoch", "step_in_epoch", "global_step", "best_value", "best_metric")})


@dataclass
class Checkpoint:
    """A loaded checkpoint; ``model_config`` / ``train_config`` are parsed back from their YAML."""

    path: Optional[Path]
    model_state: dict[str, torch.Tensor]
    model_config: ModelConfig
    train_config: Optional[TrainConfig]
    progress: Progress
    discriminator_state: Optional[dict[str, torch.Tensor]] = None
    optimizers: dict[str, Any] = field(default_factory=dict)
    scalers: dict[str, Any] = field(default_factory=dict)
    rng: Optional[list[dict[str, Any]]] = None
    code_version: str = "unknown"
    flow_provider: Optional[str] = None
    metrics: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem if self.path else "checkpoint"


# -- provenance ----------------------------------------------------------------------------------------
def code_version() -> str:
    """``git describe --always --dirty`` of the source tree when it is a git checkout, else the package version."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from importlib.metadata import version

        return f"dtsvibe-live {version('dtsvibe-live')}"
    except Exception:  # noqa: BLE001 - not installed
        return "unknown"


def flow_provider_of(cfg: ModelConfig) -> Optional[str]:
    """The flow provider the O-stream consumes, or None without a flow stream."""
    return cfg.streams.flow.provider if cfg.streams.flow.enabled else None


# -- RNG -----------------------------------------------------------------------------------------------
def get_rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors and plain values (torch, CUDA, numpy, Python)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["gauss"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- save / load ---------------------------------------------------------------------------------------
def _unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper."""
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    model_config: ModelConfig,
    train_config: Optional[TrainConfig] = None,
    progress: Optional[Progress] = None,
    discriminator: Optional[nn.Module] = None,
    optimizers: Optional[Mapping[str, Any]] = None,
    scalers: Optional[Mapping[str, Any]] = None,
    rng: Optional[list[dict[str, Any]]] = None,
    metrics: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write a checkpoint (atomically: a temporary file renamed into place). Returns the path.

    ``optimizers`` / ``scalers``: name → object with ``state_dict()`` (or None); ``rng``: one
    :func:`get_rng_state` per process (rank order); default: this process's.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "format": CHECKPOINT_FORMAT,
        "model": {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
        "discriminator": None if discriminator is None else _unwrap(discriminator).state_dict(),
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items() if o is not None},
        "scalers": {k: s.state_dict() for k, s in (scalers or {}).items() if s is not None},
        "progress": (progress or Progress()).to_dict(),
        "rng": rng if rng is not None else [get_rng_state()],
        "model_config": to_yaml(model_config),
        "train_config": to_yaml(train_config) if train_config is not None else None,
        "code_version": code_version(),
        "flow_provider": flow_provider_of(model_config),
        "metrics": dict(metrics or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    tmp.replace(path)
    return path


def _read_raw(path: Path, map_location: Union[str, torch.device] = "cpu") -> dict:
    """The stored dict of one of our checkpoints; a one-line CheckpointError for a missing, foreign or damaged file."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (train one with dtsvibe-train, or check the path)")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure: not our file
        # PyTorch's own text is long and, for a file that is no checkpoint, misleading (it suggests weights_only=False)
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"  # what torch.save writes
        what = ("a PyTorch file that is damaged or cut short; copy it again" if zipped
                else "not a PyTorch checkpoint file; check the path")
        raise CheckpointError(f"{path}: not a readable checkpoint: {what} ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a DTS-VIBE checkpoint (no format tag {CHECKPOINT_FORMAT!r})")
    return raw


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (one-line errors for foreign files)."""
    path = Path(path)
    raw = _read_raw(path, map_location)
    problem = _damaged_field(raw)
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint: {problem}; use another checkpoint or train a new one")
    model_cfg = parse_config(ModelConfig, _config_yaml(raw["model_config"], path, "model"), source=f"{path} (model config)")
    train_cfg = None
    if raw.get("train_config"):
        train_cfg = parse_config(TrainConfig, _config_yaml(raw["train_config"], path, "train"), source=f"{path} (train config)")
    return Checkpoint(
        path=path,
        model_state=raw["model"],
        model_config=model_cfg,
        train_config=train_cfg,
        progress=Progress.from_dict(raw["progress"]),
        discriminator_state=raw.get("discriminator"),
        optimizers=raw.get("optimizers", {}),
        scalers=raw.get("scalers", {}),
        rng=raw.get("rng"),
        code_version=raw.get("code_version", "unknown"),
        flow_provider=raw.get("flow_provider"),
        metrics=raw.get("metrics", {}),
        raw=raw,
    )


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _damaged_field(raw: Mapping[str, Any]) -> Optional[str]:
    """What is wrong with a tagged checkpoint's fields (None when :func:`load_checkpoint` can use them)."""
    if not _is_state_dict(raw.get("model")):
        return "'model' is not a state dict (parameter names → tensors)"
    if raw.get("discriminator") is not None and not _is_state_dict(raw["discriminator"]):
        return "'discriminator' is not a state dict"
    if not isinstance(raw.get("model_config"), str):
        return "'model_config' is not the model config's YAML text"
    if raw.get("train_config") is not None and not isinstance(raw["train_config"], str):
        return "'train_config' is not YAML text"
    progress = raw.get("progress")
    counters = ("phase", "epoch", "step_in_epoch", "global_step")
    if not (isinstance(progress, dict)
            and all(isinstance(progress.get(k), int) and not isinstance(progress.get(k), bool) for k in counters)
            and isinstance(progress.get("best_value"), (int, float)) and isinstance(progress.get("best_metric"), str)):
        return f"'progress' is not a record of {', '.join(counters)}, best_value, best_metric"
    for key in ("optimizers", "scalers", "metrics"):
        if not isinstance(raw.get(key, {}), dict):
            return f"'{key}' is not a dict"
    if raw.get("rng") is not None and not isinstance(raw["rng"], list):
        return "'rng' is not a list of RNG states"
    for key in ("code_version", "flow_provider"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            return f"'{key}' is not text"
    return None


def _config_yaml(text: str, path: Path, which: str) -> Any:
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        line = " ".join((str(exc).splitlines() or [type(exc).__name__])[0].split())
        raise CheckpointError(f"{path}: damaged checkpoint: its {which} config is not readable YAML ({line})") from None


# -- checks --------------------------------------------------------------------------------------------
def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _ignored(key: str, ignore: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in ignore)


def config_differences(
    a: ModelConfig, b: ModelConfig, ignore: tuple[str, ...] = NON_ARCHITECTURE_KEYS
) -> list[tuple[str, Any, Any]]:
    """Dotted keys whose values differ between two resolved model configs: ``(key, a, b)``, sorted."""
    fa, fb = _flatten(a.model_dump(mode="json")), _flatten(b.model_dump(mode="json"))
    keys = sorted(set(fa) | set(fb))
    return [(k, fa.get(k), fb.get(k)) for k in keys if not _ignored(k, ignore) and fa.get(k) != fb.get(k)]


def check_model_config(ckpt: Checkpoint, cfg: ModelConfig) -> None:
    """Raise :class:`CheckpointError` naming the keys where ``cfg`` differs from the checkpoint's model config."""
    diffs = config_differences(ckpt.model_config, cfg)
    if diffs:
        shown = ", ".join(f"{k} (checkpoint {a!r}, config {b!r})" for k, a, b in diffs[:6])
        more = f" and {len(diffs) - 6} more" if len(diffs) > 6 else ""
        raise CheckpointError(
            f"{ckpt.path}: the model config differs from the checkpoint's in {shown}{more}; "
            "use the checkpoint's config (it is stored in the checkpoint) or train a new model"
        )


def check_flow_provider(ckpt: Checkpoint, provider: Optional[str], force: bool = False) -> None:
    """Raise unless ``provider`` (None: not checked) is the flow provider the checkpoint was trained with.

    ``force`` turns the error into nothing (the caller warns): the O-stream then sees flow of another
    character than it learnt from.
    """
    trained = ckpt.flow_provider
    if provider is None or trained is None or provider == trained or force:
        return
    raise CheckpointError(
        f"{ckpt.path}: its flow stream was trained on {trained!r} flow, not {provider!r}; "
        f"use --flow-provider {trained} or pass --force-flow-provider to run it anyway"
    )


def load_model_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load a state dict strictly; missing, unexpected or differently shaped tensors are named (one line)."""
    own = _unwrap(model).state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    problems = []
    if shapes:
        problems.append("shape mismatch in " + ", ".join(f"{k} {tuple(state[k].shape)}→{tuple(own[k].shape)}" for k in shapes[:4]))
    if missing:
        problems.append(f"missing {', '.join(missing[:4])}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:4])}")
    if problems:
        raise CheckpointError(f"{source}: weights do not fit the model: {'; '.join(problems)}")
    _unwrap(model).load_state_dict(state, strict=True)


def model_from_checkpoint(
    ckpt: Union[PathLike, Checkpoint],
    model_config: Optional[ModelConfig] = None,
    flow_provider: Optional[str] = None,
    force_flow_provider: bool = False,
    body: Any = None,
    device: Union[str, torch.device] = "cpu",
) -> tuple[nn.Module, Checkpoint]:
    """Build the checkpoint's network (in eval mode) and load its weights.

    ``model_config``: when given, it must match the checkpoint's (see :func:`check_model_config`);
    default: the checkpoint's own. ``flow_provider``: the provider that will feed the O-stream.
    Backbones are not initialised from pretrained files (the checkpoint overwrites them).
    """
    from .model import build_model

    if not isinstance(ckpt, Checkpoint):
        ckpt = load_checkpoint(ckpt)
    cfg = ckpt.model_config
    if model_config is not None:
        check_model_config(ckpt, model_config)
        cfg = model_config
    check_flow_provider(ckpt, flow_provider, force_flow_provider)
    offline = cfg.model_copy(deep=True)
    offline.streams.rgb.pretrained = "none"
    offline.streams.flow.pretrained = "none"
    model = build_model(offline, body)
    load_model_state(model, ckpt.model_state, str(ckpt.path))
    return model.to(device).eval(), ckpt


# -- release -------------------------------------------------------------------------------------------
from .paths import DEFAULT_CHECKPOINT  # noqa: E402  (re-exported: the embedded default checkpoint)


def release_checkpoint(src: PathLike, dst: PathLike, half: bool = True, model_overrides: Sequence[str] = ()) -> Path:
    """An inference-only copy of ``src``: model weights (float16 when ``half``; integer buffers kept),
    configs, progress, metrics and provenance, without optimizer/discriminator/RNG states. It loads
    with :func:`load_checkpoint` / :func:`model_from_checkpoint` like the original (weights are cast
    back to the model's float32 on load); it cannot be resumed. ``model_overrides`` (``KEY=VALUE``) change
    the stored model config for settings without weights (e.g. ``landmark_fit.enabled=true``); they are
    recorded as ``model_config_overrides``."""
    raw = _read_raw(Path(src))
    out = {k: v for k, v in raw.items() if k not in ("optimizers", "scalers", "rng", "discriminator")}
    if model_overrides:
        data = apply_overrides(_config_yaml(raw["model_config"], Path(src), "model"), model_overrides, source="release")
        out["model_config"] = to_yaml(parse_config(ModelConfig, data, source=f"{src} (model config, released)"))
        out["model_config_overrides"] = list(model_overrides)
    out["model"] = {k: v.half() if half and v.is_floating_point() else v for k, v in raw["model"].items()}
    out.update(optimizers={}, scalers={}, rng=None, discriminator=None, released_from=Path(src).name)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    torch.save(out, tmp)
    tmp.replace(dst)
    return dst
