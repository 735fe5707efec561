"""Stable ids for people across frames: IoU matching (Hungarian) with constant-velocity prediction,
exponential box smoothing, and VIBE-style square crops."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from training.preprocessing import crop_square

from .blazepose import box_iou


def crop_box(box: Sequence[float], scale: float = 1.2) -> tuple[float, float, float]:
    """VIBE's crop of a person box ``(x0, y0, x1, y1)``: a square ``(cx, cy, size)`` around its
    centre whose side is the box's longer side times ``scale``."""
    x0, y0, x1, y1 = map(float, box)
    cx, cy, side = crop_square(np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]), scale)
    return float(cx), float(cy), float(side)


def square_boxes(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` boxes → the squares ``(N, 4)`` around them (side = the longer side), same centres."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).max(1, keepdims=True) / 2
    return np.concatenate([centre - half, centre + half], 1)


@dataclass
class Track:
    """One tracked person.

    Attributes:
        id: stable integer id (0, 1, 2, … in order of appearance).
        box: ``(4,)`` smoothed x0, y0, x1, y1 in pixels; raw_box: the last matched detection's box.
        score: last detection score. last_frame: frame index of the last match.
        missed: frames since the last match (0 = seen in this frame). hits: matches so far.
        velocity: ``(2,)`` smoothed centre motion in pixels per frame.
        data: whatever the caller attached to the last matched detection (e.g. its landmarks).
    """

    id: int
    box: np.ndarray
    raw_box: np.ndarray
    score: float
    last_frame: int
    missed: int = 0
    hits: int = 1
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    data: Any = None

    def snapshot(self) -> "Track":
        """A copy of the track as it is now. The tracker changes its tracks frame after frame while later stages
        (crops, views, writers) still work on an earlier frame: each frame's people carry snapshots."""
        return replace(self, box=self.box.copy(), raw_box=self.raw_box.copy(), velocity=self.velocity.copy())

    def crop(self, scale: float = 1.2) -> tuple[float, float, float]:
        """Square crop ``(cx, cy, size)`` of the smoothed box (see :func:`crop_box`)."""
        return crop_box(self.box, scale)

    def predicted_box(self, frame_index: int) -> np.ndarray:
        """The box moved by its velocity to ``frame_index``."""
        dt = frame_index - self.last_frame
        return self.box + np.tile(self.velocity * dt, 2)


def _as_box_and_score(det) -> tuple[np.ndarray, float]:
    if hasattr(det, "box"):
        return np.asarray(det.box, np.float32).reshape(4), float(getattr(det, "score", 1.0))
    arr = np.asarray(det, np.float32).reshape(-1)
    return arr[:4], float(arr[4]) if arr.size > 4 else 1.0


class PersonTracker:
    """Keeps ids of up to ``max_persons`` people across frames.

    Args:
        max_persons: at most this many live tracks; extra detections (lowest scores) start none.
        max_missed: a track survives this many frames without a match, then is dropped; a person who
            comes back later gets a new id.
        iou_threshold: a detection continues a track only if the square around its box overlaps
            the square around the track's predicted box by at least this IoU. (Squares, as VIBE
            crops: a thin standing person moving sideways keeps more overlap than with tight boxes.)
        smoothing: weight of the previous box in the exponential smoothing (0 = raw boxes);
            the same factor smooths the velocity.

    ``update(detections, frame_index)`` takes objects with ``.box`` (and ``.score``) — e.g.
    :class:`~realtime.detection.detector.Detection` — or rows ``(x0, y0, x1, y1[, score])``, and
    returns the tracks matched in this frame, ordered by id; ``track.data`` holds the detection
    object that matched. Frame indices may skip (a video read with a stride): misses count frames.

    A detection whose ``.follows`` names a live track continues that track whatever its box: the person was
    followed from that track's landmarks (``MultiPersonPose``), which says more than an overlap — a box that
    shrinks to the upper body while the legs are hidden (a child jumping behind another) keeps its square
    overlapping too little, and the same person would get a new id for a few frames. The rest are matched by IoU.
    """

    def __init__(self, max_persons: int = 4, max_missed: int = 15, iou_threshold: float = 0.3, smoothing: float = 0.5):
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.max_persons, self.max_missed = max_persons, max_missed
        self.iou_threshold, self.smoothing = iou_threshold, smoothing
        self.tracks: list[Track] = []  # every live track, seen or missed
        self._next_id = 0

    def reset(self) -> None:
        self.tracks, self._next_id = [], 0

    def update(self, detections: Sequence[Any], frame_index: int) -> list[Track]:
        dets = [_as_box_and_score(d) for d in detections]
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        by_id = {t.id: r for r, t in enumerate(self.tracks)}
        for c, d in enumerate(detections):  # followed from a track's landmarks: that track
            r = by_id.get(getattr(d, "follows", None))
            if r is not None and r not in matched_tracks:
                self._continue(self.tracks[r], dets[c], d, frame_index)
                matched_tracks.add(r)
                matched_dets.add(c)
        rest_t = [r for r in range(len(self.tracks)) if r not in matched_tracks]
        rest_d = [c for c in range(len(dets)) if c not in matched_dets]
        if rest_t and rest_d:
            predicted = np.stack([self.tracks[r].predicted_box(frame_index) for r in rest_t])
            iou = box_iou(square_boxes(predicted), square_boxes(np.stack([dets[c][0] for c in rest_d])))
            rows, cols = linear_sum_assignment(-iou)
            for i, j in zip(rows, cols):
                r, c = rest_t[i], rest_d[j]
                if iou[i, j] >= self.iou_threshold:
                    self._continue(self.tracks[r], dets[c], detections[c], frame_index)
                    matched_tracks.add(r)
                    matched_dets.add(c)
        # Tracks without a match age; those missed too long go.
        for i, t in enumerate(self.tracks):
            if i not in matched_tracks:
                t.missed = frame_index - t.last_frame
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        # New people, best score first, while there is room.
        for c in sorted(set(range(len(dets))) - matched_dets, key=lambda c: -dets[c][1]):
            if len(self.tracks) >= self.max_persons:
                break
            box, score = dets[c]
            self.tracks.append(Track(self._next_id, box.copy(), box.copy(), score, frame_index, data=detections[c]))
            self._next_id += 1
        return sorted((t for t in self.tracks if t.missed == 0), key=lambda t: t.id)

    def _continue(self, t: Track, det: tuple[np.ndarray, float], obj: Any, frame_index: int) -> None:
        box, score = det
        a = self.smoothing
        dt = max(frame_index - t.last_frame, 1)
        centre_old = (t.box[:2] + t.box[2:]) / 2
        smoothed = a * t.predicted_box(frame_index) + (1 - a) * box
        step = ((smoothed[:2] + smoothed[2:]) / 2 - centre_old) / dt
        t.velocity = (a * t.velocity + (1 - a) * step).astype(np.float32)
        t.box = smoothed.astype(np.float32)
        t.raw_box, t.score, t.data = box.copy(), score, obj
        t.last_frame, t.missed, t.hits = frame_index, 0, t.hits + 1
