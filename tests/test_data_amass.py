"""AMASS loading, SMPL-H → SMPL, Slerp resampling and motion windows, on synthetic .npz files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from training.body.rotations import matrix_to_rot6d
from training.data import AmassMotionDataset, load_amass_npz, resample_rotations


def constant_velocity(n: int, fps: float, joints: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 3·joints) axis-angle of R_j(t) = exp(ω_j t a_j) · R0_j, plus the axes·ω and R0 to recompute it."""
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(joints, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    omega = rng.uniform(-2 * np.pi, 2 * np.pi, size=(joints, 1))  # up to a turn per second: angles wrap past π
    r0 = Rotation.random(joints, random_state=seed)
    return _rot_at(np.arange(n) / fps, axes * omega, r0), axes * omega, r0


def _rot_at(times: np.ndarray, w: np.ndarray, r0: Rotation) -> np.ndarray:
    out = np.empty((len(times), len(w), 3))
    for j in range(len(w)):
        out[:, j] = (Rotation.from_rotvec(times[:, None] * w[j]) * r0[j]).as_rotvec()
    return out.reshape(len(times), -1)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (rad) between axis-angle rotations a, b of shape (..., 3·J)."""
    ra, rb = Rotation.from_rotvec(a.reshape(-1, 3)), Rotation.from_rotvec(b.reshape(-1, 3))
    return (ra.inv() * rb).magnitude()


def write_npz(path: Path, poses: np.ndarray, fps: float, fps_key: str = "mocap_framerate", **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, poses=poses, trans=np.zeros((len(poses), 3)), betas=np.arange(16) * 0.1, gender="neutral", **{fps_key: fps}, **extra)
    return path


def test_integer_ratio_keeps_every_kth_frame_exactly():
    pose, _, _ = constant_velocity(121, 120.0)
    out = resample_rotations(pose, 120.0, 30.0)
    assert out.shape == (31, 72)
    np.testing.assert_array_equal(out, pose[::4])


@pytest.mark.parametrize("src_fps", [60.0, 50.0, 24.0])
def test_slerp_resampling_of_constant_angular_velocity(src_fps: float):
    n = int(2.3 * src_fps)
    pose, w, r0 = constant_velocity(n, src_fps, seed=int(src_fps))
    out = resample_rotations(pose, src_fps, 30.0)
    duration = (n - 1) / src_fps
    assert len(out) == int(np.floor(duration * 30.0 + 1e-9)) + 1
    expected = _rot_at(np.arange(len(out)) / 30.0, w, r0)
    assert angle_between(out, expected).max() < 1e-6
    if src_fps == 50.0:  # the non-integer case really interpolates: plain axis-angle lerp would be wrong
        pos = np.arange(len(out)) * src_fps / 30.0
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        f = (pos - i0)[:, None]
        lerp = (1 - f) * pose[i0] + f * pose[i1]
        assert angle_between(lerp, expected).max() > 1e-3


def test_smplh_poses_keep_body_and_zero_hands(tmp_path: Path):
    rng = np.random.default_rng(1)
    poses = rng.normal(scale=0.4, size=(10, 156))
    seq = load_amass_npz(write_npz(tmp_path / "s.npz", poses, 60.0, fps_key="mocap_frame_rate"))
    assert seq.pose.shape == (10, 72) and seq.fps == 60.0
    np.testing.assert_array_equal(seq.pose[:, :66], poses[:, :66])
    assert (seq.pose[:, 66:] == 0).all()
    np.testing.assert_allclose(seq.betas, np.arange(10) * 0.1)
    smpl = load_amass_npz(write_npz(tmp_path / "t.npz", poses[:, :72], 30.0))
    np.testing.assert_array_equal(smpl.pose, poses[:, :72])  # plain SMPL: all 24 joints kept


def test_dataset_windows_and_6d(tmp_path: Path):
    a, _, _ = constant_velocity(241, 120.0, seed=3)  # 2 s at 120 fps -> 61 frames at 30 fps
    b, _, _ = constant_velocity(50, 50.0, seed=4)  # 0.98 s at 50 fps -> 30 frames
    c, _, _ = constant_velocity(20, 60.0, seed=5)  # 10 frames at 30 fps: shorter than T, dropped
    write_npz(tmp_path / "CMU" / "01" / "a_poses.npz", a, 120.0)
    write_npz(tmp_path / "CMU" / "02" / "b_poses.npz", b, 50.0)
    write_npz(tmp_path / "c_poses.npz", c, 60.0)
    np.savez(tmp_path / "CMU" / "01" / "shape.npz", betas=np.zeros(16))  # AMASS's β-only file: skipped
    ds = AmassMotionDataset(tmp_path, fps=30, seq_len=16, stride=8)
    assert len(ds.files) == 3
    assert len(ds) == (61 - 16) // 8 + 1 + (30 - 16) // 8 + 1
    it = ds[0]
    assert it["pose6d"].shape == (16, 138) and it["pose6d"].dtype == torch.float32
    assert it["pose"].shape == (16, 72) and it["betas"].shape == (16, 10)
    first = next(i for i, f in enumerate(ds.files) if f.name == "a_poses.npz")
    assert it["seq_index"] == first
    np.testing.assert_allclose(it["pose"].numpy(), a[::4][:16], atol=1e-6)
    mats = Rotation.from_rotvec(a[::4][:16].reshape(-1, 3)).as_matrix().reshape(16, 24, 3, 3)
    six = matrix_to_rot6d(torch.from_numpy(mats[:, 1:])).reshape(16, 138).numpy()
    np.testing.assert_allclose(it["pose6d"].numpy(), six, atol=1e-5)
    np.testing.assert_allclose(it["pose6d"][0, :3].numpy(), mats[0, 1, :, 0], atol=1e-5)  # first column of joint 1


def test_amass_errors(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no AMASS .npz"):
        AmassMotionDataset(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AmassMotionDataset(tmp_path / "missing")
    np.savez(tmp_path / "bad.npz", trans=np.zeros((5, 3)), mocap_framerate=30.0)
    with pytest.raises(KeyError, match="bad.npz: no key 'poses'"):
        AmassMotionDataset(tmp_path / "bad.npz")
    np.savez(tmp_path / "nofps.npz", poses=np.zeros((5, 72)))
    with pytest.raises(KeyError, match="frame rate"):
        load_amass_npz(tmp_path / "nofps.npz")
    np.savez(tmp_path / "narrow.npz", poses=np.zeros((5, 30)), mocap_framerate=30.0)
    with pytest.raises(ValueError, match="narrow.npz"):
        load_amass_npz(tmp_path / "narrow.npz")
