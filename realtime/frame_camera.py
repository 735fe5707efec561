"""From the network's weak-perspective camera in a person's crop to one pinhole camera for the whole frame.

The network predicts, per person, vertices ``V`` in its camera's axes (x right, y down, z away from
the camera: OpenCV's) up to translation, and a weak-perspective camera ``(s, tx, ty)`` in the crop's
normalised coordinates: ``x_crop = s · (X + tx)``. With the crop square ``(cx, cy, side)`` in frame
pixels, a point lands on the frame at ``u = cx + x_crop · side / 2`` (the convention of
``realtime.person_inputs.FrameInputs.to_frame``).

A pinhole camera with focal ``f`` and principal point ``(px, py)`` reproduces that exactly for points
at one depth: place the person at ``Z = 2f / (s · side)`` and shift it by ``(cx − px) · Z / f`` (and
likewise in y). This is how VIBE renders its results (SPIN's focal of 5,000 px keeps the perspective
faint). Every person then lives in one 3D space: the overlay draws them with that camera, the 3D view
shows them where they stand relative to each other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FOCAL_PX", "crop_squares", "person_translations", "to_world"]

#: Focal length (pixels) of the frame camera; large, so that weak and full perspective nearly agree.
FOCAL_PX = 5000.0


def crop_squares(matrices: np.ndarray, crop_size: int) -> np.ndarray:
    """``(B, 2, 3)`` frame→crop affine maps (``training.preprocessing.crop_affine``) → ``(B, 3)`` squares
    ``(cx, cy, side)`` in frame pixels."""
    m = np.asarray(matrices, np.float64).reshape(-1, 2, 3)
    scale = m[:, 0, 0]  # crop pixels per frame pixel
    side = crop_size / scale
    cx = (crop_size / 2.0 - m[:, 0, 2]) / scale
    cy = (crop_size / 2.0 - m[:, 1, 2]) / scale
    return np.stack([cx, cy, side], axis=1)


def person_translations(cam: np.ndarray, squares: np.ndarray, principal: tuple[float, float],
                        focal: float = FOCAL_PX) -> np.ndarray:
    """Weak-perspective ``cam (B, 3)`` and crop ``squares (B, 3)`` → translations ``(B, 3)`` (camera axes,
    metres) such that ``focal · (V + T)_xy / (V + T)_z + principal`` lands where the crop put each vertex."""
    cam = np.asarray(cam, np.float64).reshape(-1, 3)
    sq = np.asarray(squares, np.float64).reshape(-1, 3)
    s = np.maximum(cam[:, 0], 1e-3)  # a degenerate (≤ 0) scale would put the person behind the camera
    z = 2.0 * focal / (s * sq[:, 2])
    x = cam[:, 1] + (sq[:, 0] - principal[0]) * z / focal
    y = cam[:, 2] + (sq[:, 1] - principal[1]) * z / focal
    return np.stack([x, y, z], axis=1)


def to_world(points: np.ndarray) -> np.ndarray:
    """Camera axes (x right, y down, z forward) → the 3D view's world (x right, y up, z toward the camera)."""
    p = np.asarray(points, np.float64)
    return p * np.array([1.0, -1.0, -1.0])
