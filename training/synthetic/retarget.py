"""Retarget CMU BVH motion (cgspeed MotionBuilder-style, 31 joints) onto the body's 24-joint SMPL tree.

Method (per frame ``t``, per SMPL joint ``k`` driven by CMU joint ``c(k)``):

1. ``D[t, c] = G[t, c] · G[0, c]ᵀ``: the world rotation that carries CMU joint ``c`` from the BVH
   T-pose (frame 0, added by the converter) to frame ``t``.
2. ``A[k]``: the smallest rotation taking the body's rest bone direction (joint ``k`` → its SMPL child)
   onto the BVH T-pose bone direction (``c`` → its CMU child); it absorbs the small differences
   between the two T-poses (collar elevation, leg slope, spine curve). Joints without a bone of
   their own (pelvis, head, feet, hands) inherit their parent's ``A``.
3. Body global rotation ``W[t, k] = D[t, c(k)] · A[k]`` (so the posed body bone points where the
   CMU bone points), then local ``R[t, k] = W[t, parent]ᵀ · W[t, k]`` → axis-angle.

Axes: the BVH is Y-up with the T-pose facing +Z and the subject's left on +X; the body is +y up,
faces +z, left +x: the same axes, so only units change (``scale``: BVH unit → body metres, fitted on
the T-pose). Fingers are not captured by CMU: the hands keep the wrist's orientation.

The body's skeleton is first brought near the subject's (:func:`fit_subject_betas`): the rest joints
are linear in β, and the β that best match the subject's T-pose (after the alignment ``A``, up to
scale) are kept within the generator's own shapes; the poses are then retargeted onto that shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..body import SMPL_JOINTS, SMPL_PARENTS, BodyModel
from ..body.lbs import chain_transforms, regress_joints, shape_blend
from ..bvh import BvhSkeleton, forward_kinematics, read_bvh

__all__ = [
    "CMU_TO_SMPL", "CMU_REFERENCE_POINTS", "MAJOR_JOINTS", "RetargetResult", "retarget_cmu",
    "retarget_bvh_file", "rest_joints", "cmu_skeleton_rest", "body_joints", "aligned_joint_error", "cmu_points", "retarget_error",
    "tpose_alignment", "aligned_tpose_joints", "tpose_error", "joint_shape_basis", "fit_subject_betas", "SUBJECT_BETA_CLIP",
    "SUBJECT_BETA_NORM",
]

J = {n: i for i, n in enumerate(SMPL_JOINTS)}

#: SMPL joint → (CMU joint whose global rotation drives it, CMU joint its bone points to) — the
#: second is ``None`` where the SMPL joint has no bone of its own (it inherits the parent's alignment).
#: LHipJoint/RHipJoint carry no motion in these files and fold into the pelvis (their rotations are
#: part of the UpLegs' globals); Neck1 folds into the head (head global = CMU Head global).
CMU_TO_SMPL: dict[str, tuple[str, Optional[str]]] = {
    "pelvis": ("Hips", None),
    "spine1": ("LowerBack", "Spine"),
    "spine2": ("Spine", "Spine1"),
    "spine3": ("Spine1", "Neck1"),
    "neck": ("Neck", "Neck1"),
    "head": ("Head", None),
    **{
        f"{side}_{smpl}": (f"{cmu_side}{cmu}", f"{cmu_side}{child}" if child else None)
        for side, cmu_side in (("left", "Left"), ("right", "Right"))
        for smpl, cmu, child in (
            ("hip", "UpLeg", "Leg"), ("knee", "Leg", "Foot"), ("ankle", "Foot", "ToeBase"),
            ("foot", "ToeBase", None), ("collar", "Shoulder", "Arm"), ("shoulder", "Arm", "ForeArm"),
            ("elbow", "ForeArm", "Hand"), ("wrist", "Hand", "HandIndex1"), ("hand", "Hand", None),
        )
    },
}

#: SMPL child joint whose direction from joint k is matched against the CMU bone.
_SMPL_BONE_CHILD = {
    "spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head",
    **{
        f"{s}_{a}": f"{s}_{b}"
        for s in ("left", "right")
        for a, b in (("hip", "knee"), ("knee", "ankle"), ("ankle", "foot"), ("collar", "shoulder"),
                     ("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "hand"))
    },
}

#: Where each major SMPL joint sits on the CMU skeleton (a CMU joint name, or a mid-point "A+B").
CMU_REFERENCE_POINTS: dict[str, str] = {
    "pelvis": "LeftUpLeg+RightUpLeg", "neck": "Neck1", "head": "Head",
    **{
        f"{side}_{smpl}": f"{cmu_side}{cmu}"
        for side, cmu_side in (("left", "Left"), ("right", "Right"))
        for smpl, cmu in (("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("shoulder", "Arm"),
                          ("elbow", "ForeArm"), ("wrist", "Hand"))
    },
}
#: The joints the retargeting error is measured on (15).
MAJOR_JOINTS: tuple[str, ...] = tuple(CMU_REFERENCE_POINTS)


@dataclass
class RetargetResult:
    pose: np.ndarray  # (T, 24, 3) axis-angle, body axes
    transl: np.ndarray  # (T, 3) metres: body(pose).joints + transl puts the pelvis where the CMU one is
    scale: float  # BVH unit → metres (T-pose fit onto the body's rest joints)
    cmu_points: np.ndarray  # (T, 15, 3) CMU reference points of MAJOR_JOINTS, metres (× scale)
    fps: float


def rest_joints(body: BodyModel, betas: Optional[torch.Tensor] = None) -> np.ndarray:
    """The body's rest-pose SMPL joints (24, 3) for ``betas`` (default: the mean shape)."""
    with torch.no_grad():
        b = torch.zeros(1, body.num_betas) if betas is None else betas.reshape(1, -1)
        return regress_joints(body.j_regressor, shape_blend(body.v_template, body.shapedirs, b))[0].double().numpy()


def body_joints(rest: np.ndarray, pose: np.ndarray, transl: Optional[np.ndarray] = None, batch: int = 4096) -> np.ndarray:
    """Posed SMPL joints (T, 24, 3) of rest joints (24, 3) and axis-angle pose (T, 24, 3) (+ transl (T, 3)),
    the body model's kinematic chain without the mesh (same maths as ``BodyModel.forward().joints``)."""
    pose = np.asarray(pose, np.float64).reshape(-1, 24, 3)
    out = np.empty_like(pose)
    r = torch.as_tensor(rest, dtype=torch.float64)
    for s in range(0, len(pose), batch):
        rot = torch.as_tensor(Rotation.from_rotvec(pose[s : s + batch].reshape(-1, 3)).as_matrix()).reshape(-1, 24, 3, 3)
        joints, _ = chain_transforms(rot, r.expand(len(rot), 24, 3), SMPL_PARENTS)
        out[s : s + batch] = joints.numpy()
    if transl is not None:
        out = out + np.asarray(transl)[:, None]
    return out


#: Where each SMPL joint sits on the CMU skeleton, for :func:`cmu_skeleton_rest` (the check that
#: gives the body the CMU subject's own proportions).
_CMU_SKELETON_POINTS: dict[str, str] = {
    "pelvis": "LeftUpLeg+RightUpLeg", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1",
    "neck": "Neck1", "head": "Head",
    **{
        f"{side}_{smpl}": f"{cmu_side}{cmu}"
        for side, cmu_side in (("left", "Left"), ("right", "Right"))
        for smpl, cmu in (("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"),
                          ("collar", "Shoulder"), ("shoulder", "Arm"), ("elbow", "ForeArm"),
                          ("wrist", "Hand"), ("hand", "HandIndex1"))
    },
}


def cmu_skeleton_rest(skel: BvhSkeleton, pos0: np.ndarray, scale: float) -> np.ndarray:
    """SMPL rest joints (24, 3) placed on the CMU T-pose (pos0 (J, 3), frame 0) × scale: a body
    skeleton with the subject's own proportions, to check the retargeting without proportion errors."""
    out = np.zeros((24, 3))
    for k, name in enumerate(SMPL_JOINTS):
        out[k] = pos0[[skel.index(p) for p in _CMU_SKELETON_POINTS[name].split("+")]].mean(0) * scale
    return out - out[0]


def _min_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking direction u onto direction v."""
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    axis = np.cross(u, v)
    s, c = np.linalg.norm(axis), float(np.dot(u, v))
    if s < 1e-9:
        return np.eye(3)  # parallel (antiparallel does not occur between two T-poses)
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def cmu_points(skel: BvhSkeleton, pos: np.ndarray) -> np.ndarray:
    """CMU reference points of MAJOR_JOINTS from FK positions pos (F, J, 3) → (F, 15, 3), BVH units."""
    cols = []
    for name in MAJOR_JOINTS:
        parts = [skel.index(p) for p in CMU_REFERENCE_POINTS[name].split("+")]
        cols.append(pos[:, parts].mean(1))
    return np.stack(cols, 1)


def tpose_alignment(skel: BvhSkeleton, pos0: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """The rotations ``A`` (24, 3, 3) that turn each rest body bone onto its CMU T-pose bone (pos0 (J, 3),
    frame 0); joints without a bone of their own take their parent's (the pelvis: identity)."""
    align = np.tile(np.eye(3), (24, 1, 1))
    for k, name in enumerate(SMPL_JOINTS):
        cmu, cmu_child = CMU_TO_SMPL[name]
        if cmu_child is None:
            if SMPL_PARENTS[k] >= 0:
                align[k] = align[SMPL_PARENTS[k]]
            continue
        v = pos0[skel.index(cmu_child)] - pos0[skel.index(cmu)]
        u = rest[J[_SMPL_BONE_CHILD[name]]] - rest[k]
        align[k] = _min_rotation(u, v)
    return align


def retarget_cmu(
    skel: BvhSkeleton, rot: np.ndarray, pos: np.ndarray, fps: float, rest: np.ndarray, step: int = 4
) -> RetargetResult:
    """Retarget CMU FK output onto the body.

    rot (F, J, 3, 3), pos (F, J, 3): :func:`.bvh.forward_kinematics` of a file whose frame 0 is the
    T-pose; rest (24, 3): the body's rest joints. Frames 1, 1 + step, … are kept (120 → 30 fps for
    step 4: exact decimation of 120 fps capture, which is smooth at that rate).
    """
    # Scale: least squares of the T-pose's reference points (centred on the pelvis) onto the rest body's.
    cmu0 = cmu_points(skel, pos[:1])[0]
    body0 = rest[[J[n] for n in MAJOR_JOINTS]]
    a, b = cmu0 - cmu0[0], body0 - body0[0]
    scale = float((a * b).sum() / (a * a).sum())

    align = tpose_alignment(skel, pos[0], rest)
    keep = np.arange(1, len(rot), step)
    drive = [skel.index(CMU_TO_SMPL[n][0]) for n in SMPL_JOINTS]
    delta = rot[keep][:, drive] @ np.swapaxes(rot[0, drive], -1, -2)[None]  # (T, 24, 3, 3)
    world = delta @ align[None]
    parents = np.asarray(SMPL_PARENTS[1:])
    local = world.copy()
    local[:, 1:] = np.swapaxes(world[:, parents], -1, -2) @ world[:, 1:]
    pose = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(keep), 24, 3)

    points = cmu_points(skel, pos[keep]) * scale
    # The body's pelvis joint sits a little above its hips' mid-point; carry that offset with the root.
    pelvis_over_hips = rest[0] - 0.5 * (rest[J["left_hip"]] + rest[J["right_hip"]])
    pelvis_target = points[:, 0] + world[:, 0] @ pelvis_over_hips
    transl = pelvis_target - rest[0]
    return RetargetResult(pose=pose, transl=transl, scale=scale, cmu_points=points, fps=fps / step)


def retarget_bvh_file(path, rest: np.ndarray, step: int = 4) -> RetargetResult:
    """Read and retarget one CMU BVH file (see :func:`retarget_cmu`)."""
    skel, motion = read_bvh(path)
    rot, pos = forward_kinematics(skel, motion)
    return retarget_cmu(skel, rot, pos, motion.fps, rest, step)


def aligned_joint_error(body_points: np.ndarray, cmu_points: np.ndarray) -> np.ndarray:
    """Per-frame, per-joint distances (T, 15) between body points and CMU points (T, 15, 3) (MAJOR_JOINTS
    order) after root alignment (both centred per frame on their hips' mid-point) and one least-squares
    scale of the CMU points for the whole clip."""
    hips = [MAJOR_JOINTS.index("left_hip"), MAJOR_JOINTS.index("right_hip")]
    bj = body_points - body_points[:, hips].mean(1, keepdims=True)
    cj = cmu_points - cmu_points[:, hips].mean(1, keepdims=True)
    s = float((bj * cj).sum() / (cj * cj).sum())
    return np.linalg.norm(bj - s * cj, axis=-1)


def retarget_error(result: RetargetResult, rest: np.ndarray) -> dict[str, float]:
    """Per-clip error (metres) of the posed body's joints (rest joints ``rest``) against the CMU points,
    see :func:`aligned_joint_error`: ``{"mean", "max_frame" (worst per-frame mean), <joint>: mean}``."""
    bj = body_joints(rest, result.pose)[:, [J[n] for n in MAJOR_JOINTS]]
    err = aligned_joint_error(bj, result.cmu_points)
    out = {"mean": float(err.mean()), "max_frame": float(err.mean(1).max())}
    out.update({n: float(err[:, i].mean()) for i, n in enumerate(MAJOR_JOINTS)})
    return out


# -- the subject's shape ---------------------------------------------------------------------------
#: Bounds of a fitted subject shape: each β within the generator's own clip (``SyntheticConfig.beta_clip``)
#: and ‖β‖ within the radius that holds 99 % of the N(0, I) shapes it draws (√χ²₁₀(0.99) = 4.8 for 10
#: betas): a body the training data could contain. Unbounded, the fit follows the CMU proportions only
#: with meshes that are no longer bodies (docs/motion/retarget.md).
SUBJECT_BETA_CLIP = 2.5
SUBJECT_BETA_NORM = 4.8


def joint_shape_basis(body: BodyModel, num_betas: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The rest joints are linear in β: (mean-shape joints (24, 3), joint offset per unit β (24, 3, S))."""
    with torch.no_grad():
        mean = regress_joints(body.j_regressor, body.v_template[None])[0]
        dirs = torch.einsum("kv,vcs->kcs", body.j_regressor, body.shapedirs[..., :num_betas])
    return mean.double().numpy(), dirs.double().numpy()


def aligned_tpose_joints(skel: BvhSkeleton, pos0: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """The body's joints (24, 3) posed by :func:`tpose_alignment` alone: its bones on the CMU T-pose's
    bone directions — what :func:`retarget_cmu` makes of the T-pose frame."""
    world = tpose_alignment(skel, pos0, rest)
    out = np.array(rest, dtype=np.float64, copy=True)
    for k, p in enumerate(SMPL_PARENTS[1:], start=1):
        out[k] = out[p] + world[p] @ (rest[k] - rest[p])
    return out


def tpose_error(skel: BvhSkeleton, pos0: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Per major joint (15,): :func:`aligned_joint_error` of the aligned rest body against the CMU T-pose."""
    body = aligned_tpose_joints(skel, pos0, rest)[[J[n] for n in MAJOR_JOINTS]]
    return aligned_joint_error(body[None], cmu_points(skel, pos0[None]))[0]


def fit_subject_betas(
    skel: BvhSkeleton, pos0: np.ndarray, basis: tuple[np.ndarray, np.ndarray],
    beta_clip: float = SUBJECT_BETA_CLIP, max_norm: float = SUBJECT_BETA_NORM,
) -> np.ndarray:
    """β (S,) whose rest joints (``basis``: :func:`joint_shape_basis`) best match the subject's T-pose pos0
    (J, 3): least squares of :func:`tpose_error` over the 15 major joints, |β_i| ≤ beta_clip, ‖β‖ ≤ max_norm
    (either may be ``inf``)."""
    from scipy.optimize import minimize

    mean, dirs = basis
    n = dirs.shape[-1]

    def cost(b: np.ndarray) -> float:
        return float((tpose_error(skel, pos0, mean + dirs @ b) ** 2).sum())

    bounds = [(-beta_clip, beta_clip)] * n if np.isfinite(beta_clip) else None
    norm = [{"type": "ineq", "fun": lambda b: max_norm**2 - b @ b, "jac": lambda b: -2 * b}] if np.isfinite(max_norm) else []
    fit = minimize(cost, np.zeros(n), method="SLSQP", bounds=bounds, constraints=norm, options={"maxiter": 300, "ftol": 1e-12})
    return fit.x
