"""Smoothing BlazePose's landmarks over time, per track, before they reach the model (torch-free: the live
app's ``PersonInputs`` and the evaluation's generated sequences use the same filter and settings).

The landmark network runs on each frame alone, and its answers shake by a pixel or two from frame to
frame even when the person stands still. The model (and its landmark fit, which follows the 2D
landmarks closely) would pass that shake on to the body. This is the 1€ filter (Casiez, Roussel and
Vogel, CHI 2012), the filter MediaPipe's own pose solution smooths its landmarks with: a low-pass
filter whose cutoff rises with speed, so a still person is held still and a fast arm is not dragged.

The image landmarks are filtered about their centroid, which passes unfiltered: where the person is in the
frame follows the image at once (averaged over 33 landmarks it barely shakes), only the pose is held steady,
and its speed is the limbs' own. Filtering the landmarks as they are would drag the body of a player who runs
across the frame behind them (on the shared clips: PCK 0.955 → 0.975 on the aerobics clip, 0.910 → 0.925 on
the surfer, jitter no higher).

BlazePose's confidences (visibility, presence) flicker too where a limb is near the frame's edge or half
hidden — 0.6, 0.3, 0.6 from frame to frame — and the landmark fit, which weighs each landmark by them, then
switches a limb between following the image and the network's guess. They are **held**: a rise passes at
once (a limb coming into view is followed at once), a fall goes through a low-pass (``release_cutoff``). On
the shared clips this lowered the jitter on every clip and left PCK up or level; framed from the thighs up (a
desk webcam: the taiji clip cut below the hips) the jitter ratio fell from 0.77 to 0.65. It costs the generated
benchmark's lying people, whose occluded limbs BlazePose guesses worse than the network (the checkpoint README).

Speeds are measured in person sizes per second (image landmarks divided by the side of the person's crop,
world landmarks in metres over a body of about 1.7 m), so one setting serves near and far people alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = ["DEFAULT_BETA", "DEFAULT_MIN_CUTOFF", "DEFAULT_RELEASE_CUTOFF", "Hold", "LandmarkSmoother", "OneEuro",
           "smooth_features"]

#: The live app's default setting (``tracking.landmark_min_cutoff``, ``tracking.landmark_beta``). Chosen on the
#: shared real clips (``tools/eval_clips.py --set tracking.landmark_beta=…``; the table is in
#: ``training/checkpoints/README.md``, "How fast the landmark filter lets a limb through"): a higher beta lets a
#: fast limb through sooner (less lag: PCK up on every clip) and passes more of BlazePose's shake (jitter up);
#: 6 keeps every clip's jitter under 0.65 of MediaPipe's. 1.0/1.0 lagged fast limbs most (gym PCK 0.82).
DEFAULT_MIN_CUTOFF, DEFAULT_BETA = 1.5, 6.0

#: How fast a held confidence falls (Hz; ``tracking.landmark_release``; 0 = raw confidences): chosen on the shared
#: clips and the thighs-up cut of taiji (``training/checkpoints/README.md``, "Held confidences").
DEFAULT_RELEASE_CUTOFF = 1.5

#: Seconds between frames when no timestamps come with them.
DEFAULT_DT = 1.0 / 30.0
#: A body's size in metres, to measure world-landmark speeds in person sizes.
BODY_SIZE_M = 1.7


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuro:
    """The 1€ filter over points ``(N, D)`` (each point's speed is the norm over its ``D`` coordinates).

    ``min_cutoff`` (Hz): the cutoff of a still point (lower = steadier, more lag); ``beta``: how fast the
    cutoff rises with speed (in units of the values per second); ``d_cutoff`` (Hz): the speed's own filter.
    """

    min_cutoff: float = 1.0
    beta: float = 1.0
    d_cutoff: float = 1.0
    value: Optional[np.ndarray] = field(default=None, init=False)
    speed: Optional[np.ndarray] = field(default=None, init=False)
    time: Optional[float] = field(default=None, init=False)

    def __call__(self, x: np.ndarray, time_s: Optional[float] = None, scale: float = 1.0) -> np.ndarray:
        """The filtered ``x``; ``scale`` divides the values when measuring speed (person size)."""
        x = np.asarray(x, np.float64)
        if self.value is None or self.value.shape != x.shape:
            self.value, self.speed, self.time = x.copy(), np.zeros(x.shape[:-1]), time_s
            return x.copy()
        dt = DEFAULT_DT if time_s is None or self.time is None or time_s <= self.time else time_s - self.time
        self.time = time_s
        raw_speed = np.linalg.norm(x - self.value, axis=-1) / (dt * max(scale, 1e-9))
        self.speed = self.speed + _alpha(self.d_cutoff, dt) * (raw_speed - self.speed)
        a = _alpha(self.min_cutoff + self.beta * self.speed, dt)[..., None]
        self.value = self.value + a * (x - self.value)
        return self.value.copy()


@dataclass
class Hold:
    """Confidences ``(N,)`` that rise at once and fall through a low-pass of ``cutoff`` Hz (module docstring)."""

    cutoff: float = DEFAULT_RELEASE_CUTOFF
    value: Optional[np.ndarray] = field(default=None, init=False)
    time: Optional[float] = field(default=None, init=False)

    def __call__(self, x: np.ndarray, time_s: Optional[float] = None) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.cutoff <= 0 or self.value is None or self.value.shape != x.shape:
            self.value, self.time = x.copy(), time_s
            return x.copy()
        dt = DEFAULT_DT if time_s is None or self.time is None or time_s <= self.time else time_s - self.time
        self.time = time_s
        self.value = np.where(x >= self.value, x, self.value + _alpha(self.cutoff, dt) * (x - self.value))
        return self.value.copy()


class LandmarkSmoother:
    """One set of filters per track: 1€ on the image landmarks ``(33, 3)`` (x, y in frame pixels, z) and the world
    landmarks ``(33, 3)`` (``min_cutoff`` 0: passed raw), a :class:`Hold` on the visibility and presence
    (``release_cutoff`` 0: passed raw). ``forget(track_id)`` when a track ends, so a new person starts fresh."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 1.0, release_cutoff: float = 0.0) -> None:
        self.min_cutoff, self.beta, self.release_cutoff = float(min_cutoff), float(beta), float(release_cutoff)
        self.filters: dict[int, tuple[OneEuro, OneEuro]] = {}
        self.holds: dict[int, Hold] = {}

    def smooth(self, track_id: int, image: np.ndarray, world: Optional[np.ndarray], size_px: float,
               time_s: Optional[float] = None) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Track ``track_id``'s landmarks at ``time_s`` (seconds; None = one frame at 30 fps after the last):
        ``image (33, 3)`` in pixels (z in pixels too), ``world (33, 3)`` metres or None; ``size_px`` the
        person's size in the frame (the side of their crop square)."""
        if self.min_cutoff <= 0:
            return np.asarray(image, np.float32), None if world is None else np.asarray(world, np.float32)
        if track_id not in self.filters:
            self.filters[track_id] = (OneEuro(self.min_cutoff, self.beta), OneEuro(self.min_cutoff, self.beta))
        f_image, f_world = self.filters[track_id]
        centre = np.zeros(image.shape[-1])
        centre[:2] = image[:, :2].mean(0)  # the pose about its centroid; the centroid itself passes (docstring)
        image_s = (f_image(image - centre, time_s, size_px) + centre).astype(np.float32)
        world_s = None if world is None else f_world(world, time_s, BODY_SIZE_M).astype(np.float32)
        return image_s, world_s

    def hold(self, track_id: int, visibility: np.ndarray, presence: np.ndarray,
             time_s: Optional[float] = None) -> tuple[np.ndarray, np.ndarray]:
        """Track ``track_id``'s visibility and presence ``(33,)`` at ``time_s``, held (:class:`Hold`)."""
        held = self.holds.setdefault(track_id, Hold(self.release_cutoff))(np.stack([visibility, presence]), time_s)
        return held[0].astype(np.float32), held[1].astype(np.float32)

    def forget(self, track_id: int) -> None:
        self.filters.pop(track_id, None)
        self.holds.pop(track_id, None)


def smooth_features(x: np.ndarray, fps: float = 30.0, min_cutoff: float = DEFAULT_MIN_CUTOFF,
                    beta: float = DEFAULT_BETA, release_cutoff: float = DEFAULT_RELEASE_CUTOFF) -> np.ndarray:
    """One person's BlazePose features over a clip ``(N, 33, 9)`` (``training.blazepose_input``: image landmarks
    in crop coordinates, visibility, presence, world landmarks in metres) through the same filters, frame by
    frame (causal), as the live app smooths them; frames BlazePose missed (score 0) pass unchanged and restart
    the filters."""
    out = np.array(x, np.float32, copy=True)
    if min_cutoff <= 0 and release_cutoff <= 0:
        return out
    smoother = LandmarkSmoother(min_cutoff, beta, release_cutoff)
    for t in range(len(out)):
        if out[t, 0, 8] <= 0:
            smoother.forget(0)
            continue
        image, world = smoother.smooth(0, out[t, :, 0:3], out[t, :, 5:8], 2.0, t / fps)  # a crop is 2 units wide
        out[t, :, 0:3], out[t, :, 5:8] = image, world
        out[t, :, 3], out[t, :, 4] = smoother.hold(0, out[t, :, 3], out[t, :, 4], t / fps)
    return out
