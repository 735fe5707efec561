"""Several people per frame with MediaPipe's BlazePose detector (``pose_detection.tflite``).

The detector's own box is the *face* box; the body is given by two alignment keypoints (mid-hip and
a point whose distance to it is the radius of a circle around the whole body). :class:`Detection`
keeps both and exposes the body box (the axis-aligned square around that circle) as ``box``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from .blazepose import (
    DETECTOR_INPUT,
    Roi,
    decode_detections,
    letterbox,
    roi_from_alignment,
    ssd_anchors,
    weighted_nms,
)
from .runtime import DETECTOR_MODEL, TFLiteModel, mediapipe_model


@dataclass
class Detection:
    """One person in image pixels.

    Attributes:
        box: ``(4,)`` x0, y0, x1, y1 of the person (body circle's square, or a tight landmark box).
        score: detector confidence 0‥1.
        keypoints: ``(4, 2)`` BlazePose alignment points (mid-hip, full-body point, mid-shoulder,
            upper-body point), or None when the detection did not come from BlazePose.
        face_box: ``(4,)`` the detector's face box, or None.
        landmarks: the person's :class:`~realtime.detection.landmarks.Landmarks` when known.
    """

    box: np.ndarray
    score: float
    keypoints: Optional[np.ndarray] = None
    face_box: Optional[np.ndarray] = field(default=None, repr=False)
    landmarks: Optional[object] = field(default=None, repr=False)

    def roi(self, expand: float = 1.25) -> Roi:
        """The rotated square region the landmark model should look at."""
        if self.keypoints is not None:
            return roi_from_alignment(self.keypoints[0], self.keypoints[1], expand)
        x0, y0, x1, y1 = self.box
        return Roi((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * expand)


class PersonDetector:
    """BlazePose person detector: ``detect(frame_bgr)`` → detections, best first.

    Args:
        min_score: minimum detector confidence (MediaPipe's Pose solution uses 0.5).
        nms_iou: IoU above which candidates merge in the weighted NMS (MediaPipe: 0.3).
        max_persons: keep at most this many detections (None = all).
        min_body_px: drop bodies whose circle radius is below this many pixels (tiny false hits).
        tiles: also run on this many overlapping squares along the frame's long side (0 = whole
            frame only); each costs one more detector pass and finds smaller people.
        tile_min_inside: a tile keeps a body only if this share of it (within the frame) is inside the tile.
        num_threads: interpreter threads.
    """

    def __init__(
        self,
        min_score: float = 0.5,
        nms_iou: float = 0.3,
        max_persons: Optional[int] = None,
        min_body_px: float = 8.0,
        tiles: int = 0,
        tile_min_inside: float = 0.7,
        num_threads: Optional[int] = 1,
    ):
        self.model = TFLiteModel(mediapipe_model(DETECTOR_MODEL), num_threads)
        self.anchors = ssd_anchors()
        self.min_score, self.nms_iou = min_score, nms_iou
        self.max_persons, self.min_body_px, self.tiles = max_persons, min_body_px, tiles
        self.tile_min_inside = tile_min_inside

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detections in ``frame_bgr`` (H, W, 3 uint8, BGR as OpenCV reads it), best first."""
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        parts = [self._candidates(rgb, w) for w in detection_windows(rgb.shape[:2], self.tiles)]
        face = np.concatenate([p[0] for p in parts])
        kps = np.concatenate([p[1] for p in parts])
        scores = np.concatenate([p[2] for p in parts])
        # One weighted NMS over every window's candidates, on the face boxes, in image pixels.
        face, kps, scores = weighted_nms(face, kps, scores, self.nms_iou)
        out: list[Detection] = []
        for f, k, s, box in zip(face, kps, scores, body_boxes(kps)):
            if box[2] - box[0] < 2 * self.min_body_px:
                continue
            out.append(Detection(box=box.astype(np.float32), score=float(s), keypoints=k.astype(np.float32), face_box=f))
            if self.max_persons and len(out) >= self.max_persons:
                break
        return out

    def _candidates(self, rgb: np.ndarray, window: tuple[int, int, int, int]):
        """Decoded candidates of one window ``(x0, y0, x1, y1)`` in image pixels (before NMS)."""
        x0, y0, x1, y1 = window
        square, scale, (px, py) = letterbox(rgb[y0:y1, x0:x1], DETECTOR_INPUT)
        x = square.astype(np.float32) / 127.5 - 1.0  # model range [-1, 1]
        raw_boxes, raw_scores = self.model(x[None])
        boxes, kps, scores = decode_detections(raw_boxes[0], raw_scores[0], self.anchors, self.min_score)
        # Model-input 0‥1 → window pixels (undo the letterbox) → image pixels.
        offset = np.array([x0, y0], np.float32)
        pad = np.array([px, py], np.float32)
        face = ((boxes.reshape(-1, 2, 2) * DETECTOR_INPUT - pad) / scale + offset).reshape(-1, 4)
        kps = (kps * DETECTOR_INPUT - pad) / scale + offset
        h, w = rgb.shape[:2]
        if (x1 - x0, y1 - y0) != (w, h) and len(scores):
            # A tile sees a person cut by its border as a smaller, wrong person: keep only bodies
            # that lie mostly inside the tile (the whole frame or a neighbouring tile has the rest).
            body = body_boxes(kps)
            inside = _area(_clip(body, window)) / np.maximum(_area(_clip(body, (0, 0, w, h))), 1e-6)
            keep = inside >= self.tile_min_inside
            face, kps, scores = face[keep], kps[keep], scores[keep]
        return face, kps, scores


def body_boxes(keypoints: np.ndarray) -> np.ndarray:
    """Axis-aligned squares ``(N, 4)`` around the full-body circles of BlazePose keypoints ``(N, 4, 2)``."""
    radius = np.linalg.norm(keypoints[:, 1] - keypoints[:, 0], axis=-1)[:, None]
    return np.concatenate([keypoints[:, 0] - radius, keypoints[:, 0] + radius], 1)


def _clip(boxes: np.ndarray, window) -> np.ndarray:
    x0, y0, x1, y1 = window
    return np.stack([np.clip(boxes[:, 0], x0, x1), np.clip(boxes[:, 1], y0, y1),
                     np.clip(boxes[:, 2], x0, x1), np.clip(boxes[:, 3], y0, y1)], 1)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def detection_windows(shape: tuple[int, int], tiles: int = 0) -> list[tuple[int, int, int, int]]:
    """Regions the detector runs on: the whole frame, plus ``tiles`` overlapping squares (side = the
    short side) spread along the long side when ``tiles`` ≥ 2. Small people far from the camera are
    found in the tiles at a higher resolution; people larger than a tile in the whole frame.
    """
    h, w = shape
    windows = [(0, 0, w, h)]
    if tiles >= 2 and max(h, w) > min(h, w):
        side, long = min(h, w), max(h, w)
        for start in np.linspace(0, long - side, tiles).round().astype(int):
            windows.append((int(start), 0, int(start) + side, h) if w >= h else (0, int(start), w, int(start) + side))
    return windows
