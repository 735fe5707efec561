"""The CMU motion library: BVH reader, retargeting, the committed library file, mirroring, coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from training.bvh import forward_kinematics, parse_bvh
from training.synthetic.motion_library import (
    BODY_PARTS,
    MOTION_LIBRARY_PATH,
    SPLITS,
    body_part_joints,
    load_motion_library,
    mirror_motion,
    mirror_permutation,
)

CMU_DIR = Path(__file__).resolve().parents[2] / "shared" / "motion" / "cmu"
needs_cmu = pytest.mark.skipif(
    not (CMU_DIR / "09_01.bvh").is_file(), reason=f"CMU BVH files not present at {CMU_DIR} (../shared/motion/cmu)"
)

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 2 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: .0083333
0 10 0 0 0 0 0 0 0
1 10 2 0 90 0 90 0 30
"""


# -- BVH reader ------------------------------------------------------------------------------------
def test_bvh_reader_tiny_file():
    skel, motion = parse_bvh(TINY_BVH)
    assert skel.names == ["Hips", "Arm"] and skel.parents == [-1, 0]
    assert np.allclose(skel.end_sites[1], [2, 0, 0])
    assert motion.values.shape == (2, 9) and motion.fps == pytest.approx(120, rel=1e-3)
    rot, pos = forward_kinematics(skel, motion)
    assert np.allclose(pos[0], [[0, 10, 0], [1, 10, 0]])
    # frame 1: root turned 90° about +y takes the arm offset (1, 0, 0) to (0, 0, −1)
    assert np.allclose(rot[1, 0], Rotation.from_euler("y", 90, degrees=True).as_matrix())
    assert np.allclose(pos[1, 1], [1, 10, 2 - 1], atol=1e-9)
    # channel order Z, Y, X = intrinsic rotations: local = Rz · Ry · Rx
    local = Rotation.from_euler("z", 90, degrees=True) * Rotation.from_euler("x", 30, degrees=True)
    assert np.allclose(rot[1, 1], rot[1, 0] @ local.as_matrix())


def test_bvh_reader_rejects_bad_frame_count():
    with pytest.raises(ValueError, match="header says"):
        parse_bvh(TINY_BVH.replace("Frames: 2", "Frames: 3"))


# -- retargeting on a real clip --------------------------------------------------------------------
@needs_cmu
def test_retarget_short_clip_follows_the_cmu_skeleton():
    from training.body import BodyModel
    from training.bvh import read_bvh
    from training.synthetic.retarget import MAJOR_JOINTS, cmu_skeleton_rest, rest_joints, retarget_cmu, retarget_error

    skel, motion = read_bvh(CMU_DIR / "09_01.bvh")
    rot, pos = forward_kinematics(skel, motion)
    rest = rest_joints(BodyModel.open())
    res = retarget_cmu(skel, rot, pos, motion.fps, rest)
    assert res.fps == pytest.approx(30, rel=1e-3) and res.pose.shape == (len(range(1, len(rot), 4)), 24, 3)
    # The method itself: onto a body skeleton with the subject's own proportions the joints follow the
    # CMU joints. Measured (09_01): 0.2 cm mean, limbs < 0.1 cm; the neck/head keep ~1.5 cm from the
    # folded CMU Neck/Neck1 rotations. Bounds with a wide margin: 1.5 cm mean, 0.5 cm per limb joint.
    own_rest = cmu_skeleton_rest(skel, pos[0], res.scale)
    own = retarget_error(retarget_cmu(skel, rot, pos, motion.fps, own_rest), own_rest)
    assert own["mean"] < 0.015
    limbs = [n for n in MAJOR_JOINTS if n.split("_")[-1] in ("knee", "ankle", "elbow", "wrist")]
    assert max(own[n] for n in limbs) < 0.005
    # On the mean-shape body the error is the skeletons' proportion difference: measured 11.2 cm,
    # the same as between the two T-poses (11.3 cm); the motion adds nothing beyond a few cm.
    body = retarget_error(res, rest)
    assert body["mean"] < 0.16


@needs_cmu
def test_subject_shape_fit_stays_in_the_generators_range_and_narrows_the_gap():
    import torch

    from training.body import BodyModel
    from training.bvh import read_bvh
    from training.synthetic.retarget import (
        SUBJECT_BETA_CLIP, SUBJECT_BETA_NORM, aligned_tpose_joints, body_joints, fit_subject_betas, joint_shape_basis,
        rest_joints, retarget_cmu, retarget_error, tpose_error,
    )

    body = BodyModel.open()
    skel, motion = read_bvh(CMU_DIR / "09_01.bvh")
    rot, pos = forward_kinematics(skel, motion)
    basis = joint_shape_basis(body)
    betas = fit_subject_betas(skel, pos[0], basis)
    assert betas.shape == (10,) and np.abs(betas).max() <= SUBJECT_BETA_CLIP + 1e-6
    assert np.linalg.norm(betas) <= SUBJECT_BETA_NORM + 1e-6
    rest = basis[0] + basis[1] @ betas
    assert np.allclose(rest, rest_joints(body, torch.as_tensor(betas, dtype=torch.float32)), atol=1e-5)  # the basis is exact
    # the fitted objective is what the retargeting makes of the T-pose frame
    t_pose = retarget_cmu(skel, rot[[0, 0]], pos[[0, 0]], motion.fps, rest, step=1)
    assert np.abs(body_joints(rest, t_pose.pose)[0] - aligned_tpose_joints(skel, pos[0], rest)).max() < 1e-9
    # Measured (09_01): T-pose 11.3 → 6.5 cm, the clip 11.2 → 7.7 cm; the rest is the CMU proportions the
    # body's shapes do not reach (docs/motion/retarget.md).
    mean_rest = basis[0]
    assert tpose_error(skel, pos[0], rest).mean() < 0.75 * tpose_error(skel, pos[0], mean_rest).mean()
    fitted = retarget_error(retarget_cmu(skel, rot, pos, motion.fps, rest), rest)["mean"]
    assert fitted < 0.085 and fitted < 0.8 * retarget_error(retarget_cmu(skel, rot, pos, motion.fps, mean_rest), mean_rest)["mean"]


# -- the committed library -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lib():
    return load_motion_library()


def test_library_file_layout(lib):
    assert MOTION_LIBRARY_PATH.stat().st_size < 20e6
    assert lib.fps == 30.0
    assert lib.pose.dtype == np.float16 and lib.pose.shape[1:] == (24, 3)
    assert lib.transl.shape == (len(lib.pose), 3)
    assert lib.clip_lengths.sum() == len(lib.pose)
    assert np.array_equal(lib.clip_starts[1:], np.cumsum(lib.clip_lengths)[:-1]) and lib.clip_starts[0] == 0
    assert len(lib) == len(lib.clip_names) == len(lib.clip_subjects) == len(lib.clip_splits) == 98
    assert np.isfinite(lib.pose.astype(np.float32)).all() and np.isfinite(lib.transl).all()
    assert set(lib.subject_betas) == set(lib.clip_subjects.tolist())
    assert all(b.shape == (10,) and np.linalg.norm(b) < 4.81 and np.abs(b).max() <= 2.5 for b in lib.subject_betas.values())
    assert lib.retarget_error_m.shape == (len(lib),) and (lib.retarget_error_m < lib.retarget_error_mean_shape_m).all()


def test_library_clips_carry_their_subject_shape(lib):
    """Each clip's poses were retargeted onto its subject's stored shape: the posed body's joints follow the CMU
    skeleton to the error the library records (docs/motion/retarget.md)."""
    import torch

    from training.body import SMPL_JOINTS, BodyModel
    from training.bvh import read_bvh
    from training.synthetic.retarget import MAJOR_JOINTS, aligned_joint_error, body_joints, cmu_points, rest_joints

    clip = next(c for c in lib.clips("train") if c.name == "09_01")
    assert clip.betas is not None and np.array_equal(clip.betas, lib.subject_betas[9])
    if not (CMU_DIR / "09_01.bvh").is_file():
        pytest.skip(f"CMU BVH files not present at {CMU_DIR}")
    skel, motion = read_bvh(CMU_DIR / "09_01.bvh")
    _, pos = forward_kinematics(skel, motion)
    rest = rest_joints(BodyModel.open(), torch.as_tensor(clip.betas))
    joints = body_joints(rest, clip.pose.astype(np.float64))[:, [SMPL_JOINTS.index(n) for n in MAJOR_JOINTS]]
    err = aligned_joint_error(joints, cmu_points(skel, pos[1::4])).mean()
    assert err == pytest.approx(float(lib.retarget_error_m[lib.clip_names.index("09_01")]), abs=0.002)  # float16 poses


def test_library_file_from_before_the_shape_fit_still_loads(tmp_path):
    with np.load(MOTION_LIBRARY_PATH) as z:
        arrays = {k: z[k] for k in z.files if k not in ("subject_ids", "subject_betas", "retarget_error_mean_shape_m")}
    np.savez(tmp_path / "old.npz", **arrays)
    old = load_motion_library(tmp_path / "old.npz")
    assert old.subject_betas == {} and old.retarget_error_mean_shape_m is None
    assert old.clips("val")[0].betas is None and len(old.clips("val")[0]) > 0


def test_library_splits_disjoint_by_subject(lib):
    subjects = {s: set(lib.clip_subjects[[i for i in range(len(lib)) if lib.clip_splits[i] == s]]) for s in SPLITS}
    assert all(subjects[s] for s in SPLITS)
    assert not (subjects["train"] & subjects["val"]) and not (subjects["train"] & subjects["test"])
    assert not (subjects["val"] & subjects["test"])
    assert {s: sorted(v) for s, v in subjects.items()} == {s: sorted(v) for s, v in lib.split_subjects.items()}
    assert sum(len(lib.clips(s)) for s in SPLITS) == len(lib)


def test_library_carries_the_cmu_acknowledgement(lib):
    for text in (lib.acknowledgement, (MOTION_LIBRARY_PATH.parent / "CMU_MOTION_NOTICE.md").read_text()):
        assert "The data used in this project was obtained from mocap.cs.cmu.edu." in text
        assert "The database was created with funding from NSF EIA-0196217." in text
    assert "you may not resell this data directly, even in converted form" in lib.terms


def test_mirror_twice_is_identity(lib):
    clip = lib.clips("test")[0]
    once = mirror_motion(clip.pose, clip.transl, lib.joint_names)
    twice = mirror_motion(*once, lib.joint_names)
    assert np.array_equal(twice[0], clip.pose) and np.array_equal(twice[1], clip.transl)
    mirrored = lib.clips("test", mirror=True)
    assert len(mirrored) == 2 * len(lib.clips("test")) and sum(c.mirrored for c in mirrored) == len(lib.clips("test"))


def test_mirrored_pose_joints_are_the_reflection(lib):
    from training.body import BodyModel
    from training.synthetic.retarget import body_joints, rest_joints

    perm = mirror_permutation(lib.joint_names)
    rest = rest_joints(BodyModel.open())
    rest = 0.5 * (rest + rest[perm] * np.array([-1.0, 1.0, 1.0]))  # exactly symmetric (the open body's head joint sits 1.5 mm off the midline)
    clip = lib.clips("train")[0]
    pose, transl = clip.pose[::20].astype(np.float64), clip.transl[::20].astype(np.float64)
    joints = body_joints(rest, pose, transl)
    mpose, mtransl = mirror_motion(pose, transl, lib.joint_names)
    mjoints = body_joints(rest, mpose, mtransl)
    reflected = joints[:, perm] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mjoints - reflected).max() < 1e-6


def test_sample_window_and_motion_source(lib):
    rng = np.random.default_rng(0)
    pose, transl = lib.sample_window(rng, 16, split="val")
    assert pose.shape == (16, 24, 3) and transl.shape == (16, 3)
    source = lib.motion_source("train")
    p, t = source(rng, 16, 15.0)  # the generator's signature; 15 fps steps every 2nd frame
    assert p.shape == (16, 72) and t.shape == (16, 3) and np.allclose(t[0, [0, 2]], 0)


def test_part_mix_moves_whole_limbs_from_other_windows(lib):
    parts = {p: set(body_part_joints(lib.joint_names, p).tolist()) for p in BODY_PARTS}
    assert all(parts.values()) and not (parts["legs"] & parts["left_arm"]) and not (parts["left_arm"] & parts["right_arm"])
    names = [lib.joint_names[i] for i in sorted(parts["legs"])]
    assert "left_knee" in names and "right_foot" in names and "pelvis" not in names
    limbs = set().union(*parts.values())
    # part_mix 0 makes no extra draws: the same window as before the option existed
    a = lib.sample_window(np.random.default_rng(3), 16, "train")
    b = lib.sample_window(np.random.default_rng(3), 16, "train", part_mix=0.0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # part_mix 1: the root, spine and head and the horizontal translation are the first window's; every limb is
    # replaced, and the pelvis height comes with the legs
    pose, transl = lib.sample_window(np.random.default_rng(3), 16, "train", part_mix=1.0)
    first, first_transl = a
    kept = [i for i in range(24) if i not in limbs]
    assert np.array_equal(pose[:, kept], first[:, kept]) and np.array_equal(transl[:, [0, 2]], first_transl[:, [0, 2]])
    for part, idx in parts.items():
        assert not np.allclose(pose[:, sorted(idx)], first[:, sorted(idx)]), part
    # each limb is one recorded window's: it equals a window the library holds, frame for frame
    rng = np.random.default_rng(3)
    lib.sample_window(rng, 16, "train")  # the first window's draws
    legs_window = None
    for part in BODY_PARTS:
        rng.random()
        other, other_transl = lib.sample_window(rng, 16, "train")
        idx = sorted(parts[part])
        assert np.array_equal(pose[:, idx], other[:, idx])
        if part == "legs":
            legs_window = other_transl
    assert np.array_equal(transl[:, 1], legs_window[:, 1])
    with pytest.raises(ValueError, match="part must be one of"):
        body_part_joints(lib.joint_names, "tail")


# -- coverage flags --------------------------------------------------------------------------------
def test_pose_flags_on_built_poses():
    from training.body import SMPL_JOINTS, BodyModel
    from training.synthetic.motion_coverage import pose_flags
    from training.synthetic.retarget import body_joints, rest_joints

    rest = rest_joints(BodyModel.open())
    j = {n: i for i, n in enumerate(SMPL_JOINTS)}
    pose = np.zeros((3, 24, 3))
    pose[1, j["left_hip"]] = [-np.radians(80), 0, 0]  # thigh raised forward 80° (−x rotation lifts +z)
    pose[1, j["left_knee"]] = [np.radians(100), 0, 0]
    pose[2, 0] = [np.radians(60), 0, 0]  # whole body pitched forward 60°
    flags = pose_flags(body_joints(rest, pose), pose[:, 0])
    assert not any(v[0] for v in flags.values())
    assert flags["hip_flexion_60"][1] and flags["knee_flexion_90"][1]
    assert flags["torso_pitch_45"][2] and not flags["torso_pitch_70"][2] and not flags["hip_flexion_60"][2]
