"""One interface over TensorRT, ONNX Runtime and PyTorch: load a bundle, run a frame of tracked people.

::

    session = EngineSession("engines/lite", backend="auto")   # logs which backend it picked
    out = session.process(track_ids, rgb, flow, keypoints)     # per-person Θ, vertices, joints …
    session.release(lost_id)                                    # a track ended: its slot is free again

Each tracked person owns one slot of the state: the per-layer key/value ring buffers and the write
position, allocated (zeroed) when the track first appears, reset when the tracker says it was lost
and found again, and freed when it ends. A frame's people are gathered from their slots into one
``temporal_step`` batch and scattered back, so the graph always sees a dense batch ``1 … N``.

No torch here: the live app imports this module.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from training.preprocessing import imagenet_normalise

from .backends.base import GraphRunner, LatencyLog
from .manifest import BundleError, GraphSpec, Manifest, TensorSpec, read_manifest

__all__ = ["BACKENDS", "PRECISIONS", "EngineSession", "PersonSlots", "choose_backend", "normalise_rgb"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
#: ONNX Runtime precision: ``auto`` runs a bundle's INT8 graphs (``tools/build_engine.py --int8``) when ONNX
#: Runtime is on the CPU and fp32 otherwise; ``fp32`` never; ``int8`` insists (on the CPU provider).
PRECISIONS = ("auto", "fp32", "int8")
PathLike = Union[str, Path]


def normalise_rgb(crops: np.ndarray, manifest: Manifest) -> np.ndarray:
    """uint8 RGB crops ``(B, S, S, 3)`` → the ``rgb`` input ``(B, 3, S, S)`` float32, normalised as the manifest says."""
    return imagenet_normalise(crops, manifest.rgb_mean, manifest.rgb_std)


def choose_backend(requested: str, manifest: Manifest) -> tuple[str, str]:
    """(backend, device) for ``requested`` (one of :data:`BACKENDS`); ``auto`` prefers TensorRT (when the
    bundle has plans and TensorRT + a GPU are here), then ONNX Runtime on CUDA, then ONNX Runtime on CPU."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    from .backends.onnxruntime_backend import cuda_available
    from .gpu import tensorrt_unavailable

    if requested == "tensorrt":
        why = tensorrt_unavailable()
        if why:
            raise BundleError(f"backend tensorrt: {why}; use backend=onnxruntime")
        if not manifest.plans:
            raise BundleError("backend tensorrt: this bundle has no TensorRT plans; build them with tools/build_engine.py on this GPU")
        return "tensorrt", "cuda"
    if requested == "torch":
        return "torch", "cpu"
    if requested == "auto" and manifest.plans and tensorrt_unavailable() is None:
        return "tensorrt", "cuda"
    return "onnxruntime", "cuda" if cuda_available() else "cpu"


class PersonSlots:
    """The streaming state of up to ``capacity`` people, one slot each (see the module docstring)."""

    def __init__(self, graph: GraphSpec, capacity: int) -> None:
        self.capacity = capacity
        self.specs: list[TensorSpec] = [s for s in graph.inputs if not s.name.startswith("feat_")]
        self.state = {s.name: np.zeros(s.concrete_shape(capacity), _np_dtype(s.dtype)) for s in self.specs}
        self.slot_of: dict[int, int] = {}

    @property
    def tracks(self) -> list[int]:
        return list(self.slot_of)

    def slots(self, track_ids: Sequence[int]) -> np.ndarray:
        """Slots of ``track_ids``, allocating (zeroed) slots for new tracks."""
        out = []
        for tid in track_ids:
            slot = self.slot_of.get(int(tid))
            if slot is None:
                free = sorted(set(range(self.capacity)) - set(self.slot_of.values()))
                if not free:
                    raise RuntimeError(
                        f"more than {self.capacity} people at once; rebuild the bundle with a larger --max-persons "
                        "or lower the tracker's max_persons"
                    )
                slot = free[0]
                self.slot_of[int(tid)] = slot
                self._zero(slot)
            out.append(slot)
        return np.asarray(out, np.int64)

    def reset(self, track_id: int) -> None:
        """Forget a person's past (a lost-and-found track starts a new window)."""
        if int(track_id) in self.slot_of:
            self._zero(self.slot_of[int(track_id)])

    def release(self, track_id: int) -> None:
        """Free a person's slot (its track ended)."""
        self.slot_of.pop(int(track_id), None)

    def gather(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        return {s.name: np.take(self.state[s.name], slots, axis=s.batch_axis) for s in self.specs}

    def scatter(self, slots: np.ndarray, new: Mapping[str, np.ndarray]) -> None:
        for s in self.specs:
            index = [slice(None)] * self.state[s.name].ndim
            index[s.batch_axis] = slots
            self.state[s.name][tuple(index)] = new[s.name]

    def _zero(self, slot: int) -> None:
        for s in self.specs:
            index = [slice(None)] * self.state[s.name].ndim
            index[s.batch_axis] = slot
            self.state[s.name][tuple(index)] = 0


def _np_dtype(name: str) -> np.dtype:
    return np.dtype({"float": "float32", "long": "int64"}.get(name, name))


class EngineSession:
    """A loaded bundle on one backend, with per-person state and per-graph latency (``latency.summary()``)."""

    def __init__(
        self,
        bundle: PathLike,
        backend: str = "auto",
        intra_op_threads: int = 0,
        checkpoint: Optional[PathLike] = None,
        expected_model_config: Optional[dict] = None,
        spin: bool = True,
        precision: str = "auto",
    ) -> None:
        """``spin=False``: ONNX Runtime's idle threads sleep rather than spin-wait (share the CPU with other threads).
        ``precision``: one of :data:`PRECISIONS`; :attr:`precision` says what each graph runs at."""
        self.folder = Path(bundle)
        self.manifest = read_manifest(self.folder)
        if expected_model_config is not None:
            self.manifest.check_model_config(expected_model_config)
        self.manifest.verify_files(self.folder)
        self.backend, self.device = choose_backend(backend, self.manifest)
        self._spin = spin
        self.precision = self._precision(precision)
        self.graphs: dict[str, GraphRunner] = self._load(intra_op_threads, checkpoint)
        logger.info("engine bundle %s: %s on %s (%s)", self.folder, self.backend, self.device, self.precision_label)
        step = self.manifest.graphs["temporal_step"]
        self.slots = PersonSlots(step, self.manifest.max_persons)
        self._state_out = {s.name: f"next_{s.name}" for s in self.slots.specs}
        self.latency = LatencyLog()

    def _precision(self, requested: str) -> dict[str, str]:
        """Each graph's precision: ``int8`` where its INT8 copy will run, else what the backend runs."""
        if requested not in PRECISIONS:
            raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
        m = self.manifest
        native = {"tensorrt": next((p.precision for p in m.plans.values()), "fp16")}.get(self.backend, "fp32")
        if requested == "int8":
            if self.backend != "onnxruntime":
                raise BundleError(f"precision int8 runs INT8 graphs on ONNX Runtime, not {self.backend}; "
                                  "use backend=onnxruntime or precision=auto")
            if not m.quantized:
                raise BundleError(f"{self.folder}: no INT8 graphs in this bundle; build them with "
                                  "tools/build_engine.py CHECKPOINT --out DIR --int8, or use precision=auto")
        use_int8 = requested == "int8" or (requested == "auto" and self.backend == "onnxruntime" and self.device == "cpu")
        return {g: "int8" if use_int8 and g in m.quantized else native for g in m.graphs}

    @property
    def precision_label(self) -> str:
        """``fp32``, or per graph where they differ (``frame_encoder int8, temporal_step fp32``)."""
        kinds = set(self.precision.values())
        return kinds.pop() if len(kinds) == 1 else ", ".join(f"{g} {p}" for g, p in self.precision.items())

    def _load(self, threads: int, checkpoint: Optional[PathLike]) -> dict[str, GraphRunner]:
        m = self.manifest
        if self.backend == "torch":
            from .backends.torch_backend import TorchGraphs

            # a relative checkpoint path (the shipped bundle's) is relative to the bundle folder
            return TorchGraphs(m, Path(checkpoint) if checkpoint else self.folder / m.checkpoint_path, threads).graphs
        if self.backend == "tensorrt":
            from .backends.tensorrt_backend import TensorRTGraph

            missing = [g for g in m.graphs if g not in m.plans]
            if missing:
                raise BundleError(f"{self.folder}: no TensorRT plan for {', '.join(missing)}; rebuild with tools/build_engine.py")
            self.manifest.verify_files(self.folder, [p.file for p in m.plans.values()])
            return {g: TensorRTGraph(self.folder / m.plans[g].file, m.plans[g], spec) for g, spec in m.graphs.items()}
        from .backends.onnxruntime_backend import OnnxRuntimeGraph

        int8 = {g: m.quantized[g].file for g, p in self.precision.items() if p == "int8"}
        return {  # INT8 graphs on the CPU provider (their QDQ form is made for its integer kernels)
            g: OnnxRuntimeGraph(self.folder / int8.get(g, spec.file), g, "cpu" if g in int8 else self.device, threads,
                                output_names=[o.name for o in spec.outputs], spin=self._spin)
            for g, spec in m.graphs.items()
        }

    # -- graphs ---------------------------------------------------------------------------------------
    @property
    def streams(self) -> list[str]:
        return list(self.manifest.streams)

    def encode(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``frame_encoder``: ``{"rgb", "flow", "keypoints"}`` (the enabled streams, batch = persons) → ``feat_*``."""
        missing = [s for s in self.streams if s not in inputs]
        if missing:
            raise ValueError(f"frame_encoder needs {', '.join(missing)} (this bundle's streams: {', '.join(self.streams)})")
        return self.latency.timed(self.graphs["frame_encoder"], {s: inputs[s] for s in self.streams})

    def flow(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The bundle's learned ``flow`` graph on two crops (only bundles trained on the learned flow have one)."""
        if "flow" not in self.graphs:
            raise BundleError(f"{self.folder}: no flow graph (its O-stream uses {self.manifest.flow_provider!r} flow)")
        spec = self.manifest.graphs["flow"]
        out = self.latency.timed(self.graphs["flow"], dict(zip([i.name for i in spec.inputs], (previous, current))))
        return out[spec.outputs[0].name]

    def step(self, track_ids: Sequence[int], features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``temporal_step`` for these people (their slots' state in, updated state back). Returns the outputs
        ``theta, rotmat, betas, cam, vertices, joints3d, joints2d`` with batch = ``len(track_ids)``."""
        slots = self.slots.slots(track_ids)
        feeds = {k: v for k, v in features.items() if k.startswith("feat_")}
        feeds.update(self.slots.gather(slots))
        out = self.latency.timed(self.graphs["temporal_step"], feeds)
        self.slots.scatter(slots, {name: out[nxt] for name, nxt in self._state_out.items()})
        return {k: v for k, v in out.items() if not k.startswith("next_")}

    def process(self, track_ids: Sequence[int], inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One frame for these people: ``encode`` then ``step``."""
        return self.step(track_ids, self.encode(inputs))

    def reset(self, track_id: int) -> None:
        self.slots.reset(track_id)

    def release(self, track_id: int) -> None:
        self.slots.release(track_id)

    @property
    def faces(self) -> np.ndarray:
        return np.load(self.folder / "faces.npy")
