"""MediaPipe's 33 pose landmarks for one person region (``pose_landmark_full.tflite``, on LiteRT or as ONNX)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np

from training.blazepose_input import world_in_image_axes

from .blazepose import LANDMARK_INPUT, LANDMARK_VALUES, NUM_RAW_LANDMARKS, Roi, roi_from_alignment, roi_from_box, sigmoid
from .runtime import EMBEDDING_SIZE, LANDMARK_MODEL, OnnxModel, TFLiteModel, choose_landmark_runtime, mediapipe_model

NUM_LANDMARKS = 33
BODY_LANDMARKS = slice(11, NUM_LANDMARKS)  # shoulders down; 0–10 are the face
#: Side of the landmark model's heatmap grid (64 × 64 cells over its 256² input).
HEATMAP_SIZE = 64


@dataclass
class Landmarks:
    """One person's 33 MediaPipe landmarks (MediaPipe's order) in image pixels.

    Attributes:
        xy: ``(33, 2)`` pixels. z: ``(33,)`` depth relative to the hips, same pixel scale as x
        (smaller = nearer the camera). visibility, presence: ``(33,)`` 0‥1.
        score: the model's pose-presence score 0‥1. roi: the region the model saw.
        aux_xy: ``(2, 2)`` the auxiliary alignment points (mid-hip, body-size point) that give the
        next frame's region (:meth:`next_roi`).
        world: ``(33, 3)`` the model's world landmarks: metres, origin between the hips, in the image's axes
        (x right, y down, z away from the camera): the network's output turned by the region's ``roi.angle``, as
        MediaPipe's ``pose_world_landmarks`` are (until 2026-11-29 they were left in the turned region's axes).
        heatmaps: ``(64, 64, 39)`` the model's landmark heatmaps, in the region's input square (the 256²
        crop, 4 px a cell), 33 body + 6 auxiliary. segmentation: ``(256, 256)`` the person mask logits,
        in the same input square. embedding: ``(1152,)`` the network's last feature map, only from the ONNX
        copy that outputs it (``runtime.landmark_onnx_with_embedding``). None where the model lacks the output.
    """

    xy: np.ndarray
    z: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    score: float
    roi: Roi
    aux_xy: np.ndarray
    world: Optional[np.ndarray] = None
    heatmaps: Optional[np.ndarray] = None
    segmentation: Optional[np.ndarray] = None
    embedding: Optional[np.ndarray] = None

    def box(self, min_visibility: float = 0.5) -> Optional[np.ndarray]:
        """Tight ``(x0, y0, x1, y1)`` box of the landmarks visible above ``min_visibility`` (None if none)."""
        ok = self.visibility > min_visibility
        if not ok.any():
            return None
        pts = self.xy[ok]
        return np.concatenate([pts.min(0), pts.max(0)]).astype(np.float32)

    def body_in_frame(self, width: int, height: int, min_presence: float = 0.5) -> int:
        """How many body landmarks (shoulders down, MediaPipe 11–32) BlazePose says are present and that lie
        inside a ``width`` × ``height`` frame."""
        xy, present = self.xy[BODY_LANDMARKS], self.presence[BODY_LANDMARKS] > min_presence
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
        return int((present & inside).sum())

    def next_roi(self, expand: float = 1.25) -> Roi:
        """Region for the next frame from the auxiliary points, as MediaPipe tracks a pose."""
        return roi_from_alignment(self.aux_xy[0], self.aux_xy[1], expand)


class LandmarkEstimator:
    """``estimate(frame_bgr, region)`` → :class:`Landmarks` for the person in ``region``.

    ``region`` is a :class:`Roi` (rotated square, e.g. ``Detection.roi()`` or ``Landmarks.next_roi()``),
    a ``Detection``, or an axis-aligned box ``(x0, y0, x1, y1)`` (an upright square around it, 1.25×).

    Args:
        num_threads: CPU threads of the runtime.
        runtime: ``litert`` (the shipped ``.tflite``), ``onnxruntime`` (its ONNX conversion, ``onnx_path``;
            CUDA when ONNX Runtime has it) or ``auto`` (:func:`~.runtime.choose_landmark_runtime`: the
            faster one here). Both give the same outputs (within 1e-3, tests/test_blazepose_onnx.py).
        onnx_path: the ONNX file (default: the one shipped in ``assets/``, ``runtime.LANDMARK_ONNX``).
    """

    def __init__(self, num_threads: Optional[int] = 1, runtime: str = "auto", onnx_path: Optional[str | Path] = None):
        self.num_threads, self.onnx_path = num_threads, onnx_path
        #: The runtime in use: ``litert`` or ``onnxruntime``.
        self.runtime = choose_landmark_runtime(runtime, onnx_path)
        if self.runtime == "onnxruntime":
            self.model: Union[TFLiteModel, OnnxModel] = OnnxModel(onnx_path, num_threads)
        else:
            self.model = TFLiteModel(mediapipe_model(LANDMARK_MODEL), num_threads)

    def clone(self) -> "LandmarkEstimator":
        """Another estimator on the same runtime and model (its own interpreter, for another thread)."""
        return LandmarkEstimator(self.num_threads, self.runtime, self.onnx_path)

    @staticmethod
    def input_tensor(frame_bgr: np.ndarray, roi: Roi) -> np.ndarray:
        """The model's input for ``roi``: ``(1, 256, 256, 3)`` float32 RGB in [0, 1], the region cut upright."""
        side = LANDMARK_INPUT
        crop = cv2.warpAffine(
            frame_bgr, roi.to_input(side), (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        return (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)[None]  # model range [0, 1]

    def estimate(self, frame_bgr: np.ndarray, region: Union[Roi, Sequence[float], "object"]) -> Landmarks:
        roi = _as_roi(region)
        side = LANDMARK_INPUT
        outputs = self.model(self.input_tensor(frame_bgr, roi))
        by_size = {o.size: o for o in outputs[2:]}  # the three other outputs differ in size
        raw = outputs[0].reshape(NUM_RAW_LANDMARKS, LANDMARK_VALUES)
        score = float(np.asarray(outputs[1]).reshape(-1)[0])
        back = roi.from_input(side)  # 2×3
        xy = raw[:, :2] @ back[:, :2].T + back[:, 2]
        z = raw[:, 2] * (roi.size / side)
        return Landmarks(
            xy=xy[:NUM_LANDMARKS].astype(np.float32),
            z=z[:NUM_LANDMARKS].astype(np.float32),
            visibility=sigmoid(raw[:NUM_LANDMARKS, 3]).astype(np.float32),
            presence=sigmoid(raw[:NUM_LANDMARKS, 4]).astype(np.float32),
            score=score,
            roi=roi,
            aux_xy=xy[NUM_LANDMARKS : NUM_LANDMARKS + 2].astype(np.float32),
            world=_world(by_size.get(NUM_RAW_LANDMARKS * 3), roi),
            heatmaps=_reshaped(by_size.get(HEATMAP_SIZE**2 * NUM_RAW_LANDMARKS), (HEATMAP_SIZE, HEATMAP_SIZE, NUM_RAW_LANDMARKS)),
            segmentation=_reshaped(by_size.get(side * side), (side, side)),
            embedding=_reshaped(by_size.get(EMBEDDING_SIZE), (EMBEDDING_SIZE,)),
        )


def _world(array: Optional[np.ndarray], roi: Roi) -> Optional[np.ndarray]:
    """The 33 world landmarks in the image's axes (``training.blazepose_input.world_in_image_axes``: the network
    gives them in its turned region's axes), or None when the model lacks that output."""
    world = _reshaped(array, (NUM_RAW_LANDMARKS, 3), NUM_LANDMARKS)
    return None if world is None else world_in_image_axes(world, roi.angle)


def _reshaped(array: Optional[np.ndarray], shape: tuple[int, ...], rows: Optional[int] = None) -> Optional[np.ndarray]:
    """``array`` as ``shape`` (its first ``rows`` rows), or None when the model lacks that output."""
    if array is None:
        return None
    out = np.asarray(array).reshape(shape)
    return out[:rows] if rows is not None else out


def _as_roi(region) -> Roi:
    if isinstance(region, Roi):
        return region
    if hasattr(region, "roi"):  # a Detection
        return region.roi()
    return roi_from_box(np.asarray(region, np.float64).reshape(4))
