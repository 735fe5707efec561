"""Camera geometry of the synthetic generator (numpy, float64).

Frames:

* **world**: +y up, metres; the floor is the plane ``y = floor_y``; bodies are posed here.
* **camera** (OpenCV): x right, y down, z forward; ``X_cam = R · X_world + t``.
* **image**: a virtual ``width × height`` camera with intrinsics ``K`` (pixel-index coordinates, the
  centre of pixel (0, 0) at (0, 0)).
* **crop**: a square box ``(cx, cy, b)`` in image pixels (centre, side), resampled to ``S × S``.
  Normalised crop coordinates: ``x_n = 2·(u − cx)/b`` (−1 … 1 over the box, x right, y down), the
  ``grid_sample(align_corners=False)`` convention of the project; crop pixel ``p = (x_n + 1)/2·S − 0.5``.

A crop projection ``(ax, bx, ay, by)`` maps camera points straight to normalised crop coordinates:
``x_n = ax·X/Z + bx`` with ``ax = 2·fx/b``, ``bx = 2·(cx_K − cx)/b`` (and likewise y).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from ..preprocessing import crop_square

__all__ = [
    "rotvec_to_matrix", "matrix_to_rotvec", "rot_x", "rot_y", "rot_z", "look_at", "project_image",
    "crop_projection", "project_crop", "crop_intrinsics", "crop_boxes", "fit_weak_perspective",
    "VertexNormals", "norm_to_pixel", "pixel_to_norm",
]


def rotvec_to_matrix(rv: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) → rotation matrices (..., 3, 3)."""
    rv = np.asarray(rv, np.float64)
    return Rotation.from_rotvec(rv.reshape(-1, 3)).as_matrix().reshape(*rv.shape[:-1], 3, 3)


def matrix_to_rotvec(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → axis-angle (..., 3)."""
    m = np.asarray(m, np.float64)
    return Rotation.from_matrix(m.reshape(-1, 3, 3)).as_rotvec().reshape(*m.shape[:-2], 3)


def rot_x(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*a.shape, 3, 3)


def rot_y(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*a.shape, 3, 3)


def rot_z(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*a.shape, 3, 3)


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """World→camera extrinsics (OpenCV axes) of cameras at ``eye`` (T, 3) looking at ``target`` (T, 3).

    Returns ``R`` (T, 3, 3) and ``t`` (T, 3) with ``X_cam = R·X_world + t``.
    """
    eye, target = np.atleast_2d(eye).astype(np.float64), np.atleast_2d(target).astype(np.float64)
    z = target - eye
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    down = -np.asarray(up, np.float64)
    x = np.cross(down, z)  # x = y × z with y ≈ down
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    r = np.stack([x, y, z], axis=-2)
    t = -np.einsum("tij,tj->ti", r, eye)
    return r, t


def project_image(points_cam: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Camera points (..., N, 3) → image pixels (..., N, 2) with intrinsics K (3, 3)."""
    z = points_cam[..., 2:3]
    return np.concatenate(
        [k[0, 0] * points_cam[..., :1] / z + k[0, 2], k[1, 1] * points_cam[..., 1:2] / z + k[1, 2]], -1
    )


def crop_projection(k: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intrinsics (3, 3) and crop boxes (T, 3) = (cx, cy, side) → crop projections (T, 4) = (ax, bx, ay, by)."""
    cx, cy, b = boxes[:, 0], boxes[:, 1], boxes[:, 2]
    return np.stack([2 * k[0, 0] / b, 2 * (k[0, 2] - cx) / b, 2 * k[1, 1] / b, 2 * (k[1, 2] - cy) / b], -1)


def project_crop(points_cam: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """Camera points (T, N, 3) and crop projections (T, 4) → normalised crop coordinates (T, N, 2)."""
    z = points_cam[..., 2]
    x = proj[:, None, 0] * points_cam[..., 0] / z + proj[:, None, 1]
    y = proj[:, None, 2] * points_cam[..., 1] / z + proj[:, None, 3]
    return np.stack([x, y], -1)


def crop_intrinsics(proj: np.ndarray, size: int) -> np.ndarray:
    """The pinhole intrinsics (T, 3, 3) of the crop itself, in crop pixel-index coordinates."""
    h = size / 2.0
    k = np.zeros((proj.shape[0], 3, 3))
    k[:, 0, 0] = proj[:, 0] * h
    k[:, 0, 2] = proj[:, 1] * h + h - 0.5
    k[:, 1, 1] = proj[:, 2] * h
    k[:, 1, 2] = proj[:, 3] * h + h - 0.5
    k[:, 2, 2] = 1.0
    return k


def norm_to_pixel(x: np.ndarray, size: int) -> np.ndarray:
    return (np.asarray(x) + 1.0) / 2.0 * size - 0.5


def pixel_to_norm(p: np.ndarray, size: int) -> np.ndarray:
    return (np.asarray(p) + 0.5) / size * 2.0 - 1.0


def crop_boxes(
    pixels: np.ndarray, scale: float = 1.2, smooth_sigma: float = 1.5, jitter: np.ndarray | None = None
) -> np.ndarray:
    """VIBE-style square crops: the tight box of the projected body (T, N, 2) → (T, 3) = (cx, cy, side).

    Side = ``scale`` × the longer side of the tight box; centre and side are smoothed over time
    (Gaussian, ``smooth_sigma`` frames). ``jitter`` (T, 3) = (dx, dy, dlog_side) in units of the side,
    applied before smoothing, imitates detector noise.
    """
    lo, hi = pixels.min(axis=1), pixels.max(axis=1)
    square = crop_square(np.concatenate([(lo + hi) / 2, np.maximum(hi - lo, 1e-6)], axis=1), scale)
    centre, side = square[:, :2], square[:, 2]
    if jitter is not None:
        centre = centre + jitter[:, :2] * side[:, None]
        side = side * np.exp(jitter[:, 2])
    if smooth_sigma > 0 and len(side) > 1:
        centre = gaussian_filter1d(centre, smooth_sigma, axis=0, mode="nearest")
        side = np.exp(gaussian_filter1d(np.log(side), smooth_sigma, mode="nearest"))
    return np.concatenate([centre, side[:, None]], axis=1)


def fit_weak_perspective(points: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Least-squares weak-perspective cameras: points (T, J, 3), target xy (T, J, 2) → (T, 3) = (s, tx, ty)
    minimising ``‖s·(X_xy + t) − xy‖²`` (the model of ``training.model.params.project_weak_perspective``)."""
    t_, j = points.shape[:2]
    cams = np.zeros((t_, 3))
    for i in range(t_):
        a = np.zeros((2 * j, 3))
        a[0::2, 0] = points[i, :, 0]
        a[0::2, 1] = 1.0
        a[1::2, 0] = points[i, :, 1]
        a[1::2, 2] = 1.0
        sol, *_ = np.linalg.lstsq(a, xy[i].reshape(-1), rcond=None)
        s = sol[0]
        cams[i] = (s, sol[1] / s, sol[2] / s)
    return cams


class VertexNormals:
    """Area-weighted vertex normals of a fixed topology, as one sparse product per frame."""

    def __init__(self, faces: np.ndarray, num_vertices: int) -> None:
        f = np.asarray(faces, np.int64)
        self.faces = f
        rows = f.reshape(-1)
        cols = np.repeat(np.arange(len(f)), 3)
        self.incidence = sparse.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(num_vertices, len(f)), dtype=np.float32
        )

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """v (N, 3) → unit normals (N, 3)."""
        f = self.faces
        v = np.asarray(v, np.float32)
        fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        n = self.incidence @ fn
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
