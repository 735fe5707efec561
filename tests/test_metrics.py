"""Evaluation metrics: Procrustes alignment, MPJPE / PA-MPJPE / PVE, acceleration error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from training import metrics
from training.metrics import (
    accel_error,
    accel_to_m_per_s2,
    accel_valid_mask,
    evaluate_sequence,
    mpjpe,
    pa_mpjpe,
    procrustes_align,
    pve,
)


def _skeleton(rng: np.random.Generator, n: int = 1, j: int = 14) -> np.ndarray:
    """Random, clearly non-planar point sets (n, j, 3), about a metre across."""
    return rng.normal(scale=0.4, size=(n, j, 3))


def _similarity(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Apply a random rotation, scale and translation to (J, 3) ``x``; return (y, s, R, t)."""
    rot = Rotation.random(random_state=rng).as_matrix()
    s = float(rng.uniform(0.5, 2.0))
    t = rng.normal(size=3)
    return s * x @ rot.T + t, s, rot, t


def _np_procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reference: align one (J, 3) ``x`` to ``y`` (Umeyama, column-vector form, own derivation)."""
    mx, my = x.mean(0), y.mean(0)
    xc, yc = (x - mx).T, (y - my).T  # (3, J)
    u, sv, vt = np.linalg.svd(yc @ xc.T)  # cross-covariance target × source
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ d @ vt  # maps source onto target: y ≈ s R x + t
    s = np.trace(np.diag(sv) @ d) / (xc**2).sum()
    return (s * rot @ xc).T + my


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


# -- Procrustes -----------------------------------------------------------------------------------
def test_known_similarity_gives_zero_pa_mpjpe_and_expected_mpjpe(rng):
    target = _skeleton(rng)[0]
    pred, _, _, _ = _similarity(rng, target)
    assert pa_mpjpe(_t(pred)[None], _t(target)[None]).item() < 1e-5
    # Independent MPJPE: centre on the hip midpoint (LSP indices 2, 3), mean Euclidean distance.
    pc = pred - (pred[2] + pred[3]) / 2
    tc = target - (target[2] + target[3]) / 2
    expected = np.sqrt(((pc - tc) ** 2).sum(-1)).mean()
    got = mpjpe(_t(pred)[None], _t(target)[None]).item()
    assert got == pytest.approx(expected, rel=1e-9)
    assert got > 1e-3  # the transform really changed the pose
    raw = np.sqrt(((pred - target) ** 2).sum(-1)).mean()
    assert mpjpe(_t(pred)[None], _t(target)[None], pelvis_align=False).item() == pytest.approx(raw, rel=1e-9)


def test_procrustes_exactly_undoes_its_transform(rng):
    target = _skeleton(rng, 5)
    pred = np.stack([_similarity(rng, x)[0] for x in target])  # a different transform per sample
    aligned = procrustes_align(_t(pred), _t(target)).numpy()
    np.testing.assert_allclose(aligned, target, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_procrustes_batch_matches_per_sample(rng, n):
    target = _skeleton(rng, n)
    pred = np.stack([_similarity(rng, x)[0] for x in target]) + rng.normal(scale=0.05, size=target.shape)
    batch = procrustes_align(_t(pred), _t(target)).numpy()
    for i in range(n):
        alone = procrustes_align(_t(pred[i : i + 1]), _t(target[i : i + 1])).numpy()[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-10)
        np.testing.assert_allclose(batch[i], _np_procrustes(pred[i], target[i]), atol=1e-10)
    # The alignment is optimal: no worse than the identity with centroids matched.
    centred = pred - pred.mean(1, keepdims=True) + target.mean(1, keepdims=True)
    err_aligned = ((batch - target) ** 2).sum((1, 2))
    err_centred = ((centred - target) ** 2).sum((1, 2))
    assert np.all(err_aligned <= err_centred + 1e-12)


def test_procrustes_float32(rng):
    target = _skeleton(rng, 3)
    pred = np.stack([_similarity(rng, x)[0] for x in target])
    out = procrustes_align(torch.as_tensor(pred, dtype=torch.float32), torch.as_tensor(target, dtype=torch.float32))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), target, atol=1e-4)


def test_reflection_is_not_used_to_align(rng):
    target = _skeleton(rng, 2)
    mirrored = target * np.array([-1.0, 1.0, 1.0])  # a pure reflection: no proper rotation undoes it
    aligned = procrustes_align(_t(mirrored), _t(target)).numpy()
    for i in range(2):
        # Recover the linear map used: aligned_c = mirrored_c @ M; it must be a proper rotation × scale.
        a = aligned[i] - aligned[i].mean(0)
        m = mirrored[i] - mirrored[i].mean(0)
        lin, *_ = np.linalg.lstsq(m, a, rcond=None)
        assert np.linalg.det(lin) > 0
        np.testing.assert_allclose(aligned[i], _np_procrustes(mirrored[i], target[i]), atol=1e-10)
    assert np.all(pa_mpjpe(_t(mirrored), _t(target)).numpy() > 1e-3)


def test_procrustes_gradients_are_finite(rng):
    pred = _t(_skeleton(rng, 2)).requires_grad_(True)
    target = _t(_skeleton(rng, 2))
    pa_mpjpe(pred, target).sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


# -- other errors ---------------------------------------------------------------------------------
def test_mpjpe_custom_pelvis_and_translation_invariance(rng):
    target = _skeleton(rng, 4)
    pred = target + rng.normal(scale=0.02, size=target.shape)
    shifted = pred + rng.normal(size=(4, 1, 3))
    a = mpjpe(_t(pred), _t(target), pelvis_index=(0,))
    b = mpjpe(_t(shifted), _t(target), pelvis_index=(0,))
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
    expected = np.sqrt((((pred - pred[:, :1]) - (target - target[:, :1])) ** 2).sum(-1)).mean(-1)
    np.testing.assert_allclose(a.numpy(), expected, atol=1e-12)
    with pytest.raises(ValueError, match="pelvis_index"):
        mpjpe(_t(pred), _t(target), pelvis_index=(20,))


def test_pve_with_and_without_pelvis(rng):
    tv = rng.normal(size=(3, 50, 3))
    offset = rng.normal(size=(3, 3))
    pv = tv + offset[:, None] + rng.normal(scale=0.01, size=tv.shape)
    raw = np.sqrt(((pv - tv) ** 2).sum(-1)).mean(-1)
    np.testing.assert_allclose(pve(_t(pv), _t(tv)).numpy(), raw, atol=1e-12)
    centred = pve(_t(pv), _t(tv), pred_pelvis=_t(offset), target_pelvis=torch.zeros(3, 3, dtype=torch.float64))
    assert torch.all(centred < 0.05)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        pve(_t(pv), _t(tv), pred_pelvis=torch.zeros(3, 2))


# -- acceleration ---------------------------------------------------------------------------------
def _trajectory(rng: np.random.Generator, t: int, j: int, acc: np.ndarray | None = None) -> np.ndarray:
    """x(k) = a + v k (+ c k² / 2): (T, J, 3)."""
    k = np.arange(t, dtype=np.float64)[:, None, None]
    x = rng.normal(size=(1, j, 3)) + rng.normal(size=(1, j, 3)) * k
    if acc is not None:
        x = x + 0.5 * acc[None] * k**2
    return x


def test_accel_error_zero_for_constant_velocity(rng):
    pred = _trajectory(rng, 20, 14)
    target = _trajectory(rng, 20, 14)
    err = accel_error(_t(pred), _t(target))
    assert err.shape == (18,)
    assert err.abs().max().item() < 1e-9


def test_accel_error_of_quadratic_trajectory(rng):
    c = rng.normal(size=(14, 3))
    pred = _trajectory(rng, 12, 14, acc=c)  # second difference of c k²/2 is exactly c
    target = _trajectory(rng, 12, 14)
    expected = np.linalg.norm(c, axis=-1).mean()
    np.testing.assert_allclose(accel_error(_t(pred), _t(target)).numpy(), np.full(10, expected), rtol=1e-9)


def test_accel_unit_conversion():
    fps = 30.0
    frame_s = 1.0 / fps
    # 1 mm/frame² = 1e-3 m / frame_s² = 1e-3 * fps² m/s².
    assert accel_to_m_per_s2(1.0, fps) == pytest.approx(1e-3 / frame_s**2)
    assert accel_to_m_per_s2(2.5, 25.0) == pytest.approx(2.5 * 1e-3 / (1 / 25.0) ** 2)
    t = accel_to_m_per_s2(torch.tensor([1.0, 2.0]), fps)
    np.testing.assert_allclose(t.numpy(), np.array([1.0, 2.0]) * 1e-3 * fps**2, rtol=1e-6)
    with pytest.raises(ValueError):
        accel_to_m_per_s2(1.0, 0.0)


def test_accel_invalid_frames_excluded(rng):
    t = 10
    pred = _trajectory(rng, t, 14, acc=rng.normal(size=(14, 3)))
    target = _trajectory(rng, t, 14)
    valid = torch.ones(t, dtype=torch.bool)
    valid[5] = False
    corrupted = pred.copy()
    corrupted[5] += 100.0  # garbage in the invalid frame must not matter
    full = accel_error(_t(pred), _t(target))
    masked = accel_error(_t(corrupted), _t(target), valid)
    excluded = torch.isnan(masked)
    # Stencils k, k+1, k+2 that contain frame 5: k = 3, 4, 5.
    assert excluded.nonzero().flatten().tolist() == [3, 4, 5]
    assert torch.equal(excluded, ~accel_valid_mask(valid))
    np.testing.assert_allclose(masked[~excluded].numpy(), full[~excluded].numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(T,\)"):
        accel_error(_t(pred), _t(target), torch.ones(t - 1, dtype=torch.bool))


# -- convenience ----------------------------------------------------------------------------------
def test_evaluate_sequence_reports_millimetres(rng):
    t = 8
    target = _skeleton(rng, t)
    pred = target + rng.normal(scale=0.03, size=target.shape)
    tv = rng.normal(scale=0.4, size=(t, 40, 3))
    pv = tv + rng.normal(scale=0.02, size=tv.shape)
    res = evaluate_sequence(_t(pred), _t(target), _t(pv), _t(tv))
    assert set(res) == {"mpjpe", "pa_mpjpe", "pve", "accel"}
    assert res["mpjpe"] == pytest.approx(1000 * mpjpe(_t(pred), _t(target)).mean().item(), rel=1e-9)
    assert res["pa_mpjpe"] == pytest.approx(1000 * pa_mpjpe(_t(pred), _t(target)).mean().item(), rel=1e-9)
    assert res["accel"] == pytest.approx(1000 * accel_error(_t(pred), _t(target)).mean().item(), rel=1e-9)
    pel_p = (pred[:, 2] + pred[:, 3]) / 2
    pel_t = (target[:, 2] + target[:, 3]) / 2
    expected_pve = np.sqrt((((pv - pel_p[:, None]) - (tv - pel_t[:, None])) ** 2).sum(-1)).mean() * 1000
    assert res["pve"] == pytest.approx(expected_pve, rel=1e-9)
    assert res["pa_mpjpe"] <= res["mpjpe"]


def test_evaluate_sequence_valid_mask_and_no_vertices(rng):
    t = 6
    target = _skeleton(rng, t)
    pred = target + rng.normal(scale=0.03, size=target.shape)
    valid = torch.tensor([True, True, False, True, True, True])
    pred_bad = pred.copy()
    pred_bad[2] += 5.0
    res = evaluate_sequence(_t(pred_bad), _t(target), valid=valid)
    keep = valid.numpy()
    assert res["mpjpe"] == pytest.approx(1000 * mpjpe(_t(pred[keep]), _t(target[keep])).mean().item(), rel=1e-9)
    assert math.isnan(res["pve"])
    assert res["accel"] < 1000  # the corrupted frame's stencils are excluded
    res_short = evaluate_sequence(_t(pred[:2]), _t(target[:2]))
    assert math.isnan(res_short["accel"]) and math.isfinite(res_short["mpjpe"])


def test_evaluation_joints_is_lsp14():
    from training.body import BodyModel

    body = BodyModel.open()
    if not body.has_joint_set("lsp14"):
        pytest.skip("the embedded body has no lsp14 landmarks")
    out = body(betas=torch.zeros(2, body.num_betas))
    j14 = metrics.evaluation_joints(body, out)
    assert j14.shape == (2, 14, 3)
    assert torch.equal(j14, body.joint_set(out, "lsp14"))


@pytest.mark.parametrize(
    "call",
    [
        lambda: procrustes_align(torch.zeros(4, 14, 2), torch.zeros(4, 14, 2)),
        lambda: procrustes_align(torch.zeros(14, 3), torch.zeros(14, 3)),
        lambda: mpjpe(torch.zeros(2, 14, 3), torch.zeros(3, 14, 3)),
        lambda: pa_mpjpe(torch.zeros(2, 14), torch.zeros(2, 14)),
    ],
)
def test_bad_shapes_raise(call):
    with pytest.raises(ValueError, match=r"expected.*\(N, J, 3\)"):
        call()


def test_bad_accel_shapes_raise():
    with pytest.raises(ValueError, match=r"\(T, J, 3\)"):
        accel_error(torch.zeros(5, 14), torch.zeros(5, 14))
    with pytest.raises(ValueError, match="T >= 3"):
        accel_error(torch.zeros(2, 14, 3), torch.zeros(2, 14, 3))
    with pytest.raises(ValueError, match=r"\(N, V, 3\)"):
        pve(torch.zeros(2, 10, 3), torch.zeros(2, 11, 3))
