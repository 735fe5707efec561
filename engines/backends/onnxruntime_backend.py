"""ONNX Runtime graph runner: CUDA execution provider when the installed build has it, else CPU.

Inputs are bound with I/O binding (``bind_cpu_input``) and outputs fetched once per call, so one call
is one ``run_with_iobinding``. Thread counts come from the live config (``intra_op_threads``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

__all__ = ["OnnxRuntimeGraph", "available_providers", "cuda_available"]


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def cuda_available() -> bool:
    """Whether ONNX Runtime can run on a GPU here (the CUDA provider is built in; a GPU may still be absent)."""
    try:
        return "CUDAExecutionProvider" in available_providers()
    except ImportError:
        return False


class OnnxRuntimeGraph:
    """``run({name: array}) → {name: array}`` for one ONNX file."""

    backend = "onnxruntime"

    def __init__(
        self,
        path: Path,
        name: Optional[str] = None,
        device: str = "cpu",
        intra_op_threads: int = 0,
        inter_op_threads: int = 1,
        output_names: Optional[Sequence[str]] = None,
        spin: bool = True,
    ) -> None:
        import onnxruntime as ort

        self.name = name or Path(path).stem
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = inter_op_threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if not spin:  # idle worker threads sleep instead of spinning: the CPU goes to the pipeline's other stages
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RuntimeError(f"{path}: ONNX Runtime cannot load this graph ({first}); rebuild the bundle") from None
        self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = list(output_names or [o.name for o in self.session.get_outputs()])

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        binding = self.session.io_binding()
        for name in self.input_names:
            binding.bind_cpu_input(name, np.ascontiguousarray(inputs[name]))
        for name in self.output_names:
            binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu()))
