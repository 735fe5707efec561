"""The PyTorch reference backend: the checkpoint's own model behind the same graph interface.

Used to check the exported graphs and as a fallback where neither TensorRT nor ONNX Runtime is wanted.
It needs the checkpoint the bundle was exported from (the manifest records its SHA-256, which must match).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..manifest import BundleError, GraphSpec, Manifest, file_digest

__all__ = ["TorchGraphs"]


class _TorchGraph:
    backend = "torch"

    def __init__(self, name: str, module, spec: GraphSpec) -> None:
        self.name, self.module, self.spec = name, module, spec

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(inputs[s.name])) for s in self.spec.inputs]
        with torch.inference_mode():
            outs = self.module(*args)
        return {s.name: o.numpy() for s, o in zip(self.spec.outputs, outs)}


class TorchGraphs:
    """``frame_encoder`` and ``temporal_step`` as PyTorch modules, from ``checkpoint``."""

    def __init__(self, manifest: Manifest, checkpoint: Path, threads: int = 0) -> None:
        import torch

        from ..build.onnx_export import FrameEncoderGraph, TemporalStepGraph
        from training.checkpoint import model_from_checkpoint

        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise BundleError(f"the torch backend needs the bundle's checkpoint; {checkpoint} does not exist")
        if file_digest(checkpoint) != manifest.checkpoint_sha256:
            raise BundleError(f"{checkpoint} is not the checkpoint this bundle was exported from (SHA-256 differs)")
        if threads:
            torch.set_num_threads(threads)
        model, _ = model_from_checkpoint(checkpoint)
        model = model.float().eval()
        self.graphs = {
            "frame_encoder": _TorchGraph("frame_encoder", FrameEncoderGraph(model).eval(), manifest.graphs["frame_encoder"]),
            "temporal_step": _TorchGraph("temporal_step", TemporalStepGraph(model).eval(), manifest.graphs["temporal_step"]),
        }
