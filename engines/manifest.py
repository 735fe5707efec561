"""The engine bundle's manifest: what a folder of graphs is, and the checks that refuse a bad one.

A bundle (DESIGN.md §5) is a folder::

    manifest.json          this file's :class:`Manifest`
    frame_encoder.onnx     crops, flow, keypoints → per-stream features (batch = persons)
    temporal_step.onnx     features + ring buffers + positions → Θ, β, camera, vertices, joints, new buffers
    flow.onnx              two crops → flow (only when the O-stream was trained on the learned flow)
    faces.npy              (F, 3) int32 triangles of the body model, for rendering
    *.plan                 TensorRT engines built from the ONNX files (optional, per GPU)
    *.int8.onnx            INT8 graphs for ONNX Runtime on the CPU (optional, tools/build_engine.py --int8)

Every file is listed with its size and SHA-256, so a truncated or swapped file is refused before a
runtime touches it. Pure Python + numpy: the live app reads manifests without torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "FileEntry",
    "GraphSpec",
    "Manifest",
    "PlanSpec",
    "QuantSpec",
    "TensorSpec",
    "file_digest",
    "read_manifest",
    "write_manifest",
]

#: ``format`` / ``version`` of manifest.json; a reader refuses other values.
BUNDLE_FORMAT = "dtsvibe-engine-bundle"
BUNDLE_VERSION = 1
MANIFEST_NAME = "manifest.json"

PathLike = Union[str, Path]


class BundleError(ValueError):
    """An engine bundle that cannot be used; the message names the file and what to do."""


def file_digest(path: PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class TensorSpec:
    """One graph input or output. ``shape`` entries are ints or the name of a dynamic axis (``"batch"``).

    ``batch_axis``: which axis indexes persons (state buffers keep persons on axis 1), or None."""

    name: str
    dtype: str
    shape: list[Union[int, str]]
    batch_axis: Optional[int] = 0

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if isinstance(d, str) else int(d) for d in self.shape)


@dataclass
class GraphSpec:
    """One ONNX graph of the bundle and its interface."""

    name: str
    file: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def input(self, name: str) -> TensorSpec:
        return next(t for t in self.inputs if t.name == name)

    def output(self, name: str) -> TensorSpec:
        return next(t for t in self.outputs if t.name == name)


@dataclass
class PlanSpec:
    """A TensorRT engine built from ``graph``'s ONNX file, valid only on this GPU and TensorRT version."""

    graph: str
    file: str
    precision: str
    tensorrt: str
    gpu: str
    compute_capability: str
    max_batch: int


@dataclass
class QuantSpec:
    """An INT8 copy of ``graph`` for ONNX Runtime on the CPU (``engines.build.quantize``): which of its streams run
    in INT8 (the others stay fp32 inside it), and how close it came to the fp32 graph on held-out inputs —
    the lowest and mean cosine similarity of each output, per person."""

    graph: str
    file: str
    scheme: str
    streams: list[str]
    calibration: str
    samples: int
    holdout: int
    cosine_min: dict[str, float]
    cosine_mean: dict[str, float]
    onnxruntime: str


@dataclass
class FileEntry:
    size: int
    sha256: str


@dataclass
class Manifest:
    """What a bundle holds (see the module docstring). ``model_config`` is the resolved model config as a
    dict (``ModelConfig.model_dump()``), so a runtime knows crop size, streams and window without torch."""

    model_name: str
    model_config: dict[str, Any]
    checkpoint_sha256: str
    flow_provider: Optional[str]
    crop_size: int
    window: int
    max_persons: int
    streams: list[str]
    rgb_mean: list[float]
    rgb_std: list[float]
    graphs: dict[str, GraphSpec]
    files: dict[str, FileEntry]
    versions: dict[str, str]
    opset: int
    plans: dict[str, PlanSpec] = field(default_factory=dict)
    quantized: dict[str, QuantSpec] = field(default_factory=dict)
    #: The checkpoint's path at export time (the torch backend reloads it; its SHA-256 must match).
    checkpoint_path: str = ""
    joint_set: str = "spin49"
    format: str = BUNDLE_FORMAT
    version: int = BUNDLE_VERSION

    @property
    def rgb_input(self) -> str:
        """What the ``rgb`` input holds: ``"blazepose"`` (BlazePose's outputs ``(B, 33, 9)``, see
        ``training.blazepose_input``) when the V-CNN is BlazePose, else ``"crops"`` ``(B, 3, S, S)``."""
        rgb = self.model_config.get("streams", {}).get("rgb", {})
        return "blazepose" if rgb.get("backbone") == "blazepose" else "crops"

    # -- (de)serialisation ----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = MANIFEST_NAME) -> "Manifest":
        if data.get("format") != BUNDLE_FORMAT or data.get("version") != BUNDLE_VERSION:
            raise BundleError(
                f"{where}: not a version-{BUNDLE_VERSION} {BUNDLE_FORMAT} manifest "
                f"(format {data.get('format')!r}, version {data.get('version')!r}); rebuild with tools/build_engine.py"
            )
        try:
            return _conform(data, cls, "")
        except _Mismatch as exc:
            raise BundleError(f"{where}: damaged manifest ({exc}); rebuild with tools/build_engine.py") from None

    # -- checks ------------------------------------------------------------------------------------------
    def verify_files(self, folder: PathLike, names: Optional[list[str]] = None) -> None:
        """Every listed file (or ``names``) exists with the recorded size and SHA-256; BundleError otherwise."""
        folder = Path(folder)
        for name in names if names is not None else list(self.files):
            entry = self.files.get(name)
            if entry is None:
                raise BundleError(f"{folder / name}: not listed in {MANIFEST_NAME}; rebuild the bundle with tools/build_engine.py")
            path = folder / name
            if not path.is_file():
                raise BundleError(f"{path}: missing from the bundle; rebuild it with tools/build_engine.py")
            size = path.stat().st_size
            if size != entry.size:
                raise BundleError(
                    f"{path}: {size} bytes, the manifest says {entry.size} (truncated or replaced); rebuild with tools/build_engine.py"
                )
            if file_digest(path) != entry.sha256:
                raise BundleError(f"{path}: contents do not match the manifest's SHA-256; rebuild with tools/build_engine.py")

    def check_model_config(self, expected: dict[str, Any], label: str = "the expected model config") -> None:
        """BundleError naming the keys where this bundle's model config differs from ``expected``."""
        diffs = _dict_diff(self.model_config, expected)
        if diffs:
            shown = ", ".join(diffs[:6]) + (" …" if len(diffs) > 6 else "")
            raise BundleError(
                f"engine bundle was built for model {self.model_name!r}, which differs from {label} at {shown}; "
                "rebuild it from the matching checkpoint with tools/build_engine.py"
            )


class _Mismatch(Exception):
    """A manifest value that does not have its field's type (the message names the key)."""


def _key(prefix: str, name: Any) -> str:
    part = str(name) if str(name).isprintable() else repr(str(name))
    return f"{prefix}.{part}" if prefix else part


def _conform(value: Any, hint: Any, key: str) -> Any:
    """Parsed JSON ``value`` as the annotation ``hint`` says, dataclasses built; :class:`_Mismatch` otherwise.

    A manifest that reads is then one the runtimes can use without type surprises (``crop_size`` an int,
    every tensor shape a list of ints and axis names, ...)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    where = key or "the top level"
    if hint is Any:
        return value
    if origin is Union:
        for option in args:
            try:
                return _conform(value, option, key)
            except _Mismatch:
                pass
        names = " or ".join("null" if a is type(None) else getattr(typing.get_origin(a) or a, "__name__", str(a)) for a in args)
        raise _Mismatch(f"{where}: expected {names}, got {type(value).__name__}")
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch(f"{where}: expected null, got {type(value).__name__}")
    if origin is list:
        if not isinstance(value, list):
            raise _Mismatch(f"{where}: expected a list, got {type(value).__name__}")
        return [_conform(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch(f"{where}: expected an object, got {type(value).__name__}")
        return {k: _conform(v, args[1], _key(key, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _Mismatch(f"{where}: expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(hint)
        unknown = [k for k in value if k not in hints]
        if unknown:
            raise _Mismatch(f"{_key(key, unknown[0])}: unknown key")
        missing = [f.name for f in dataclasses.fields(hint)
                   if f.name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise _Mismatch(f"{_key(key, missing[0])}: missing")
        return hint(**{k: _conform(v, hints[k], _key(key, k)) for k, v in value.items()})
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise _Mismatch(f"{where}: expected {getattr(hint, '__name__', hint)}, got {type(value).__name__}")


def _dict_diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where nested dicts ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            key = _key(prefix, k)
            if k not in a or k not in b:
                out.append(key)
            else:
                out.extend(_dict_diff(a[k], b[k], key))
        return out
    return [] if a == b else [prefix or "<root>"]


def write_manifest(folder: PathLike, manifest: Manifest) -> Path:
    path = Path(folder) / MANIFEST_NAME
    path.write_text(manifest.to_json() + "\n")
    return path


def read_manifest(folder: PathLike) -> Manifest:
    """The manifest of bundle ``folder`` (not yet checked against its files; see :meth:`Manifest.verify_files`)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise BundleError(f"{folder}: no such engine bundle folder; build one with tools/build_engine.py CHECKPOINT --out {folder}")
    if not path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST_NAME}, not an engine bundle; build one with tools/build_engine.py")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, not UTF-8, integers of thousands of digits
        problem = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise BundleError(f"{path}: unreadable manifest ({problem}); rebuild with tools/build_engine.py") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: damaged manifest (not a JSON object); rebuild with tools/build_engine.py")
    return Manifest.from_dict(data, str(path))
