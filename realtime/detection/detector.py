"""Several people per frame with MediaPipe's BlazePose detector (``pose_detection.tflite``).

The detector's own box is the *face* box; the body is given by two alignment keypoints (mid-hip and
a point whose distance to it is the radius of a circle around the whole body). :class:`Detection`
keeps both and exposes the body box (the axis-aligned square around that circle) as ``box``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

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
from .runtime import DETECTOR_MODEL, SideBySide, TFLiteModel, mediapipe_model


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
        follows: the id of the track whose last landmarks this person was followed from (the landmark model run
            on the region they predict), None for a detector's find: the tracker keeps that id.
    """

    box: np.ndarray
    score: float
    keypoints: Optional[np.ndarray] = None
    face_box: Optional[np.ndarray] = field(default=None, repr=False)
    landmarks: Optional[object] = field(default=None, repr=False)
    follows: Optional[int] = None

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
        sweep: grid levels of the far-people sweep (e.g. ``(2, 3)``: squares of ½ and ⅓ of the frame's short
            side, overlapping, over the whole frame; :func:`sweep_windows`). Each ``detect`` call runs the
            whole frame and the next ``sweep_per_run`` of those squares in turn, so the sweep's cost is spread
            over the calls (the live app detects every ``tracking.detect_every`` frames) and a person the
            whole frame is too coarse for is found within one round of the sweep.
        sweep_per_run: squares of the sweep per call. The first call runs the whole sweep (a stream's start:
            everyone in view is found at once, for a one-off cost).
        motion_windows: also look at up to this many squares of ½, ⅓ or ¼ of the short side that hold the most of
            what moved since the previous call and no known person explains
            (:class:`MotionWindows`; a static camera's people walk): found in one call, not a round later.
        hog_upscale: also run OpenCV's HOG people detector (Dalal–Triggs, trained on real pedestrians, built into
            OpenCV) on the frame enlarged this many times (0 = off): it finds upright people too small and too
            blurred for BlazePose's detector, which keys on faces, at a cost of about half a second per 960×540
            frame at ×2 (docs/bench/detection). The first call covers the whole frame, later calls one of
            ``hog_strips`` overlapping vertical strips in turn. Its boxes go to the landmark model like the
            others, whose pose score keeps or drops them.
        num_threads: interpreter threads.
        workers: how many windows run side by side, each on an interpreter of its own (:class:`SideBySide`;
            the same detections as one after another): a detection's two to five windows cost about 18 ms each
            on a 2-core CPU.
    """

    def __init__(
        self,
        min_score: float = 0.5,
        nms_iou: float = 0.3,
        max_persons: Optional[int] = None,
        min_body_px: float = 8.0,
        tiles: int = 0,
        tile_min_inside: float = 0.7,
        sweep: Sequence[int] = (),
        sweep_per_run: int = 2,
        motion_windows: int = 0,
        hog_upscale: float = 0.0,
        hog_strips: int = 4,
        num_threads: Optional[int] = 1,
        workers: int = 1,
    ):
        self.model = TFLiteModel(mediapipe_model(DETECTOR_MODEL), num_threads)
        self.pool = SideBySide(self.model, lambda: TFLiteModel(mediapipe_model(DETECTOR_MODEL), num_threads), workers)
        self.anchors = ssd_anchors()
        self.min_score, self.nms_iou = min_score, nms_iou
        self.max_persons, self.min_body_px, self.tiles = max_persons, min_body_px, tiles
        self.tile_min_inside = tile_min_inside
        self.sweep, self.sweep_per_run = tuple(int(k) for k in sweep), max(int(sweep_per_run), 0)
        self._sweep_next: Optional[int] = None  # index of the next sweep square; None = the whole sweep next
        self.motion = MotionWindows(motion_windows) if motion_windows > 0 else None
        self.hog_upscale, self.hog_strips = float(hog_upscale), max(int(hog_strips), 1)
        self._hog_next: Optional[int] = None  # the next HOG strip; None = the whole frame next
        self._hog = None
        if self.hog_upscale > 0:
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def reset(self) -> None:
        """A new stream: the next call runs the whole sweep and the motion cue starts afresh."""
        self._sweep_next = self._hog_next = None
        if self.motion is not None:
            self.motion.previous, self.motion.known_then = None, []

    def detect(self, frame_bgr: np.ndarray, known: Sequence[np.ndarray] = ()) -> list[Detection]:
        """Detections in ``frame_bgr`` (H, W, 3 uint8, BGR as OpenCV reads it), best first. ``known``: boxes
        ``(x0, y0, x1, y1)`` of people already followed (the motion cue leaves them out)."""
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        windows = detection_windows(rgb.shape[:2], self.tiles) + self._sweep_turn(rgb.shape[:2])
        if self.motion is not None:
            windows += self.motion(frame_bgr, known, sweep_windows(rgb.shape[:2], MOTION_LEVELS))
        out = self._detections(rgb, windows)
        hog = self._hog_turn(frame_bgr)
        return out + hog[: max(self.max_persons - len(out), 0) if self.max_persons else None]

    def detect_around(self, frame_bgr: np.ndarray, boxes: Sequence[np.ndarray]) -> list[Detection]:
        """Detections in a square around each of ``boxes`` (:func:`square_around`) only, best first: where
        people just lost were last seen (``MultiPersonPose``'s ``reacquire``). No sweep, motion or HOG turn."""
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        windows = [square_around((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[3] - b[1], (h, w)) for b in np.asarray(boxes, np.float64)]
        return self._detections(rgb, windows)

    def _detections(self, rgb: np.ndarray, windows: Sequence[tuple[int, int, int, int]]) -> list[Detection]:
        """BlazePose's detector over ``windows``, one weighted NMS over all, best first."""
        parts = self.pool.map(lambda model, w: self._candidates(rgb, w, model), windows)
        if not parts:
            return []
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

    def _hog_turn(self, frame_bgr: np.ndarray) -> list[Detection]:
        """HOG people in this call's region (the whole frame first, then one strip per call), best first."""
        if self._hog is None:
            return []
        h, w = frame_bgr.shape[:2]
        strips = hog_strips((h, w), self.hog_strips)
        if self._hog_next is None:
            self._hog_next, region = 0, (0, 0, w, h)
        else:
            region = strips[self._hog_next % len(strips)]
            self._hog_next = (self._hog_next + 1) % len(strips)
        x0, y0, x1, y1 = region
        up = self.hog_upscale
        image = cv2.resize(frame_bgr[y0:y1, x0:x1], None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
        rects, weights = self._hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.1)
        out = []
        for (x, y, bw, bh), weight in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
            # the 64×128 window holds a person of about 96 px, centred: its box less that margin
            box = np.array([x + bw / 8, y + bh / 8, x + bw * 7 / 8, y + bh * 7 / 8], np.float32) / up + [x0, y0, x0, y0]
            out.append(Detection(box=box.astype(np.float32), score=float(np.clip(weight, 0.0, 1.0))))
        return sorted(out, key=lambda d: -d.score)

    def _sweep_turn(self, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        """This call's squares of the sweep (round robin)."""
        squares = sweep_windows(shape, self.sweep)
        if not squares or not self.sweep_per_run:
            return []
        if self._sweep_next is None:  # the first call: all of it
            self._sweep_next = 0
            return squares
        turn = [squares[(self._sweep_next + i) % len(squares)] for i in range(min(self.sweep_per_run, len(squares)))]
        self._sweep_next = (self._sweep_next + len(turn)) % len(squares)
        return turn

    def close(self) -> None:
        """Let the worker threads go."""
        self.pool.close()

    def _candidates(self, rgb: np.ndarray, window: tuple[int, int, int, int], model: Optional[TFLiteModel] = None):
        """Decoded candidates of one window ``(x0, y0, x1, y1)`` in image pixels (before NMS), by ``model``
        (default: this detector's own)."""
        x0, y0, x1, y1 = window
        square, scale, (px, py) = letterbox(rgb[y0:y1, x0:x1], DETECTOR_INPUT)
        x = square.astype(np.float32) / 127.5 - 1.0  # model range [-1, 1]
        raw_boxes, raw_scores = (model or self.model)(x[None])
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


#: Grid levels of the squares the motion cue chooses from (see :func:`sweep_windows`), besides one square per
#: moving blob of BLOB_SIZE × the blob's height.
MOTION_LEVELS = (2, 3, 4)
BLOB_SIZE = 2.5


class MotionWindows:
    """Squares where something moved that no known person explains: ``windows(frame_bgr, known, squares) →
    [(x0, y0, x1, y1)]``, at most ``max_windows`` of the given ``squares``.

    The frames are compared at ``scale`` of their size (grey, blurred). What moved: pixels that changed by more
    than ``threshold`` grey levels, outside each ``known`` person's box now and at the previous call (a walker
    leaves a trace where they were) grown by ``known_margin`` of its size on each side, in blobs at least nearly
    as tall as wide (people are upright; a shadow or a reflection on the floor is not). The candidate squares —
    ½, ⅓ and ¼ of the short side (:data:`MOTION_LEVELS`: scales that suit people of 1/12 to 1/4 of the frame)
    and one per moving blob of :data:`BLOB_SIZE` × its height — are taken greedily by the motion in their middle
    (all but a fifth of the side at each edge) less the motion their border cuts, the smallest of equals, each
    taking its motion away from the next, while one holds at least ``min_pixels`` in its middle. None on the
    first call, or when more than ``max_moving`` of the frame changed (the camera itself moved).
    """

    def __init__(self, max_windows: int = 3, scale: float = 0.25, threshold: int = 16, min_pixels: int = 8,
                 max_moving: float = 0.3, known_margin: float = 0.15) -> None:
        self.known_margin = known_margin
        self.max_windows, self.scale, self.threshold = max_windows, scale, threshold
        self.min_pixels, self.max_moving = min_pixels, max_moving
        self.previous: Optional[np.ndarray] = None
        self.known_then: list[np.ndarray] = []

    def __call__(self, frame_bgr: np.ndarray, known: Sequence[np.ndarray],
                 squares: Sequence[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        small = cv2.GaussianBlur(cv2.resize(grey, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA), (5, 5), 0)
        previous, self.previous = self.previous, small
        known_then, self.known_then = self.known_then, list(known)
        if previous is None or previous.shape != small.shape or not len(squares):
            return []
        moving = (cv2.absdiff(small, previous) > self.threshold).astype(np.int32)
        if moving.mean() > self.max_moving:
            return []
        for b in [*known, *known_then]:  # where the people we know are, and were at the previous call
            x0, y0, x1, y1 = np.asarray(b, np.float64) * self.scale
            mx, my = (x1 - x0) * self.known_margin, (y1 - y0) * self.known_margin
            x0, y0, x1, y1 = (int(round(v)) for v in (x0 - mx, y0 - my, x1 + mx, y1 + my))
            moving[max(y0, 0) : max(y1 + 1, 0), max(x0, 0) : max(x1 + 1, 0)] = 0
        moving, blobs = self._upright(moving)
        squares = list(squares) + self._blob_squares(blobs, frame_bgr.shape[:2])
        sq = np.clip((np.asarray(squares, np.float64) * self.scale).round().astype(int), 0, None)
        inset = (sq[:, 2:] - sq[:, :2]) // 5
        middle = np.concatenate([sq[:, :2] + inset, sq[:, 2:] - inset], 1)
        side = (sq[:, 2] - sq[:, 0]).astype(np.float64)
        out: list[tuple[int, int, int, int]] = []
        for _ in range(self.max_windows):
            whole, inner = _box_sums(moving, sq), _box_sums(moving, middle)
            # a square finds whom it holds whole: motion in its middle, less what its border cuts; of equals, the
            # smallest (the most enlarged)
            score = inner - (whole - inner) - 1e-3 * side
            best = int(score.argmax())
            if inner[best] < self.min_pixels or score[best] <= 0:
                break
            out.append(tuple(squares[best]))
            x0, y0, x1, y1 = sq[best]
            moving[y0:y1, x0:x1] = 0
        return out

    @staticmethod
    def _upright(moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``moving`` without its blobs that are wider than tall (a shadow or a reflection on the floor, a door:
        a walker's blob is upright), and the kept blobs' ``(x, y, w, h, area)`` rows."""
        count, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(moving.astype(np.uint8), np.ones((3, 3), np.uint8)))
        keep = np.zeros(count, bool)
        keep[1:] = stats[1:, 3] >= 0.8 * stats[1:, 2]
        return np.where(keep[labels], moving, 0), stats[keep]

    def _blob_squares(self, blobs: np.ndarray, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        """One square per moving blob, centred on it, of ``BLOB_SIZE`` × its height (people are upright): a far
        walker gets a square that enlarges it as much as the detector likes."""
        return [square_around((x + bw / 2) / self.scale, (y + bh / 2) / self.scale, bh / self.scale, shape)
                for x, y, bw, bh, area in blobs if area >= self.min_pixels]


def square_around(cx: float, cy: float, height: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The detection square for someone ``height`` px tall centred at ``(cx, cy)``: :data:`BLOB_SIZE` × the
    height (at least 128 px, at most the frame's short side), moved inside the frame ``shape`` (h, w)."""
    h, w = shape
    side = int(np.clip(BLOB_SIZE * height, 128, min(h, w)))
    x0, y0 = int(np.clip(round(cx - side / 2), 0, w - side)), int(np.clip(round(cy - side / 2), 0, h - side))
    return (x0, y0, x0 + side, y0 + side)


def _box_sums(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Sums of a 0/1 ``image`` over ``boxes (N, 4)`` (x0, y0, x1, y1, exclusive ends; clipped to the image), by its
    integral image."""
    ii = cv2.integral(image.astype(np.uint8), sdepth=cv2.CV_32S)  # a 0/1 mask
    h, w = image.shape[:2]
    x0, x1 = np.clip(boxes[:, 0], 0, w), np.clip(boxes[:, 2], 0, w)
    y0, y1 = np.clip(boxes[:, 1], 0, h), np.clip(boxes[:, 3], 0, h)
    return ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]


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


def hog_strips(shape: tuple[int, int], count: int) -> list[tuple[int, int, int, int]]:
    """``count`` vertical strips over the frame, neighbours overlapping by a quarter of the frame's height: the
    HOG window of a person up to ⅓ of the frame high (the far people it is there for) is narrower than that, so
    whoever a strip's border cuts lies whole in the next."""
    h, w = shape
    if count <= 1:
        return [(0, 0, w, h)]
    width = min(w, int(np.ceil(w / count + h / 4)))
    return [(int(x), 0, int(x) + width, h) for x in np.linspace(0, w - width, count).round().astype(int)]


def sweep_windows(shape: tuple[int, int], levels: Sequence[int], overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """The far-people sweep: for each level ``k``, squares of side ``short side / k`` laid over the whole frame
    with at least ``overlap`` of a side shared by neighbours (a person cut by one square's border lies inside
    the next), level by level, row by row."""
    h, w = shape
    out: list[tuple[int, int, int, int]] = []
    for k in levels:
        side = int(round(min(h, w) / k))
        if k < 2 or side < 32:
            continue
        step = side * (1 - overlap)
        xs = np.linspace(0, w - side, int(np.ceil((w - side) / step)) + 1 if w > side else 1).round().astype(int)
        ys = np.linspace(0, h - side, int(np.ceil((h - side) / step)) + 1 if h > side else 1).round().astype(int)
        out += [(int(x), int(y), int(x) + side, int(y) + side) for y in ys for x in xs]
    return out
