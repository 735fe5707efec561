"""TensorRT 10 graph runner over pycuda (the live app needs no PyTorch).

At load: the plan's TensorRT version and GPU are checked against this machine (a plan is only valid
where it was built), the engine is deserialised, and for every I/O tensor one device buffer and one
page-locked host buffer are allocated for the largest person batch. Per call: inputs are copied into
the pinned buffers and uploaded once, shapes are set for this batch, ``execute_async_v3`` runs on the
runner's CUDA stream, outputs come back with one async copy each, then one stream synchronise. No
allocation happens after construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..manifest import BundleError, GraphSpec, PlanSpec

__all__ = ["TensorRTGraph", "check_plan_compatible"]


def check_plan_compatible(plan: PlanSpec, where: Path) -> None:
    """BundleError when ``plan`` was built with another TensorRT version or for another GPU."""
    import tensorrt as trt

    from ..gpu import gpu_identity

    name, capability = gpu_identity()
    if plan.tensorrt != trt.__version__:
        raise BundleError(
            f"{where}: built with TensorRT {plan.tensorrt}, this machine has {trt.__version__}; "
            "rebuild the plans here with tools/build_engine.py"
        )
    if (plan.gpu, plan.compute_capability) != (name, capability):
        raise BundleError(
            f"{where}: built for {plan.gpu} (sm {plan.compute_capability}), this GPU is {name} (sm {capability}); "
            "rebuild the plans here with tools/build_engine.py"
        )


class TensorRTGraph:
    """``run({name: array}) → {name: array}`` for one TensorRT plan, batch ``1 … plan.max_batch``."""

    backend = "tensorrt"

    def __init__(self, plan_path: Path, plan: PlanSpec, graph: GraphSpec, device: int = 0) -> None:
        import pycuda.driver as cuda
        import tensorrt as trt

        check_plan_compatible(plan, plan_path)
        cuda.init()
        self._cuda = cuda
        self._context_cuda = cuda.Device(device).retain_primary_context()
        self._context_cuda.push()
        try:
            self.name = graph.name
            self.graph = graph
            self.max_batch = plan.max_batch
            self._logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(self._logger)
            self.engine = self._runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
            if self.engine is None:
                raise BundleError(f"{plan_path}: TensorRT could not deserialise this plan; rebuild it with tools/build_engine.py")
            self.context = self.engine.create_execution_context()
            self.stream = cuda.Stream()
            self.host: dict[str, np.ndarray] = {}
            self.device_buffers: dict[str, object] = {}
            for spec in [*graph.inputs, *graph.outputs]:
                dtype = trt.nptype(self.engine.get_tensor_dtype(spec.name))
                host = cuda.pagelocked_empty(spec.concrete_shape(self.max_batch), dtype)
                self.host[spec.name] = host
                self.device_buffers[spec.name] = cuda.mem_alloc(max(host.nbytes, 1))
                self.context.set_tensor_address(spec.name, int(self.device_buffers[spec.name]))
        finally:
            self._context_cuda.pop()

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        cuda = self._cuda
        first = next(s for s in self.graph.inputs if s.batch_axis is not None)
        batch = int(inputs[first.name].shape[first.batch_axis])
        if not 1 <= batch <= self.max_batch:
            raise ValueError(f"{self.name}: batch {batch} is outside this plan's 1…{self.max_batch}; rebuild with --max-persons")
        self._context_cuda.push()
        try:
            for spec in self.graph.inputs:
                shape = spec.concrete_shape(batch)
                view = self._view(spec.name, shape)
                np.copyto(view, inputs[spec.name], casting="same_kind")
                cuda.memcpy_htod_async(self.device_buffers[spec.name], view, self.stream)
                self.context.set_input_shape(spec.name, shape)
            if not self.context.execute_async_v3(self.stream.handle):
                raise RuntimeError(f"{self.name}: TensorRT execution failed")
            out = {}
            for spec in self.graph.outputs:
                view = self._view(spec.name, spec.concrete_shape(batch))
                cuda.memcpy_dtoh_async(view, self.device_buffers[spec.name], self.stream)
                out[spec.name] = view
            self.stream.synchronize()
            return {k: v.copy() for k, v in out.items()}
        finally:
            self._context_cuda.pop()

    def _view(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The first ``prod(shape)`` elements of the pinned buffer, shaped (contiguous, as TensorRT reads them)."""
        host = self.host[name]
        return host.reshape(-1)[: int(np.prod(shape))].reshape(shape)
