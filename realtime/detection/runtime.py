"""Finding the pose models that the mediapipe wheel ships and running them with a TFLite runtime.

Nothing is downloaded: the models come from the installed ``mediapipe`` package
(``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``). The runtime is LiteRT
(``pip install ai-edge-litert``, Google's standalone TFLite interpreter); ``tflite_runtime`` or a full
TensorFlow work too when one of them is installed instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np

DETECTOR_MODEL = "modules/pose_detection/pose_detection.tflite"
LANDMARK_MODEL = "modules/pose_landmark/pose_landmark_full.tflite"


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
