"""Keyframed motions (training/synthetic/keyframed.py): determinism, joint limits, intended poses,
floor contact, and the generator's use of them."""

from __future__ import annotations

import numpy as np
import pytest

from training.synthetic.keyframed import (
    KEYFRAMED_MOTIONS, contact_heights, key_times, keyframed_motion, limits_array, motion_keys, pose_to_euler, render_keys,
)
from training.synthetic.motion_coverage import pose_flags

SEEDS = range(3)


def _joints(pose: np.ndarray, transl: np.ndarray) -> np.ndarray:
    from training.synthetic.keyframed import _body
    from training.synthetic.retarget import body_joints, rest_joints

    return body_joints(rest_joints(_body()), pose, transl)


def _held(motion: str, seed: int):
    """Keys of one script and its pose (K, 72) / transl (K, 3) in the middle of each key's hold."""
    from training.synthetic.keyframed import _translation

    keys = motion_keys(np.random.default_rng(seed), motion)
    t = key_times(keys)
    pose = render_keys(keys, t)
    return keys, pose, _translation(pose, t, np.array([0.0, 0.0, 1.0]), 0.0)


def test_same_seed_same_motion():
    for m in ("sit_chair", "crawl", "lie_front"):
        a = keyframed_motion(np.random.default_rng(7), 16, 30.0, m)
        b = keyframed_motion(np.random.default_rng(7), 16, 30.0, m)
        c = keyframed_motion(np.random.default_rng(8), 16, 30.0, m)
        assert a[2] == b[2] == m
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert not np.allclose(a[0], c[0])
    x, y = keyframed_motion(np.random.default_rng(3), 8), keyframed_motion(np.random.default_rng(3), 8)
    assert x[2] == y[2] and np.array_equal(x[0], y[0])


@pytest.mark.parametrize("motion", KEYFRAMED_MOTIONS)
def test_joint_rotations_within_limits(motion):
    lim = limits_array()
    for seed in SEEDS:
        keys = motion_keys(np.random.default_rng(seed), motion)
        t = np.linspace(0, sum(k.move + k.hold for k in keys), 60)
        e = pose_to_euler(render_keys(keys, t))[:, 1:]  # (T, 23, 3), the root is free
        tol = 3.0  # slerp between two in-limit keys leaves the Euler box by at most a few degrees
        assert (e >= lim[None, 1:, :, 0] - tol).all() and (e <= lim[None, 1:, :, 1] + tol).all(), motion


def _torso(j: np.ndarray) -> np.ndarray:
    from training.synthetic.motion_coverage import _angle

    return _angle(j[:, 12] - j[:, 0], np.array([0.0, 1.0, 0.0]))


@pytest.mark.parametrize("seed", SEEDS)
def test_named_motions_reach_their_poses(seed):
    for motion, name, check in (
        ("sit_chair", "sit", lambda f, j, c: f["hip_flexion_60"] and _knee(j) > 60 and 0.35 < j[0, 1] < 0.65),
        ("kneel_one", "kneel", lambda f, j, c: f["hip_flexion_60"] and _knee(j) > 60),
        ("kneel_both", "kneel", lambda f, j, c: _knee(j) > 60 and (c < 0.05).all()),
        ("crouch", "crouch", lambda f, j, c: f["hip_flexion_60"] and f["knee_flexion_90"] and j[0, 1] < 0.5),
        ("lie_back", "lie", lambda f, j, c: _torso(j[None])[0] > 70 and j[0, 1] < 0.35),
        ("lie_side", "lie", lambda f, j, c: _torso(j[None])[0] > 70 and j[0, 1] < 0.45),
        ("lie_front", "lie", lambda f, j, c: _torso(j[None])[0] > 70 and j[0, 1] < 0.35),
        ("crawl", "all_fours", lambda f, j, c: _torso(j[None])[0] > 60 and (c < 0.06).all()),
        ("stretch_overhead", "overhead", lambda f, j, c: f["wrist_above_head"]),
        ("stretch_fold", "fold", lambda f, j, c: _torso(j[None])[0] > 70 and j[[22, 23], 1].min() < 0.35),
    ):
        keys, pose, tr = _held(motion, seed)
        j = _joints(pose, tr)
        flags = pose_flags(j, pose[:, :3])
        hits = []
        for i, k in enumerate(keys):
            if k.name == name:
                c = contact_heights(pose[i : i + 1], tr[i : i + 1], k.contacts)[0] if k.contacts else np.zeros(0)
                hits.append(bool(check({n: v[i] for n, v in flags.items()}, j[i], c)))
        assert hits and all(hits), (motion, seed, hits)


def _knee(j: np.ndarray) -> float:
    """Largest knee flexion (degrees) of one frame of joints (24, 3)."""
    from training.synthetic.motion_coverage import _angle

    return max(float(_angle(j[4 + s] - j[1 + s], j[7 + s] - j[4 + s])) for s in (0, 1))


@pytest.mark.parametrize("motion", KEYFRAMED_MOTIONS)
def test_floor_contact(motion):
    """The lowest vertex is on the floor in every frame; held floor-contact keys touch it with their
    contact groups within 7 cm (lying: all groups within 15 cm — the heels, head or a bent leg can rest lower; crawl: the stepping diagonal is lifted a little)."""
    for seed in SEEDS[:2]:
        pose, tr, _ = keyframed_motion(np.random.default_rng(seed), 12, 30.0, motion)
        low = contact_heights(pose, tr, ("feet",))  # feet only: ≥ 0
        assert (low > -1e-3).all()
        from training.synthetic.keyframed import _vertices

        v = _vertices(pose) + tr[:, None]
        np.testing.assert_allclose(v[..., 1].min(1), 0.0, atol=1e-4)
        keys, hp, ht = _held(motion, seed)
        for i, k in enumerate(keys):
            if k.contacts:
                c = contact_heights(hp[i : i + 1], ht[i : i + 1], k.contacts)[0]
                assert c.min() < 0.07 and c.max() < (0.15 if k.name == "lie" else 0.06), (motion, k.name, dict(zip(k.contacts, c)))


def test_generator_uses_keyframed_motions():
    from training.synthetic import SyntheticConfig, SyntheticGenerator

    cfg = SyntheticConfig(seq_len=4, crop_size=64, motion="procedural", p_procedural=1.0, p_keyframed=1.0, use_video_backgrounds=False)
    gen = SyntheticGenerator(0, cfg)
    acts = [gen.clip(i)["meta"]["activity"] for i in range(3)]
    assert all(a in KEYFRAMED_MOTIONS for a in acts), acts
    again = gen.clip(1)
    first = SyntheticGenerator(0, cfg).clip(1)
    np.testing.assert_array_equal(again["rgb"], first["rgb"])
    np.testing.assert_array_equal(again["pose"], first["pose"])
    off = SyntheticGenerator(0, SyntheticConfig(seq_len=4, crop_size=64, motion="procedural", p_keyframed=0.0, use_video_backgrounds=False))
    assert off.clip(0)["meta"]["activity"] not in KEYFRAMED_MOTIONS
