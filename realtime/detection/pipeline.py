"""Detector + landmarks + tracker joined: every person in a frame with an id and 33 landmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .detector import Detection, PersonDetector
from .landmarks import LandmarkEstimator, Landmarks
from .tracker import PersonTracker, Track


@dataclass
class PersonPose:
    """One person in one frame: its track (id, smoothed box, crop) and its landmarks."""

    track: Track
    landmarks: Landmarks

    @property
    def id(self) -> int:
        return self.track.id


def same_person(a: Landmarks, b: Landmarks, tolerance: float = 0.1, max_inside: float = 0.85,
                min_visibility: float = 0.5) -> bool:
    """True when two landmark sets most likely describe one body (two detections of one person,
    e.g. a whole-frame and a tile hit, or a hand taken for a face):

    * the median distance of the landmarks both see is below ``tolerance`` × the larger ROI side, or
    * the visible-landmark box of one lies, for more than ``max_inside`` of its area, inside the other's
      (a partial second skeleton drawn over the same body). Two real people overlap that much only
      under heavy occlusion, where the hidden one's landmarks are unreliable anyway.
    """
    both = (a.visibility > min_visibility) & (b.visibility > min_visibility)
    if both.sum() < 4:
        both = np.ones_like(both)
    d = np.linalg.norm(a.xy[both] - b.xy[both], axis=1)
    if float(np.median(d)) < tolerance * max(a.roi.size, b.roi.size):
        return True
    ba, bb = a.box(min_visibility), b.box(min_visibility)
    if ba is None or bb is None:
        return False
    inter = np.clip(np.minimum(ba[2:], bb[2:]) - np.maximum(ba[:2], bb[:2]), 0, None).prod()
    smaller = min(np.prod(ba[2:] - ba[:2]), np.prod(bb[2:] - bb[:2]))
    return bool(inter > max_inside * max(smaller, 1e-6))


class MultiPersonPose:
    """``process(frame_bgr, frame_index)`` → :class:`PersonPose` per tracked person in the frame.

    Per frame: detect people, run the landmark model on each detection's rotated region, drop regions
    whose pose-presence score is below ``min_pose_score`` and duplicates (:func:`same_person`), then
    track the tight boxes of the visible landmarks.
    """

    def __init__(
        self,
        detector: Optional[PersonDetector] = None,
        estimator: Optional[LandmarkEstimator] = None,
        tracker: Optional[PersonTracker] = None,
        min_pose_score: float = 0.5,
        box_visibility: float = 0.5,
    ):
        self.detector = detector or PersonDetector()
        self.estimator = estimator or LandmarkEstimator()
        self.tracker = tracker or PersonTracker()
        self.min_pose_score, self.box_visibility = min_pose_score, box_visibility

    def landmarks(self, frame_bgr: np.ndarray) -> list[Landmarks]:
        """Landmarks of every distinct person in the frame (no tracking), best detection first."""
        found: list[Landmarks] = []
        for det in self.detector.detect(frame_bgr):
            lm = self.estimator.estimate(frame_bgr, det.roi())
            if lm.score < self.min_pose_score or lm.box(self.box_visibility) is None:
                continue
            if any(same_person(lm, other) for other in found):
                continue
            found.append(lm)
        return found

    def process(self, frame_bgr: np.ndarray, frame_index: int) -> list[PersonPose]:
        people = self.landmarks(frame_bgr)
        # The landmark objects ride along through the tracker as ``track.data.landmarks``.
        dets = [Detection(box=lm.box(self.box_visibility), score=lm.score, landmarks=lm) for lm in people]
        tracks = self.tracker.update(dets, frame_index)
        return [PersonPose(t, t.data.landmarks) for t in tracks]
