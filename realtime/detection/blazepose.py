"""Pure-numpy maths around MediaPipe's BlazePose models: SSD anchors, box decoding, weighted NMS,
letterboxing and the rotated region of interest (ROI) that the landmark model expects.

The constants follow MediaPipe's graph configs for the shipped models (``pose_detection_cpu.pbtxt``:
``SsdAnchorsCalculator`` / ``TensorsToDetectionsCalculator`` / ``NonMaxSuppressionCalculator``
options; ``pose_landmark_by_roi``/``pose_detection_to_roi``: ROI from alignment points). The code is
our own and works on arrays: nothing here runs a model, so all of it is unit-tested on synthetic input.

Conventions: ``anchors`` are ``(A, 4)`` rows ``(x_center, y_center, w, h)`` in units of the model
input (0‥1); raw regressors are ``(A, 12)`` = box ``(dx, dy, w, h)`` then 4 keypoints ``(x, y)``, in
model-input pixels relative to the anchor centre; decoded boxes are ``(N, 4)`` ``(x0, y0, x1, y1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

#: Detector input side (pixels) and its regressor layout.
DETECTOR_INPUT = 224
NUM_KEYPOINTS = 4  # 0 mid-hip, 1 full-body size/rotation point, 2 mid-shoulder, 3 upper-body point
#: Landmark model input side (pixels), its raw landmark count (33 + 6 auxiliary) and values per landmark.
LANDMARK_INPUT = 256
NUM_RAW_LANDMARKS = 39
LANDMARK_VALUES = 5  # x, y, z, visibility logit, presence logit


@dataclass(frozen=True)
class AnchorOptions:
    """The subset of MediaPipe's ``SsdAnchorsCalculatorOptions`` that the pose detector uses."""

    input_size: int = DETECTOR_INPUT
    strides: Sequence[int] = (8, 16, 32, 32, 32)
    num_aspect_ratios: int = 1  # aspect_ratios: [1.0]
    interpolated_anchor: bool = True  # interpolated_scale_aspect_ratio = 1.0 adds one anchor
    offset: float = 0.5  # anchor_offset_x/y


def ssd_anchors(options: AnchorOptions = AnchorOptions()) -> np.ndarray:
    """Anchor centres of the pose detector, ``(A, 4)`` = ``(x, y, w=1, h=1)``; A = 2254 for 224².

    With ``fixed_anchor_size`` every anchor has unit size, so only the centres matter. Consecutive
    layers with the same stride share one feature map and stack their anchors per cell; cells are
    visited row by row (y outer, x inner), all anchors of a cell together.
    """
    rows = []
    strides = list(options.strides)
    per_layer = options.num_aspect_ratios + int(options.interpolated_anchor)
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n_per_cell = per_layer * (j - i)
        side = int(np.ceil(options.input_size / strides[i]))
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        cx = (xs.reshape(-1) + options.offset) / side
        cy = (ys.reshape(-1) + options.offset) / side
        centres = np.repeat(np.stack([cx, cy], 1), n_per_cell, axis=0)
        rows.append(np.concatenate([centres, np.ones_like(centres)], 1))
        i = j
    return np.concatenate(rows, 0).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow warnings for large logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float32)))


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    min_score: float = 0.5,
    input_size: int = DETECTOR_INPUT,
    score_clip: float = 100.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw detector outputs → candidate detections above ``min_score``.

    Args:
        raw_boxes: ``(A, 12)`` regressors; raw_scores: ``(A,)`` or ``(A, 1)`` logits;
        anchors: ``(A, 4)`` from :func:`ssd_anchors`.
    Returns:
        boxes ``(N, 4)`` (x0, y0, x1, y1), keypoints ``(N, K, 2)``, scores ``(N,)`` — all coordinates
        normalised to the (letterboxed) model input, 0‥1.
    """
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(len(anchors), -1)
    logits = np.clip(np.asarray(raw_scores, np.float32).reshape(-1), -score_clip, score_clip)
    scores = sigmoid(logits)
    keep = scores >= min_score
    raw, anc, scores = raw_boxes[keep], anchors[keep], scores[keep]
    a_xy, a_wh = anc[:, None, :2], anc[:, None, 2:]
    # Box centre and size, then keypoints: all offsets scaled by the input size and the anchor size.
    centre = raw[:, None, 0:2] / input_size * a_wh + a_xy
    size = raw[:, None, 2:4] / input_size * a_wh
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1)[:, 0]
    kps = raw[:, 4:].reshape(len(raw), (raw.shape[1] - 4) // 2, 2) / input_size * a_wh + a_xy
    return boxes.astype(np.float32), kps.astype(np.float32), scores.astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``(N, 4)`` and ``(M, 4)`` (x0, y0, x1, y1) → ``(N, M)``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe-style *weighted* non-maximum suppression.

    Take the best remaining candidate; every remaining candidate overlapping it by more than
    ``iou_threshold`` (itself included) joins its cluster and is removed; the cluster's output is
    the score-weighted mean of its boxes and keypoints, with the best score. Shapes as in
    :func:`decode_detections`; outputs are sorted by score, best first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    alive = np.ones(len(scores), bool)
    out_b, out_k, out_s = [], [], []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        cluster = alive & (box_iou(boxes[i], boxes)[0] > iou_threshold)
        cluster[i] = True
        w = scores[cluster] / scores[cluster].sum()
        out_b.append((boxes[cluster] * w[:, None]).sum(0))
        out_k.append((keypoints[cluster] * w[:, None, None]).sum(0))
        out_s.append(scores[i])
        alive &= ~cluster
    if not out_s:
        return np.zeros((0, 4), np.float32), np.zeros((0,) + keypoints.shape[1:], np.float32), np.zeros(0, np.float32)
    return np.stack(out_b).astype(np.float32), np.stack(out_k).astype(np.float32), np.array(out_s, np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize ``image`` (H, W, C) into a ``size``² square keeping its aspect ratio, zero padding.

    Returns the square image, the scale (model pixels per image pixel) and the (x, y) padding in
    model pixels, so that ``image_xy = (model_xy - pad) / scale``.
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size, size) + image.shape[2:], image.dtype)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py : py + nh, px : px + nw] = resized
    return out, scale, (float(px), float(py))


# ---------------------------------------------------------------------------------------------------
# Region of interest for the landmark model.


@dataclass(frozen=True)
class Roi:
    """A square, possibly rotated region in image pixels: centre, side and angle (radians).

    ``angle`` is the rotation that makes the person upright: the landmark model sees the region
    rotated by ``-angle`` (MediaPipe's ``NormalizedRect.rotation`` convention, clockwise positive
    in image coordinates with y down).
    """

    cx: float
    cy: float
    size: float
    angle: float = 0.0

    def corners(self) -> np.ndarray:
        """The 4 corners ``(4, 2)``: top-left, top-right, bottom-right, bottom-left (in the ROI frame)."""
        h = self.size / 2
        local = np.array([[-h, -h], [h, -h], [h, h], [-h, h]], np.float64)
        c, s = np.cos(self.angle), np.sin(self.angle)
        rot = np.array([[c, -s], [s, c]])
        return local @ rot.T + [self.cx, self.cy]

    def to_input(self, side: int) -> np.ndarray:
        """2×3 affine map from image pixels to the ``side``² model input (for ``cv2.warpAffine``)."""
        src = self.corners()[:3].astype(np.float32)
        dst = np.array([[0, 0], [side, 0], [side, side]], np.float32)
        return cv2.getAffineTransform(src, dst)

    def from_input(self, side: int) -> np.ndarray:
        """2×3 affine map from model-input pixels back to image pixels."""
        return cv2.invertAffineTransform(self.to_input(side))


def normalize_angle(a: float) -> float:
    return float(a - 2 * np.pi * np.floor((a + np.pi) / (2 * np.pi)))


def roi_from_alignment(centre: np.ndarray, scale_point: np.ndarray, expand: float = 1.25) -> Roi:
    """MediaPipe's alignment-points ROI: a square centred on ``centre`` whose side is twice the
    distance to ``scale_point`` times ``expand``, rotated so that ``centre → scale_point`` points
    up (target angle 90°). Points are image pixels ``(2,)``.
    """
    centre = np.asarray(centre, np.float64)
    d = np.asarray(scale_point, np.float64) - centre
    size = 2.0 * float(np.hypot(*d)) * expand
    angle = normalize_angle(np.pi / 2 - np.arctan2(-d[1], d[0]))
    return Roi(float(centre[0]), float(centre[1]), size, angle)


def roi_from_box(box: Sequence[float], expand: float = 1.25) -> Roi:
    """An upright square ROI around an axis-aligned box ``(x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = map(float, box)
    return Roi((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * expand, 0.0)
