"""Engines: checkpoints → runnable graphs (ONNX, TensorRT FP16) and one interface to run them.

Running (no torch is imported)::

    from engines import EngineSession
    session = EngineSession("out/engine", backend="auto")   # tensorrt | onnxruntime | torch | auto

Running is this package's top level and ``engines.backends`` (the torch backend aside, which runs a
checkpoint itself); it imports nothing from ``engines.build``. Building (torch and ``training``):
``engines.build`` — :func:`engines.build.onnx_export.export_bundle`, :func:`engines.build.quantize.quantize_graph`
and :func:`engines.build.tensorrt_plan.build_plan`, driven by ``tools/build_engine.py``. The embedded default
bundle (``engines.defaults``) is re-exported from the checkpoint only when it is missing or stale.
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
