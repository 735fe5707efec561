"""The 24-joint SMPL skeleton in numpy (no torch): joint names, rotations from Θ, the rest skeleton of a
body with shape β, and where a person stands — shared by the publishers (``realtime.publish``) and the
file exporters (``realtime.export``).

Axes. The network predicts bodies in its camera's axes (OpenCV: x right, y down, z away from the camera,
metres); the root rotation of a person facing the camera upright is a half turn about x. The *world*
used by the exporters and the 3D view is y up, z toward the camera: ``p_world = CAMERA_TO_WORLD @ p_cam``
with ``CAMERA_TO_WORLD = diag(1, -1, -1)``, itself a rotation (π about x), so a world root rotation is
``CAMERA_TO_WORLD @ R_root`` and the other joints' local rotations are unchanged. In the rest pose (a
T-pose) the body faces +z, its left is +x.

Translation. From the weak-perspective camera ``(s, tx, ty)`` and the crop square ``(cx, cy, side)``
(frame pixels), a pinhole camera of focal ``f`` (from a horizontal field of view, 60° by default, as the
3D view uses) and principal point at the frame centre puts the body at
``T = (tx + (cx − px)·Z/f, ty + (cy − py)·Z/f, Z)`` with ``Z = 2·f / (s·side)`` (camera axes, metres;
:func:`realtime.frame_camera.person_translations`): the model's points ``p`` sit at ``p + T``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from training.body.joint_sets import SMPL_JOINTS, SMPL_PARENTS
from training.body.model_file import OPEN_BODY_PATH, BodyModelFileError, load_body_file

from .frame_camera import person_translations

__all__ = [
    "CAMERA_TO_WORLD",
    "DEFAULT_FOV_DEG",
    "OPEN_BODY_PATH",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "RestBody",
    "camera_translations",
    "frame_focal",
    "load_rest_body",
    "matrix_to_axis_angle",
    "matrix_to_quat",
    "rot6d_to_matrix",
    "theta_rotations",
]

SMPL_JOINT_NAMES: tuple[str, ...] = SMPL_JOINTS  # the training package's tables: one definition for both sides
NUM_JOINTS = 24
CAMERA_TO_WORLD = np.diag([1.0, -1.0, -1.0])
DEFAULT_FOV_DEG = 60.0


def rot6d_to_matrix(x: np.ndarray) -> np.ndarray:
    """``(..., 6) -> (..., 3, 3)``: Gram–Schmidt on the two stored columns ``[R[:,0], R[:,1]]``
    (``training.body.rotations.rot6d_to_matrix`` in numpy)."""
    x = np.asarray(x, np.float64)
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    a2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), 1e-12)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def theta_rotations(theta: np.ndarray) -> np.ndarray:
    """Θ ``(..., 157)`` (24×6D ‖ β ‖ cam) → local joint rotations ``(..., 24, 3, 3)`` (root in camera axes)."""
    theta = np.asarray(theta)
    return rot6d_to_matrix(theta[..., : 6 * NUM_JOINTS].reshape(*theta.shape[:-1], NUM_JOINTS, 6))


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """``(..., 3, 3) -> (..., 3)`` axis × angle (radians, angle in [0, π])."""
    rot = np.asarray(rot, np.float64)
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(*rot.shape[:-2], 3)


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """``(..., 3, 3) -> (..., 4)`` unit quaternions ``(x, y, z, w)`` with ``w ≥ 0``."""
    rot = np.asarray(rot, np.float64)
    q = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_quat()
    q = np.where(q[:, 3:] < 0, -q, q)
    return q.reshape(*rot.shape[:-2], 4)


def frame_focal(width: float, fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """Focal length (pixels) of a camera ``width`` pixels wide with this horizontal field of view."""
    return (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)


def camera_translations(cam: np.ndarray, squares: np.ndarray, frame_size: tuple[int, int],
                        fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """``cam (B, 3)`` and crop ``squares (B, 3)`` ``(cx, cy, side)`` in a ``(width, height)`` frame →
    translations ``T (B, 3)`` in camera axes (metres); see the module docstring."""
    w, h = frame_size
    return person_translations(cam, squares, (w / 2.0, h / 2.0), frame_focal(w, fov_deg))


@dataclass(frozen=True)
class RestBody:
    """An SMPL-format body's rest data: ``v_template (V, 3)``, ``shapedirs (V, 3, S)``, ``j_regressor (24, V)``,
    ``weights (V, 24)``, ``faces (F, 3)``, ``parents (24,)``. Metres, +y up, facing +z, rest T-pose."""

    v_template: np.ndarray
    shapedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    faces: np.ndarray
    parents: tuple[int, ...]

    def vertices(self, betas: Optional[Sequence[float]] = None) -> np.ndarray:
        """The shaped rest mesh ``(V, 3)``: ``v_template + shapedirs · β`` (β truncated to the body's components)."""
        v = self.v_template.astype(np.float64)
        if betas is None or len(betas) == 0:
            return v
        b = np.asarray(betas, np.float64)[: self.shapedirs.shape[-1]]
        return v + self.shapedirs[..., : len(b)].astype(np.float64) @ b

    def joints(self, betas: Optional[Sequence[float]] = None) -> np.ndarray:
        """The rest joints ``(24, 3)``: ``J_regressor @ vertices(β)``."""
        return self.j_regressor.astype(np.float64) @ self.vertices(betas)

    def offsets(self, betas: Optional[Sequence[float]] = None) -> np.ndarray:
        """Each joint's rest offset from its parent ``(24, 3)``; the root's is its rest position."""
        j = self.joints(betas)
        out = j.copy()
        for i, p in enumerate(self.parents):
            if p >= 0:
                out[i] = j[i] - j[p]
        return out


@lru_cache(maxsize=4)
def load_rest_body(path: Optional[str] = None) -> RestBody:
    """The rest data of a body file (``training.body.model_file``'s reader, numpy only: the open-body ``.npz`` or
    official SMPL; default: the embedded open body). ``FileNotFoundError`` / ``ValueError`` in one line."""
    p = Path(path) if path else OPEN_BODY_PATH
    if not p.exists():
        raise FileNotFoundError(f"{p}: body model file not found (an open-body format .npz or SMPL .pkl is expected)")
    try:
        d = load_body_file(p)
    except BodyModelFileError as exc:
        raise ValueError(str(exc)) from None
    parents = tuple(int(v) for v in d.parents)
    if parents != SMPL_PARENTS:
        raise ValueError(f"{p}: kinematic tree {parents} is not SMPL's 24-joint tree")
    return RestBody(d.v_template, d.shapedirs, d.j_regressor, d.weights, d.faces.astype(np.int64), parents)
