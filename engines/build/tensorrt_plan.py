"""ONNX → TensorRT plan, with NVIDIA's TensorRT 10 Python API (no torch).

One :func:`build_plan` per graph: the ONNX parser fills a network, the builder config gets the FP16
flag (``precision="fp16"``), one optimization profile over the person batch ``1 … max_batch`` (the
other dims are fixed by the ONNX file), and a timing cache that is read from and written back to a
file, so a second build on the same GPU skips most kernel timing. A progress monitor reports the
builder's phases. The plan is valid only for this GPU and TensorRT version; :func:`plan_spec`
records both, and the runtime refuses a mismatch.

Needs ``tensorrt`` and a CUDA GPU: :func:`engines.gpu.tensorrt_unavailable` says in one line why a plan cannot be
built here (the build tool then writes the ONNX bundle alone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from ..gpu import gpu_identity
from ..manifest import GraphSpec, PlanSpec

__all__ = ["PlanBuildError", "build_plan"]

WORKSPACE_BYTES = 2 << 30


class PlanBuildError(RuntimeError):
    """TensorRT could not parse or build a graph; the message carries the parser's/builder's reason."""


def _progress_monitor(report: Callable[[str], None]):
    import tensorrt as trt

    class Monitor(trt.IProgressMonitor):
        """Forwards the builder's phases to ``report`` (called from TensorRT's threads)."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: Optional[str], num_steps: int) -> None:
            self.steps[phase_name] = num_steps
            report(f"{'  ' if parent_phase else ''}{phase_name}: 0/{num_steps}")

        def step_complete(self, phase_name: str, step: int) -> bool:
            report(f"{phase_name}: {step + 1}/{self.steps.get(phase_name, '?')}")
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            report(f"{phase_name}: done")

    return Monitor()


def build_plan(
    onnx_path: Path,
    plan_path: Path,
    graph: GraphSpec,
    max_batch: int,
    precision: str = "fp16",
    timing_cache: Optional[Path] = None,
    report: Callable[[str], None] = lambda msg: None,
) -> PlanSpec:
    """Build ``plan_path`` from ``onnx_path`` for person batches ``1 … max_batch``. Returns its :class:`PlanSpec`."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise PlanBuildError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        if not builder.platform_has_fast_fp16:
            report("this GPU has no fast FP16; building anyway (TensorRT falls back per layer)")
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision != "fp32":
        raise ValueError(f"precision must be fp16 or fp32, got {precision!r}")
    profile = builder.create_optimization_profile()
    for spec in graph.inputs:
        if spec.batch_axis is None:
            continue
        opt_batch = min(max_batch, 2)
        profile.set_shape(spec.name, spec.concrete_shape(1), spec.concrete_shape(opt_batch), spec.concrete_shape(max_batch))
    config.add_optimization_profile(profile)
    cache_bytes = timing_cache.read_bytes() if timing_cache is not None and timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    monitor = _progress_monitor(report)
    config.progress_monitor = monitor
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise PlanBuildError(f"{onnx_path}: TensorRT could not build a plan (see the log above)")
    plan_path.write_bytes(bytes(serialized))
    if timing_cache is not None:
        timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    name, capability = gpu_identity()
    return PlanSpec(graph.name, plan_path.name, precision, trt.__version__, name, capability, max_batch)
