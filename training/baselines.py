"""The baselines any model must beat, and the per-frame joint errors they are scored with.

* **MediaPipe's world landmarks**: its own hip, knee, … landmarks as they are (:data:`MEDIAPIPE_LIMBS`, the
  12 limb joints in LSP order; MediaPipe has no neck or head top, and its hips sit higher and wider than
  the evaluators');
* **the per-frame fit**: the body fitted to those world landmarks (:func:`training.fitting.fit_landmarks`,
  frames independent) and its LSP-14 joints and mesh (:func:`fit_bodies`) — MediaPipe's evidence with the
  evaluators' joint definitions.

Which of a body's points stand for the labels' 14 joints depends on the data set (:data:`JOINT_DEFINITIONS`):
:func:`evaluation_joints` picks them, for a model's results and the fit alike.

:func:`joint_errors` gives per-frame MPJPE (mid-hips aligned) and PA-MPJPE in mm, optionally over only the
labelled joints of each frame. Used by ``tools/eval_baselines.py`` (generated clips) and
``dtsvibe-eval --frames`` (``realtime.frames_eval``: still test frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .data.still_frames import JOINT_KEYS
from .metrics import LSP14_PELVIS, mpjpe, pa_mpjpe

__all__ = ["FittedBodies", "JOINT_DEFINITIONS", "LIMBS12", "evaluation_joints", "LSP14_IN_SPIN49", "MEDIAPIPE_LIMBS", "fit_bodies", "fitted_lsp14", "joint_errors"]

#: The 12 limb joints are the first 12 of the LSP-14 order (r ankle, r knee, r hip, l hip, l knee, l ankle,
#: r wrist, r elbow, r shoulder, l shoulder, l elbow, l wrist); neck and head top follow. Hips: 2 and 3 in both.
LIMBS12 = list(range(12))
#: ``spin49[25:39]`` are the LSP-14 joints (the first 14 of its ground-truth 24).
LSP14_IN_SPIN49 = list(range(25, 39))
#: MediaPipe's 33 landmarks → the 12 limb joints in LSP order.
MEDIAPIPE_LIMBS = [28, 26, 24, 23, 25, 27, 16, 14, 12, 11, 13, 15]
#: Which of the body's points are compared with the labels' LSP-14 joints: ``h36m`` — its Human3.6M joints (the
#: ``h36m17`` set: SMPL's ``J_regressor_h36m``) taken to LSP-14 as Human3.6M's labels are (``H36M17_TO_LSP14``),
#: the points SPIN and VIBE score Human3.6M, MPI-INF-3DHP and 3DPW on; ``lsp`` — its LSP joints (``spin49[25:39]``),
#: the generated clips' labels. Human3.6M's hips sit higher and closer together than the LSP ones (on the open body
#: 4.6 cm each, their middle 3.8 cm higher) and its neck is the thorax: scoring one set against labels of the other
#: adds that offset to every frame.
JOINT_DEFINITIONS = JOINT_KEYS


def evaluation_joints(body, definition: str, vertices: torch.Tensor, spin49: torch.Tensor) -> torch.Tensor:
    """The LSP-14 joints ``(B, 14, 3)`` of posed bodies under ``definition`` (:data:`JOINT_DEFINITIONS`), from
    their ``vertices (B, V, 3)`` and ``spin49`` joints ``(B, 49, 3)`` (a model's outputs, a live result)."""
    if definition == "lsp":
        return spin49[:, LSP14_IN_SPIN49]
    if definition == "h36m":
        from .data.still_frames import H36M17_TO_LSP14

        return body.landmark_set_from_vertices(vertices, "h36m17")[:, H36M17_TO_LSP14]
    raise ValueError(f"unknown joint definition {definition!r}; choose one of {', '.join(JOINT_DEFINITIONS)}")


def joint_errors(pred: np.ndarray, target: np.ndarray, visible: Optional[np.ndarray] = None,
                 hips: tuple[int, int] = LSP14_PELVIS) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame MPJPE (both skeletons centred on their mid-``hips``) and PA-MPJPE (similarity Procrustes),
    in mm, of ``(N, J, 3)`` joints in metres. ``visible`` ``(N, J)`` bool: only those joints count (each
    frame's Procrustes uses them alone); a frame without both hips has no MPJPE, one with fewer than 3
    joints neither (NaN)."""
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred {pred.shape} and target {target.shape}: expected both (N, J, 3)")
    n, j = pred.shape[:2]
    vis = np.ones((n, j), bool) if visible is None else np.asarray(visible, bool)
    m, pa = np.full(n, np.nan), np.full(n, np.nan)
    patterns, group = np.unique(vis, axis=0, return_inverse=True)
    for g, pattern in enumerate(patterns):
        rows = np.flatnonzero(group.reshape(-1) == g)
        joints = np.flatnonzero(pattern)
        if len(joints) < 3:
            continue
        p, t = torch.from_numpy(pred[rows][:, joints]), torch.from_numpy(target[rows][:, joints])
        pa[rows] = 1000 * pa_mpjpe(p, t).numpy()
        if all(pattern[h] for h in hips):
            at = [int(np.flatnonzero(joints == h)[0]) for h in hips]
            m[rows] = 1000 * mpjpe(p, t, pelvis_align=True, pelvis_index=tuple(at)).numpy()
    return m, pa


@dataclass
class FittedBodies:
    """The per-frame fit's bodies: LSP-14 ``joints (N, 14, 3)``, ``vertices (N, V, 3)`` (None unless asked for),
    metres, hip-centred like the landmarks, MediaPipe's camera axes; the landmark ``residual (N,)`` in metres."""

    joints: np.ndarray
    residual: np.ndarray
    vertices: Optional[np.ndarray] = None


def fit_bodies(world: np.ndarray, visibility: np.ndarray, body=None, prior=None, iters: int = 300,
               chunk: int = 2048, vertices: bool = False, definition: str = "lsp") -> FittedBodies:
    """The per-frame fit baseline: the body fitted to MediaPipe world landmarks ``(N, 33, 3)`` (visibility
    ``(N, 33)``), each frame's pose on its own, one body shape per ``chunk`` frames (``fit_landmarks`` fits one
    shape for what it is given: pass one person's frames, or a chunk of frames of many); its LSP-14 joints under
    ``definition`` (:func:`evaluation_joints`)."""
    from .body import BodyModel
    from .fitting import PosePrior, fit_landmarks

    body = body or BodyModel.open()
    prior = prior or PosePrior.from_motion_library()
    joints, residual, verts = [], [], []
    for s in range(0, len(world), chunk):
        fit = fit_landmarks(world[s:s + chunk], visibility[s:s + chunk], body=body, prior=prior, iters=iters)
        with torch.no_grad():
            pose = torch.as_tensor(fit.pose)
            out = body(pose, torch.as_tensor(fit.betas)[None].expand(len(pose), -1))
            joints.append(evaluation_joints(body, definition, out.vertices, body.joint_set(out, "spin49")).numpy())
            if vertices:
                verts.append(out.vertices.numpy())
        residual.append(fit.residual)
    if not joints:
        return FittedBodies(np.zeros((0, 14, 3), np.float32), np.zeros(0, np.float32),
                            np.zeros((0, body.num_vertices, 3), np.float32) if vertices else None)
    return FittedBodies(np.concatenate(joints), np.concatenate(residual), np.concatenate(verts) if vertices else None)


def fitted_lsp14(world: np.ndarray, visibility: np.ndarray, body=None, prior=None, iters: int = 300,
                 chunk: int = 2048, definition: str = "lsp") -> tuple[np.ndarray, np.ndarray]:
    """:func:`fit_bodies`' LSP-14 joints and residual: ``(joints (N, 14, 3), residual (N,) metres)``."""
    fit = fit_bodies(world, visibility, body, prior, iters, chunk, definition=definition)
    return fit.joints, fit.residual
