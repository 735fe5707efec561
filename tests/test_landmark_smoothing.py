"""The 1€ filter on BlazePose's landmarks (``training.landmark_smoothing``) and its place in ``PersonInputs``."""

from __future__ import annotations

import numpy as np
import pytest

from training.landmark_smoothing import LandmarkSmoother, OneEuro


def _second_difference(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, 2, axis=0)).mean())


def test_a_still_point_is_held_still_and_a_moving_one_is_followed():
    rng = np.random.default_rng(0)
    t = np.arange(120) / 30.0
    still = 100 + rng.normal(0, 2.0, (120, 1, 2))  # a standing person's landmark shaking by 2 px
    f = OneEuro(min_cutoff=1.0, beta=3.0)
    out = np.stack([f(x, s, scale=300.0) for x, s in zip(still, t)])
    assert _second_difference(out[30:]) < 0.25 * _second_difference(still[30:])
    # a fast arm (1.5 person sizes per second): the filter opens up and stays close behind
    moving = np.stack([np.array([[450.0 * s, 0.0]]) for s in t]) + rng.normal(0, 2.0, (120, 1, 2))
    fast, slow = OneEuro(min_cutoff=1.0, beta=3.0), OneEuro(min_cutoff=1.0, beta=0.0)
    lag_fast = np.abs(np.stack([fast(x, s, 300.0) for x, s in zip(moving, t)])[60:, 0, 0] - 450.0 * t[60:]).mean()
    lag_slow = np.abs(np.stack([slow(x, s, 300.0) for x, s in zip(moving, t)])[60:, 0, 0] - 450.0 * t[60:]).mean()
    assert lag_fast < 0.5 * lag_slow
    # speeds are measured in person sizes: a person twice as far (half the pixels) is smoothed alike
    near, far = OneEuro(1.0, 3.0), OneEuro(1.0, 3.0)
    a = np.stack([near(x, s, 300.0) for x, s in zip(moving, t)])
    b = np.stack([far(x / 2, s, 150.0) for x, s in zip(moving, t)])
    np.testing.assert_allclose(a / 2, b, rtol=1e-9, atol=1e-9)


def test_smoother_keeps_tracks_apart_and_forgets():
    sm = LandmarkSmoother(1.0, 1.0)
    img = np.zeros((33, 3), np.float32)
    sm.smooth(1, img, None, 200.0, 0.0)
    sm.smooth(2, img + 100, np.ones((33, 3), np.float32), 200.0, 0.0)
    bent = img.copy()
    bent[0, 0] = 10.0  # one landmark moves (the pose changes)
    moved, _ = sm.smooth(1, bent, None, 200.0, 1 / 30)
    assert 10 / 33 < float(moved[0, 0]) < 10  # smoothed toward the track's own past, not the other track's
    sm.forget(1)
    fresh, _ = sm.smooth(1, bent, None, 200.0, 2 / 30)
    np.testing.assert_allclose(fresh, bent)  # a new track starts from its first landmarks


def test_a_running_person_is_not_dragged_behind_but_their_pose_is_steadied():
    """The landmarks are filtered about their centroid: the whole set moving across the frame passes at once,
    each landmark's shake about it is damped."""
    rng = np.random.default_rng(1)
    base = rng.uniform(-50, 50, (33, 3))
    t = np.arange(90) / 30.0
    sm = LandmarkSmoother(1.5, 3.0)
    shake = rng.normal(0, 2.0, (90, 33, 3))
    shake -= shake.mean(1, keepdims=True)  # about a centroid that runs at 300 px/s
    run = np.zeros((90, 1, 3))
    run[:, 0, 0] = 300.0 * t
    raw = base + run + shake
    out = np.stack([sm.smooth(0, x, None, 200.0, s)[0] for x, s in zip(raw, t)])
    np.testing.assert_allclose(out.mean(1)[:, :2], raw.mean(1)[:, :2], atol=0.1)  # no lag behind the runner …
    plain = OneEuro(1.5, 3.0)
    dragged = np.stack([plain(x, s, 200.0) for x, s in zip(raw, t)])
    assert np.abs(dragged.mean(1)[30:, 0] - raw.mean(1)[30:, 0]).mean() > 5.0  # … which filtering them as they are has
    assert _second_difference(out[30:] - run[30:]) < 0.5 * _second_difference(shake[30:])  # the pose steadied


def test_person_inputs_smooth_the_landmarks_they_feed():
    from realtime.detection import PersonPose
    from realtime.detection.blazepose import Roi
    from realtime.detection.landmarks import Landmarks
    from realtime.detection.tracker import Track
    from realtime.person_inputs import PersonInputs

    rng = np.random.default_rng(3)
    base = rng.uniform(300, 700, (33, 2)).astype(np.float32)
    box = np.array([280, 280, 720, 720], np.float32)
    frame = np.zeros((1000, 1000, 3), np.uint8)

    def person(xy):
        lm = Landmarks(xy=xy, z=np.zeros(33, np.float32), visibility=np.ones(33, np.float32), presence=np.ones(33, np.float32),
                       score=0.9, roi=Roi(500, 500, 400, 0.0), aux_xy=np.zeros((2, 2), np.float32), world=np.zeros((33, 3), np.float32))
        return [PersonPose(Track(7, box, box, 1.0, 0), lm)]

    raw = PersonInputs(128, ("rgb",), None, rgb_input="blazepose")
    smooth = PersonInputs(128, ("rgb",), None, rgb_input="blazepose", smoothing=(1.0, 1.0))
    shaken = [base + rng.normal(0, 3, base.shape).astype(np.float32) for _ in range(40)]
    r = np.stack([raw.build(frame, person(x), i / 30).inputs["rgb"][0, :, :2] for i, x in enumerate(shaken)])
    s = np.stack([smooth.build(frame, person(x), i / 30).inputs["rgb"][0, :, :2] for i, x in enumerate(shaken)])
    np.testing.assert_allclose(r[0], s[0], atol=1e-6)  # the first frame passes as it is
    assert _second_difference(s[10:]) < 0.5 * _second_difference(r[10:])
    smooth.forget(7)
    first = smooth.build(frame, person(shaken[5]), 2.0).inputs["rgb"][0, :, :2]
    np.testing.assert_allclose(first, r[5], atol=1e-6)
    held = PersonInputs(128, ("rgb",), None, rgb_input="blazepose", smoothing=(1.0, 1.0, 1.5))
    vis = []
    for i in range(10):
        p = person(base)
        p[0].landmarks.visibility[:] = 0.9 if i % 2 == 0 else 0.2
        vis.append(held.build(frame, p, i / 30).inputs["rgb"][0, :, 3])
    assert np.min(vis) > 0.6  # the network and its landmark fit see the held visibility


def test_evaluation_sequences_smooth_landmarks_as_live():
    """The generated benchmark feeds the model BlazePose's outputs through the live filter (causal, per clip,
    a missed frame restarting it) — the first frame unchanged, later shaking damped, world landmarks too."""
    from training.landmark_smoothing import smooth_features

    rng = np.random.default_rng(4)
    x = np.zeros((30, 33, 9), np.float32)
    x[..., :2] = rng.uniform(-0.5, 0.5, (33, 2)) + rng.normal(0, 0.01, (30, 33, 2))
    x[..., 5:8] = rng.normal(0, 0.3, (33, 3)) + rng.normal(0, 0.01, (30, 33, 3))
    x[..., 3], x[..., 8] = 0.9, 0.95
    x[12] = 0  # missed
    y = smooth_features(x)
    np.testing.assert_allclose(y[0], x[0])
    np.testing.assert_allclose(y[12], x[12])
    np.testing.assert_allclose(y[13], x[13], atol=1e-6)  # the filter starts over after a missed frame
    np.testing.assert_allclose(y[..., 3:5], x[..., 3:5])  # steady visibility and presence stay as they are
    for ch in (slice(0, 2), slice(5, 8)):
        assert _second_difference(y[14:, :, ch]) < 0.5 * _second_difference(x[14:, :, ch])
    np.testing.assert_allclose(smooth_features(x, min_cutoff=0), x)


def test_confidences_rise_at_once_and_fall_slowly():
    """A landmark's visibility flickering near the frame's edge is held up; a limb coming into view is not held back."""
    from training.landmark_smoothing import Hold, LandmarkSmoother

    h = Hold(1.5)
    assert h(np.array([0.2]), 0.0)[0] == pytest.approx(0.2)
    assert h(np.array([0.9]), 1 / 30)[0] == pytest.approx(0.9)  # the rise passes at once
    fell = h(np.array([0.1]), 2 / 30)[0]
    assert 0.7 < fell < 0.9  # the fall is slowed …
    later = [h(np.array([0.1]), t / 30)[0] for t in range(3, 60)]
    assert later[-1] < 0.15 and all(a >= b for a, b in zip(later, later[1:]))  # … and still arrives
    raw = Hold(0.0)
    assert [raw(np.array([v]))[0] for v in (0.9, 0.1)] == pytest.approx([0.9, 0.1])  # cutoff 0: raw

    sm = LandmarkSmoother(1.5, 6.0, 1.5)
    flicker = [np.where(np.arange(33) % 2 == 0, 0.8, 0.3) if t % 2 else np.full(33, 0.8) for t in range(20)]
    held = np.stack([sm.hold(4, v, v, t / 30)[0] for t, v in enumerate(flicker)])
    assert held[10:].min() > 0.6  # flickering 0.8 / 0.3 stays near the top
    sm.forget(4)
    assert sm.hold(4, np.full(33, 0.3), np.full(33, 0.3), 1.0)[0] == pytest.approx(np.full(33, 0.3))
    off = LandmarkSmoother(0.0, 6.0, 1.5)  # positions raw, confidences still held
    image = np.ones((33, 3), np.float32)
    off.smooth(1, image, None, 100.0, 0.0)
    np.testing.assert_allclose(off.smooth(1, image * 5, None, 100.0, 1 / 30)[0], image * 5)
    assert off.hold(1, np.full(33, 0.9), np.full(33, 0.9), 0.0)[0][0] == pytest.approx(0.9)
    assert off.hold(1, np.full(33, 0.1), np.full(33, 0.1), 1 / 30)[0][0] > 0.5


def test_evaluation_sequences_hold_confidences_as_live():
    from training.landmark_smoothing import smooth_features

    x = np.zeros((20, 33, 9), np.float32)
    x[..., 8] = 0.9
    x[..., 3] = np.where(np.arange(20) % 2 == 0, 0.9, 0.2)[:, None]
    y = smooth_features(x)
    assert y[1:, :, 3].min() > 0.6 and y[0, 0, 3] == pytest.approx(0.9)
    np.testing.assert_allclose(smooth_features(x, release_cutoff=0)[..., 3], x[..., 3])
