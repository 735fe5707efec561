"""Scores of people found and followed against exact boxes: recall per size, false positives, id switches.

Per frame, the tracked boxes are matched one-to-one to the true boxes (Hungarian on IoU). A match needs an
IoU of ``min_iou``, or the found box *on* the person: at least ``min_on`` of it inside the true box and at least
``min_height`` of its height (a found box is the tight box of the landmarks the landmark model sees: an arm
held out, or hidden, leaves it narrower than the whole body's box, and the IoU low, though the person is found). A true person *counts* when enough of it shows (``visible`` ≥ ``min_visible`` of its pixels,
``inside`` ≥ ``min_inside`` of its box in the frame); a found box matched to a person who does not count
(hidden, leaving the frame) is neither a hit nor a false positive; a found box matched to nobody is a false
positive. An id switch is a counted person matched to another track id than at its previous match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .blazepose import box_iou

__all__ = ["SIZE_BANDS", "DetectionScore", "score_frames"]

#: Person height over frame height: the bands recall is reported in (lower bound inclusive).
SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("≥ 1/4", 1 / 4, np.inf), ("1/6–1/4", 1 / 6, 1 / 4), ("1/9–1/6", 1 / 9, 1 / 6), ("1/12–1/9", 1 / 12, 1 / 9),
    ("< 1/12", 0.0, 1 / 12),
)


@dataclass
class DetectionScore:
    """Sums over frames; the ratios are properties so that scores of several clips add up (``+``)."""

    frames: int = 0
    hits: dict[str, int] = field(default_factory=lambda: {b: 0 for b, _, _ in SIZE_BANDS})
    people: dict[str, int] = field(default_factory=lambda: {b: 0 for b, _, _ in SIZE_BANDS})
    false_positives: int = 0
    id_switches: int = 0
    person_frames: int = 0  # counted people over frames (the id-switch rate's denominator)

    def __add__(self, other: "DetectionScore") -> "DetectionScore":
        return DetectionScore(
            self.frames + other.frames, {b: self.hits[b] + other.hits[b] for b in self.hits},
            {b: self.people[b] + other.people[b] for b in self.people}, self.false_positives + other.false_positives,
            self.id_switches + other.id_switches, self.person_frames + other.person_frames)

    def recall(self, band: str) -> float:
        return self.hits[band] / self.people[band] if self.people[band] else float("nan")

    def recall_at_least(self, height: float) -> float:
        """Recall over every band whose lower bound is ≥ ``height``."""
        names = [b for b, lo, _ in SIZE_BANDS if lo >= height - 1e-9]
        people = sum(self.people[b] for b in names)
        return sum(self.hits[b] for b in names) / people if people else float("nan")

    @property
    def false_positives_per_frame(self) -> float:
        return self.false_positives / max(self.frames, 1)

    @property
    def id_switches_per_100(self) -> float:
        """Id switches per 100 frames per person."""
        return 100.0 * self.id_switches / max(self.person_frames, 1)


def score_frames(
    truth: np.ndarray, heights: np.ndarray, counts: np.ndarray, found: Sequence[Sequence[tuple[int, np.ndarray]]],
    min_iou: float = 0.5, min_on: float = 0.8, min_height: float = 0.7,
) -> DetectionScore:
    """``truth (T, N, 4)`` true boxes, ``heights (T, N)`` over the frame height, ``counts (T, N)`` bool (the person
    counts in that frame; present but not counted = neither hit nor false positive, NaN boxes = absent),
    ``found``: per frame the ``(track id, box)`` pairs the tracker reported."""
    score = DetectionScore()
    last_id: dict[int, int] = {}
    for f, people in enumerate(found):
        score.frames += 1
        present = np.flatnonzero(np.isfinite(truth[f]).all(-1))
        for n in np.flatnonzero(counts[f]):
            score.people[_band(heights[f, n])] += 1
            score.person_frames += 1
        if not people:
            continue
        boxes = np.stack([np.asarray(b, np.float32) for _, b in people])
        matched: set[int] = set()
        if len(present):
            iou = box_iou(boxes, truth[f, present].astype(np.float32))
            ok = (iou >= min_iou) | _on_person(boxes, truth[f, present], min_on, min_height)
            rows, cols = linear_sum_assignment(-(iou + ok))  # matches first, then the best overlap
            for r, c in zip(rows, cols):
                if not ok[r, c]:
                    continue
                matched.add(r)
                n = present[c]
                if not counts[f, n]:
                    continue
                score.hits[_band(heights[f, n])] += 1
                tid = people[r][0]
                if n in last_id and last_id[n] != tid:
                    score.id_switches += 1
                last_id[n] = tid
        score.false_positives += len(people) - len(matched)
    return score


def _on_person(found: np.ndarray, truth: np.ndarray, min_on: float, min_height: float) -> np.ndarray:
    """``(F, N)``: found box mostly inside the true box and nearly as tall."""
    f, t = np.asarray(found, np.float64)[:, None], np.asarray(truth, np.float64)[None]
    inter = (np.clip(np.minimum(f[..., 2], t[..., 2]) - np.maximum(f[..., 0], t[..., 0]), 0, None)
             * np.clip(np.minimum(f[..., 3], t[..., 3]) - np.maximum(f[..., 1], t[..., 1]), 0, None))
    area = np.maximum((f[..., 2] - f[..., 0]) * (f[..., 3] - f[..., 1]), 1e-9)
    return (inter >= min_on * area) & ((f[..., 3] - f[..., 1]) >= min_height * (t[..., 3] - t[..., 1]))


def _band(height: float) -> str:
    for name, lo, hi in SIZE_BANDS:
        if lo <= height < hi:
            return name
    return SIZE_BANDS[-1][0]
