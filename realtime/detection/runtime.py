"""Finding the pose models that the mediapipe wheel ships and running them with LiteRT or ONNX Runtime.

Nothing is downloaded: the models come from the installed ``mediapipe`` package
(``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``). The TFLite runtime is LiteRT
(``pip install ai-edge-litert``, Google's standalone TFLite interpreter); ``tflite_runtime`` or a full
TensorFlow work too when one of them is installed instead. The landmark model also ships converted to
ONNX (``assets/pose_landmark_full.onnx``, built by ``tools/convert_blazepose.py``) for ONNX Runtime
and TensorRT; :func:`choose_landmark_runtime` picks between the two.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Generic, Optional, Sequence, TypeVar

import numpy as np

DETECTOR_MODEL = "modules/pose_detection/pose_detection.tflite"
LANDMARK_MODEL = "modules/pose_landmark/pose_landmark_full.tflite"
#: ``pose_landmark_full.tflite`` converted to ONNX by ``tools/convert_blazepose.py`` (same outputs, same order).
LANDMARK_ONNX = Path(__file__).resolve().parent / "assets" / "pose_landmark_full.onnx"
#: The landmark network's last feature map (288 × 2 × 2, after the final ReLU6), from which its heads compute the
#: landmarks, the world landmarks and the pose score: :func:`landmark_onnx_with_embedding` makes it an output.
EMBEDDING_TENSOR = "Relu6__179:0"
EMBEDDING_SIZE = 288 * 2 * 2
#: What runs the landmark model: the faster one here (``auto``), or either by name.
LANDMARK_RUNTIMES = ("auto", "litert", "onnxruntime")
#: The faster landmark runtime on a CPU, measured by ``tools/convert_blazepose.py`` on the 2-core development
#: machine (docs/bench/blazepose_onnx.md); ``auto`` takes ONNX Runtime wherever it has a GPU.
CPU_LANDMARK_RUNTIME = "litert"


class DetectionSetupError(RuntimeError):
    """The pose models or the TFLite runtime are missing; the message says what to install."""


def mediapipe_model(relative: str) -> Path:
    """Absolute path of a model file inside the installed mediapipe package (without importing it)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise DetectionSetupError(
            "mediapipe is not installed: pip install 'mediapipe==0.10.21' (it ships the pose models)"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / relative
        if path.is_file():
            return path
    raise DetectionSetupError(
        f"mediapipe has no {relative}; install mediapipe 0.10.21, the last release that ships the pose models"
    )


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf  # type: ignore[import-not-found]

        return tf.lite.Interpreter
    except ImportError:
        raise DetectionSetupError(
            "no TFLite runtime found for the pose models: pip install ai-edge-litert"
        ) from None


@contextmanager
def _quiet_native_info():
    """Hide what the TFLite runtime's C++ code writes to stderr while an interpreter is made: one
    ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` line per model, on every run, which no
    setting of the runtime turns off. Only file descriptor 2 is redirected, only for those milliseconds
    (models are made while the pipeline is assembled, before its threads start); errors still raise."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class TFLiteModel:
    """One TFLite graph with a single image input: ``model(x)`` → list of output arrays.

    Args:
        path: the ``.tflite`` file.
        num_threads: CPU threads for the interpreter (XNNPACK); None = the runtime's default.
    """

    def __init__(self, path: str | Path, num_threads: Optional[int] = 1):
        interpreter_cls = _interpreter_class()
        kwargs = {"model_path": str(path)}
        if num_threads:
            kwargs["num_threads"] = int(num_threads)
        self.path = Path(path)
        with _quiet_native_info():
            self._it = interpreter_cls(**kwargs)
            self._it.allocate_tensors()
        inp = self._it.get_input_details()[0]
        self.input_index = inp["index"]
        self.input_shape = tuple(int(s) for s in inp["shape"])  # (1, H, W, 3)
        self._outputs = [o["index"] for o in self._it.get_output_details()]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, np.float32).reshape(self.input_shape)
        self._it.set_tensor(self.input_index, x)
        self._it.invoke()
        return [self._it.get_tensor(i) for i in self._outputs]


T = TypeVar("T")
R = TypeVar("R")
I = TypeVar("I")


class SideBySide(Generic[T]):
    """BlazePose passes side by side: :meth:`map` runs ``fn(model, item)`` over the items on up to ``workers``
    threads, each pass on a model of its own (one interpreter must not serve two threads; LiteRT and ONNX Runtime
    let go of Python's lock while they compute, so two passes take about the time of one on two free cores). The
    results come back in the items' order and are the ones ``first`` gives one item after another. The other
    models are made by ``clone()`` on first use; without ``clone`` (or with ``workers`` 1) everything runs on
    ``first``, in the caller's thread."""

    def __init__(self, first: T, clone: Optional[Callable[[], T]], workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"BlazePose workers must be ≥ 1, got {workers}")
        self.first, self.clone = first, clone
        self.workers = workers if clone is not None else 1
        self._idle: "queue.SimpleQueue[T]" = queue.SimpleQueue()
        self.made = 1  # models made so far
        self._executor: Optional[ThreadPoolExecutor] = None

    def map(self, fn: Callable[[T, I], R], items: Sequence[I]) -> list[R]:
        if self.workers == 1 or len(items) < 2:
            return [fn(self.first, item) for item in items]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="blazepose")
            self._idle.put(self.first)
        while self.made < min(self.workers, len(items)):
            self._idle.put(self.clone())
            self.made += 1

        def run(item: I) -> R:
            model = self._idle.get()
            try:
                return fn(model, item)
            finally:
                self._idle.put(model)

        return list(self._executor.map(run, items))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def missing_landmark_onnx(path: Optional[str | Path] = None) -> Optional[str]:
    """One line saying that the landmark model's ONNX file (default :data:`LANDMARK_ONNX`) is missing and
    what builds it; None when it is there."""
    path = Path(path or LANDMARK_ONNX)
    if path.is_file():
        return None
    return f"{path} is missing: build it with python tools/convert_blazepose.py"


def landmark_onnx_with_embedding(dest: str | Path, source: Optional[str | Path] = None) -> Path:
    """Write a copy of the landmark ONNX (``source``, default :data:`LANDMARK_ONNX`) at ``dest`` with one more
    output, ``embedding``: the network's last feature map (:data:`EMBEDDING_TENSOR`, :data:`EMBEDDING_SIZE`
    values) — an experiment's input (``tools/make_synthetic.py --blazepose-embedding``), not the live app's."""
    import onnx

    problem = missing_landmark_onnx(source)
    if problem:
        raise DetectionSetupError(problem)
    model = onnx.load(str(source or LANDMARK_ONNX))
    if not any(EMBEDDING_TENSOR in n.output for n in model.graph.node):
        raise DetectionSetupError(f"{source or LANDMARK_ONNX} has no tensor {EMBEDDING_TENSOR}: rebuild it with python tools/convert_blazepose.py")
    model.graph.node.append(onnx.helper.make_node("Identity", [EMBEDDING_TENSOR], ["embedding"]))
    model.graph.output.append(onnx.helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, 288, 2, 2]))
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dest))
    return dest


def choose_landmark_runtime(runtime: str = "auto", onnx_path: Optional[str | Path] = None) -> str:
    """``litert`` or ``onnxruntime`` for ``runtime``; ``auto`` = ONNX Runtime when it has a GPU (CUDA provider),
    else :data:`CPU_LANDMARK_RUNTIME`, falling back to LiteRT when the ONNX file (``onnx_path``) is missing."""
    if runtime not in LANDMARK_RUNTIMES:
        raise ValueError(f"landmark runtime must be one of {', '.join(LANDMARK_RUNTIMES)}, got {runtime!r}")
    if runtime != "auto":
        return runtime
    if missing_landmark_onnx(onnx_path):
        return "litert"
    from engines.backends.onnxruntime_backend import cuda_available

    return "onnxruntime" if cuda_available() else CPU_LANDMARK_RUNTIME


class OnnxModel:
    """The ONNX twin of :class:`TFLiteModel`: ``model(x)`` → list of output arrays in the graph's order.

    Args:
        path: the ``.onnx`` file (default :data:`LANDMARK_ONNX`).
        num_threads: ONNX Runtime intra-op threads (None = one per core).
        device: ``cpu``, ``cuda`` (the CUDA provider), or ``auto``: CUDA when the installed build has it.
    """

    def __init__(self, path: Optional[str | Path] = None, num_threads: Optional[int] = 1, device: str = "auto"):
        problem = missing_landmark_onnx(path)
        if problem:
            raise DetectionSetupError(problem)
        path = path or LANDMARK_ONNX
        if importlib.util.find_spec("onnxruntime") is None:
            raise DetectionSetupError("onnxruntime is not installed: pip install onnxruntime")
        from engines.backends.onnxruntime_backend import OnnxRuntimeGraph, cuda_available

        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        self.path = Path(path)
        # Idle worker threads sleep (no spinning): the pipeline's other stages share these cores.
        self._graph = OnnxRuntimeGraph(self.path, device=device, intra_op_threads=int(num_threads or 0), spin=False)
        inp = self._graph.session.get_inputs()[0]
        self.input_shape = tuple(int(s) for s in inp.shape)
        self.output_names = list(self._graph.output_names)
        self.device = self._graph.device

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, np.float32).reshape(self.input_shape)
        out = self._graph.run({self._graph.input_names[0]: x})
        return [out[name] for name in self.output_names]
