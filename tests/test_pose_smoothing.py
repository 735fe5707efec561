"""The body filter after the model (``training.pose_smoothing``): steadier, consistent, adaptive, per track."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from training.pose_smoothing import PoseSmoother, smooth_sequence


def _frame(rng: np.random.Generator, people: int = 1, joints: np.ndarray | None = None, noise: float = 0.0) -> dict[str, np.ndarray]:
    """Model outputs for ``people`` (the same body plus noise of ``noise`` metres)."""
    base = np.linspace(-0.5, 0.5, 49 * 3).reshape(49, 3) if joints is None else joints
    j3 = np.stack([base + noise * rng.standard_normal(base.shape) for _ in range(people)]).astype(np.float32)
    rot = Rotation.from_rotvec(0.3 + 0.05 * rng.standard_normal((people * 24, 3))).as_matrix().reshape(people, 24, 3, 3)
    cam = np.tile(np.array([0.9, 0.05, -0.1], np.float32), (people, 1)) + 0.01 * rng.standard_normal((people, 3)).astype(np.float32)
    return {"joints3d": j3, "vertices": np.repeat(j3, 4, axis=1), "rotmat": rot.astype(np.float32),
            "betas": rng.standard_normal((people, 10)).astype(np.float32),
            "theta": rng.standard_normal((people, 157)).astype(np.float32), "cam": cam,
            "joints2d": (cam[:, None, :1] * (j3[..., :2] + cam[:, None, 1:])).astype(np.float32)}


def test_a_still_noisy_body_is_held_steadier_and_stays_one_body():
    rng = np.random.default_rng(0)
    smoother = PoseSmoother(2.0, 2.0)
    raw, out = [], []
    for t in range(60):
        f = _frame(rng, noise=0.01)
        raw.append(f["joints3d"][0])
        res = smoother.smooth([7], f, t / 30)
        out.append(res["joints3d"][0])
        np.testing.assert_array_equal(res["cam"], f["cam"])  # the camera is the frame's own
        np.testing.assert_array_equal(res["theta"][:, -3:], f["theta"][:, -3:])
        r = res["rotmat"][0].astype(np.float64)
        np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-5)
        np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)
        cam = res["cam"][0]
        np.testing.assert_allclose(res["joints2d"][0], cam[0] * (res["joints3d"][0][:, :2] + cam[1:]), atol=1e-5)
        np.testing.assert_allclose(res["vertices"][0], np.repeat(res["joints3d"][0], 4, axis=0), atol=1e-5)  # same blend
    jitter = lambda x: np.abs(np.diff(np.array(x), 2, axis=0)).mean()  # noqa: E731
    assert jitter(out) < 0.5 * jitter(raw)


def test_a_fast_move_is_followed_more_than_a_slow_one():
    rng = np.random.default_rng(1)
    base = _frame(rng)["joints3d"][0]

    def followed(step: float) -> float:
        smoother = PoseSmoother(2.0, 2.0)
        for t in range(5):
            smoother.smooth([1], _frame(rng, joints=base), t / 30)
        moved = base + np.array([step, 0, 0], np.float32)
        for t in range(5, 8):
            res = smoother.smooth([1], _frame(rng, joints=moved), t / 30)
        return float((res["joints3d"][0, 0, 0] - base[0, 0]) / step)

    assert followed(0.5) > followed(0.005) + 0.1


def test_tracks_are_apart_and_forgotten():
    rng = np.random.default_rng(2)
    smoother = PoseSmoother()
    first = _frame(rng, people=2)
    smoother.smooth([1, 2], first, 0.0)
    second = _frame(rng, people=1, joints=first["joints3d"][0] + 1.0)
    held = smoother.smooth([1], second, 1 / 30)["joints3d"][0]
    assert not np.allclose(held, second["joints3d"][0])  # track 1 remembers its last body
    smoother.forget(1)
    fresh = smoother.smooth([1], second, 2 / 30)["joints3d"][0]
    np.testing.assert_array_equal(fresh, second["joints3d"][0])  # a new track starts where it is
    assert set(smoother.tracks) == {1, 2}


def test_off_passes_through_and_inputs_are_not_changed():
    rng = np.random.default_rng(3)
    f = _frame(rng)
    copy = {k: v.copy() for k, v in f.items()}
    assert PoseSmoother(0.0, 1.0).smooth([0], f, 0.0) is f
    smoother = PoseSmoother()
    smoother.smooth([0], f, 0.0)
    smoother.smooth([0], _frame(rng), 1 / 30)
    for k in f:
        np.testing.assert_array_equal(f[k], copy[k])


@pytest.mark.parametrize("fps", [30.0, 25.0])
def test_sequence_filter_is_the_live_filter(fps):
    rng = np.random.default_rng(4)
    frames = [_frame(rng, noise=0.02) for _ in range(12)]
    seq = smooth_sequence({k: np.concatenate([f[k] for f in frames]) for k in frames[0]}, fps)
    live = PoseSmoother()
    for t, f in enumerate(frames):
        res = live.smooth([3], f, t / fps)
        for k in f:
            np.testing.assert_allclose(seq[k][t], res[k][0], atol=1e-6)
