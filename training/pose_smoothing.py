"""Smoothing the body over time, per track, after the model (torch-free: the live app's inference stage and
the evaluation's generated sequences use the same filter and settings).

The landmark fit follows BlazePose's 2D landmarks frame by frame, and where the image leaves depth open
(a limb near full stretch in the image, a torso seen from the side) a pixel of landmark noise moves a joint
by centimetres in depth. The landmark filter before the model cannot remove that; this one, after it, does:
a 1€ filter (``training.landmark_smoothing.OneEuro``'s rule) over the whole body with **one** smoothing
factor per person and frame, so every output blends the same way and stays consistent with the others (the
mesh, the joints and the rotations of one frame are one body). Its speed is the fastest joint's (metres per
second): a still person is held still, and when any limb moves fast the filter lets the body through.

What is filtered: the pose and shape (``rotmat``, re-orthonormalised; ``theta`` but its camera; ``betas``;
``vertices``; ``joints3d``). What is not: the camera ``cam`` — it is in the units of the person's crop,
which moves from frame to frame, and the landmark fit already placed the body on the filtered landmarks;
``joints2d`` is projected again from the filtered joints with it.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .landmark_smoothing import DEFAULT_DT, _alpha

__all__ = ["DEFAULT_POSE_BETA", "DEFAULT_POSE_MIN_CUTOFF", "PoseSmoother", "smooth_sequence"]

#: The live app's default setting (``tracking.pose_min_cutoff``, ``tracking.pose_beta``): cutoff (Hz) of a
#: still body, and its rise per metre per second of the fastest joint. Chosen on the shared real clips against
#: lag: ``python tools/eval_clips.py --max-frames 150 --no-sheets --set tracking.pose_min_cutoff=… --set
#: tracking.pose_beta=…`` (the figures: ``training/checkpoints/README.md``).
DEFAULT_POSE_MIN_CUTOFF, DEFAULT_POSE_BETA = 2.0, 2.0
#: The speed's own low-pass cutoff (Hz).
SPEED_CUTOFF = 1.0
#: Keys blended whole; ``theta`` is blended but for its trailing camera (``cam``'s length).
BLENDED = ("betas", "vertices", "joints3d")


def _orthonormal(m: np.ndarray) -> np.ndarray:
    """The nearest rotations to ``m (..., 3, 3)`` (polar decomposition by SVD)."""
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    flip = np.linalg.det(r) < 0
    if flip.any():
        u = u.copy()
        u[flip, :, -1] *= -1
        r = u @ vt
    return r


class _Track:
    def __init__(self) -> None:
        self.value: Optional[dict[str, np.ndarray]] = None
        self.speed = 0.0
        self.time: Optional[float] = None


class PoseSmoother:
    """One filter per track over the model's per-person outputs (module docstring); ``forget(track_id)`` when a
    track ends. ``min_cutoff <= 0`` passes everything through."""

    def __init__(self, min_cutoff: float = DEFAULT_POSE_MIN_CUTOFF, beta: float = DEFAULT_POSE_BETA) -> None:
        self.min_cutoff, self.beta = float(min_cutoff), float(beta)
        self.tracks: dict[int, _Track] = {}

    def smooth(self, ids: Sequence[int], results: dict[str, np.ndarray], time_s: Optional[float] = None) -> dict[str, np.ndarray]:
        """The model's outputs for the people ``ids`` (batch = ``len(ids)``) at ``time_s`` (seconds; None = one
        frame at 30 fps after the last), smoothed per track; a new dict, ``results`` is not changed."""
        if self.min_cutoff <= 0 or not ids or "joints3d" not in results:
            return results
        out = {k: np.array(v, copy=True) for k, v in results.items()}
        for i, tid in enumerate(ids):
            track = self.tracks.setdefault(int(tid), _Track())
            now = {k: np.asarray(out[k][i], np.float64) for k in (*BLENDED, "theta", "rotmat") if k in out}
            if track.value is None:
                track.value, track.time = now, time_s
                continue
            dt = DEFAULT_DT if time_s is None or track.time is None or time_s <= track.time else time_s - track.time
            track.time = time_s
            raw = float(np.linalg.norm(now["joints3d"] - track.value["joints3d"], axis=-1).max()) / dt
            track.speed += float(_alpha(SPEED_CUTOFF, dt)) * (raw - track.speed)
            a = float(_alpha(self.min_cutoff + self.beta * track.speed, dt))
            value = {}
            for k, x in now.items():
                blended = track.value[k] + a * (x - track.value[k])
                if k == "theta" and "cam" in out:  # the camera stays the frame's own
                    blended[-out["cam"].shape[-1]:] = x[-out["cam"].shape[-1]:]
                if k == "rotmat":
                    blended = _orthonormal(blended)
                value[k] = blended
            track.value = value
            for k, x in value.items():
                out[k][i] = x.astype(out[k].dtype)
            if "joints2d" in out and "cam" in out:
                cam = np.asarray(out["cam"][i], np.float64)
                out["joints2d"][i] = (cam[0] * (value["joints3d"][:, :2] + cam[1:3])).astype(out["joints2d"].dtype)
        return out

    def forget(self, track_id: int) -> None:
        self.tracks.pop(int(track_id), None)


def smooth_sequence(results: dict[str, np.ndarray], fps: float = 30.0, min_cutoff: float = DEFAULT_POSE_MIN_CUTOFF,
                    beta: float = DEFAULT_POSE_BETA) -> dict[str, np.ndarray]:
    """One person's outputs over a clip (every array ``(N, ...)``, frame by frame) through the same filter, causal,
    as the live app smooths them."""
    smoother = PoseSmoother(min_cutoff, beta)
    n = len(results["joints3d"])
    frames = [smoother.smooth([0], {k: v[t:t + 1] for k, v in results.items()}, t / fps) for t in range(n)]
    return {k: np.concatenate([f[k] for f in frames]) for k in results}
