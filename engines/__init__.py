"""Engines: checkpoints → runnable graphs (ONNX, TensorRT FP16) and one interface to run them.

Running (no torch is imported)::

    from engines import EngineSession
    session = EngineSession("out/engine", backend="auto")   # tensorrt | onnxruntime | torch | auto

Building (imports torch and ``training``, lazily): :func:`engines.export.export_bundle` and
:func:`engines.tensorrt_build.build_plan`, driven by ``tools/build_engine.py``.
"""

from .manifest import BundleError, GraphSpec, Manifest, TensorSpec, read_manifest
from .session import BACKENDS, PRECISIONS, EngineSession, PersonSlots, choose_backend, normalise_rgb

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "BundleError",
    "EngineSession",
    "GraphSpec",
    "Manifest",
    "PersonSlots",
    "TensorSpec",
    "choose_backend",
    "normalise_rgb",
    "read_manifest",
]
