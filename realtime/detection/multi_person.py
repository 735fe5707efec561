"""Detector + landmarks + tracker joined: every person in a frame with an id and 33 landmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .blazepose import box_iou
from .detector import Detection, PersonDetector
from .landmarks import LandmarkEstimator, Landmarks
from .runtime import SideBySide
from .tracker import PersonTracker, Track, square_boxes


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


#: With ``reacquire``, every this many frames between detections (a person the landmark model keeps losing, e.g. one
#: it cannot hold apart from a neighbour, would otherwise cost a detector and a landmark pass every frame).
REACQUIRE_EVERY = 3


class MultiPersonPose:
    """``process(frame_bgr, frame_index)`` → :class:`PersonPose` per tracked person in the frame.

    Per frame, as MediaPipe's own pose solution does for one person: every person tracked in the
    previous frame is *followed* — the landmark model runs on the region its last landmarks predict
    (:meth:`Landmarks.next_roi`) — and the person detector runs only every ``detect_every`` frames (to
    find newcomers), or as soon as a followed person is lost or nobody is followed. Detections that
    overlap a followed person are not re-examined. Regions whose pose-presence score is below
    ``min_pose_score`` and duplicates (:func:`same_person`) are dropped, then the tight boxes of the
    visible landmarks are tracked; a person followed from a track's landmarks keeps that track's id
    (``Detection.follows``), however their box changed. ``detect_every = 1`` detects in every frame.

    ``min_body_in_frame``: a person the detector finds (not one followed from the previous frame) needs at least
    this many body landmarks present inside the frame (:meth:`Landmarks.body_in_frame`). The detector finds faces,
    and a round thing at the frame's edge — a ball on the floor — can pass for a head whose body is out of the
    picture: BlazePose then puts every body landmark outside the frame, and a mesh would hang below it. Someone
    already followed keeps their track however little of them is in view (a close-up).

    ``workers``: how many BlazePose passes run side by side (:class:`~.runtime.SideBySide`; the same results as
    one after another): the followed people's landmark passes, and the detector's windows
    (``PersonDetector.workers``, set where this assembly makes the detector): with three people in view, one pass
    per core.

    ``reacquire``: while the tracker keeps a lost person's track (two people crossing, a short occlusion; up to
    its ``max_missed`` frames), every :data:`REACQUIRE_EVERY`-th frame between detections looks for them in a
    square around their last box (:meth:`PersonDetector.detect_around`), so they come back soon after they show
    again. (The last box, not one moved on by the track's velocity: over a dozen frames that drifts off and
    lands on someone else.)
    """

    def __init__(
        self,
        detector: Optional[PersonDetector] = None,
        estimator: Optional[LandmarkEstimator] = None,
        tracker: Optional[PersonTracker] = None,
        min_pose_score: float = 0.5,
        box_visibility: float = 0.5,
        detect_every: int = 1,
        covered_iou: float = 0.3,
        covered_centre: float = 0.3,
        reacquire: bool = False,
        min_body_in_frame: int = 2,
        workers: int = 1,
    ):
        if detect_every < 1:
            raise ValueError(f"detect_every must be ≥ 1, got {detect_every}")
        self.detector = detector or PersonDetector()
        self.estimator = estimator or LandmarkEstimator()
        self.pool = SideBySide(self.estimator, getattr(self.estimator, "clone", None), workers)
        self.tracker = tracker or PersonTracker()
        self.min_pose_score, self.box_visibility = min_pose_score, box_visibility
        self.detect_every, self.covered_iou, self.covered_centre = detect_every, covered_iou, covered_centre
        self.reacquire = bool(reacquire)
        self.min_body_in_frame = int(min_body_in_frame)
        self._last_detection: Optional[int] = None
        #: Detector passes run so far (the rest of the frames followed their people).
        self.detector_runs = 0
        #: BlazePose landmark passes run so far (followed people's and the detector's candidates'), and the
        #: person-frames given out: the model reads each person's one pass (``tools/bench_live.py`` prints the ratio).
        self.landmark_runs = 0
        self.people_out = 0

    @classmethod
    def from_tracking(cls, tracking, detector: Optional[PersonDetector] = None,
                      estimator: Optional[LandmarkEstimator] = None) -> "MultiPersonPose":
        """The detector, landmark model and tracker as the live app runs them, from the live config's
        ``tracking`` section (``realtime.config.TrackingConfig``; its ``landmark_runtime`` picks the landmark
        model's runtime): one assembly for live, calibration and the generator's MediaPipe-in-the-loop labels.
        Pass ``detector``/``estimator`` to reuse loaded models with a fresh tracker."""
        t = tracking
        estimator = estimator or LandmarkEstimator(getattr(t, "landmark_threads", 1), runtime=getattr(t, "landmark_runtime", "auto"))
        detector = detector or PersonDetector(sweep=getattr(t, "detect_sweep", ()), sweep_per_run=getattr(t, "detect_sweep_per_run", 0),
                                              motion_windows=getattr(t, "detect_motion_windows", 0),
                                              hog_upscale=getattr(t, "detect_hog_upscale", 0.0),
                                              workers=getattr(t, "blazepose_workers", 1))
        return cls(detector, estimator,
                   PersonTracker(max_persons=t.max_persons, max_missed=t.max_missed, smoothing=t.box_smoothing),
                   detect_every=t.detect_every, reacquire=getattr(t, "detect_lost", False),
                   workers=getattr(t, "blazepose_workers", 1))

    def close(self) -> None:
        """Let the worker threads go (:class:`~.runtime.SideBySide`)."""
        self.pool.close()
        close = getattr(self.detector, "close", None)
        if close is not None:
            close()

    def _accept(self, lm: Landmarks, found: list[Landmarks]) -> bool:
        if lm.score < self.min_pose_score or lm.box(self.box_visibility) is None:
            return False
        return not any(same_person(lm, other) for other in found)

    def landmarks(self, frame_bgr: np.ndarray, follow: Sequence[Landmarks] = (), detect: bool = True) -> list[Landmarks]:
        """Landmarks of every distinct person in the frame (no tracking): first the people followed from
        their previous landmarks ``follow``, then (``detect``) the detector's other people, best first."""
        found, _ = self._follow(frame_bgr, follow)
        return self._add_detected(frame_bgr, found) if detect else found

    def process(self, frame_bgr: np.ndarray, frame_index: int) -> list[PersonPose]:
        followed = [] if self.detect_every == 1 else [
            t for t in self.tracker.tracks if t.missed == 0 and getattr(t.data, "landmarks", None) is not None
        ]
        follow = [t.data.landmarks for t in followed]
        people, origin = self._follow(frame_bgr, follow)
        # each person followed from a track's landmarks continues that track (``PersonTracker``: not by overlap)
        follows = [followed[k].id for k in origin]
        due = self._last_detection is None or frame_index - self._last_detection >= self.detect_every
        if due or len(people) < len(follow) or not people:
            self._last_detection = frame_index
            people = self._add_detected(frame_bgr, people)
        elif self.reacquire and (frame_index - self._last_detection) % REACQUIRE_EVERY == 0:
            lost = [t.box for t in self.tracker.tracks if t.missed > 0]
            if lost:
                people = self._add_detected(frame_bgr, people, around=lost)
        # The landmark objects ride along through the tracker as ``track.data.landmarks``.
        dets = [Detection(box=lm.box(self.box_visibility), score=lm.score, landmarks=lm,
                          follows=follows[i] if i < len(follows) else None) for i, lm in enumerate(people)]
        tracks = self.tracker.update(dets, frame_index)
        self.people_out += len(tracks)
        return [PersonPose(t.snapshot(), t.data.landmarks) for t in tracks]  # frozen: later stages read them

    def _follow(self, frame_bgr: np.ndarray, follow: Sequence[Landmarks]) -> tuple[list[Landmarks], list[int]]:
        """The people found again on the regions their previous landmarks ``follow`` predict, and for each the
        index in ``follow`` it was followed from."""
        found: list[Landmarks] = []
        origin: list[int] = []
        self.landmark_runs += len(follow)
        for k, lm in enumerate(self.pool.map(lambda est, roi: est.estimate(frame_bgr, roi), [prev.next_roi() for prev in follow])):
            if self._accept(lm, found):
                found.append(lm)
                origin.append(k)
        return found, origin

    def _covered(self, det: Detection, found: Sequence[Landmarks]) -> bool:
        """Whether a detection is a person already found. A BlazePose detection: its body centre (mid-hip
        alignment point) lies within ``covered_centre`` × the found person's body radius of theirs, at a
        similar size — two people side by side keep their own centres, where boxes would overlap. Another
        detector's box: its centre lies inside the found person's landmark box and their squares (VIBE crops)
        overlap by ``covered_iou``."""
        box = np.asarray(det.box, np.float32)
        for lm in found:
            if det.keypoints is not None and getattr(lm, "aux_xy", None) is not None:
                radius = float(np.linalg.norm(lm.aux_xy[1] - lm.aux_xy[0]))
                det_radius = float(np.linalg.norm(det.keypoints[1] - det.keypoints[0]))
                near = float(np.linalg.norm(det.keypoints[0] - lm.aux_xy[0])) < self.covered_centre * radius
                if near and 0.5 * radius <= det_radius <= 2.0 * radius:
                    return True
                continue
            b = lm.box(self.box_visibility)
            if b is None:
                continue
            centre = (box[:2] + box[2:]) / 2
            inside = bool(np.all(centre >= b[:2]) and np.all(centre <= b[2:]))
            if inside and box_iou(square_boxes(box[None]), square_boxes(b[None]))[0, 0] >= self.covered_iou:
                return True
        return False

    def _add_detected(self, frame_bgr: np.ndarray, found: list[Landmarks],
                      around: Optional[Sequence[np.ndarray]] = None) -> list[Landmarks]:
        """``found`` plus the detector's people not already among them (``around``: only in squares around
        these boxes)."""
        self.detector_runs += 1
        found = list(found)
        known = [b for b in (lm.box(self.box_visibility) for lm in found) if b is not None]
        dets = self.detector.detect(frame_bgr, known) if around is None else self.detector.detect_around(frame_bgr, around)
        for det in dets:
            if self._covered(det, found):
                continue
            lm = self.estimator.estimate(frame_bgr, det.roi())
            self.landmark_runs += 1
            height, width = frame_bgr.shape[:2]
            if lm.body_in_frame(width, height) >= self.min_body_in_frame and self._accept(lm, found):
                found.append(lm)
        return found
