"""Training losses: masks, the flow back-trace convention, GAN terms, weighting, shape errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.body.rotations import axis_angle_to_matrix
from training.config.schema import LossWeights
from training.losses import (
    SPIN49_PELVIS,
    acceleration_loss,
    backtrace_joints,
    combine_losses,
    discriminator_loss,
    flow_loss,
    generator_adv_loss,
    keypoint_2d_loss,
    keypoint_3d_loss,
    sample_flow,
    smpl_loss,
)

B, T, J = 3, 4, 49
DT = torch.float64


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(7)


def _randn(gen: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DT) * scale


def _nan_like(x: torch.Tensor) -> torch.Tensor:
    return torch.full_like(x, float("nan"))


# -- keypoint losses ------------------------------------------------------------------------------
def test_keypoint_3d_matches_independent_computation(gen):
    pred, target = _randn(gen, B, T, J, 3), _randn(gen, B, T, J, 3)
    conf = torch.rand(B, T, J, generator=gen, dtype=DT)
    pel = list(SPIN49_PELVIS)
    pc = pred - pred[..., pel, :].mean(-2, keepdim=True)
    tc = target - target[..., pel, :].mean(-2, keepdim=True)
    expected = (conf[..., None] * (pc - tc) ** 2).mean()
    got = keypoint_3d_loss(pred, target, conf, torch.ones(B, T, dtype=torch.bool))
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)


def test_keypoint_3d_is_translation_invariant_and_zero_at_target(gen):
    target = _randn(gen, B, T, J, 3)
    shifted = target + _randn(gen, B, T, 1, 3)  # per-frame root translation only
    valid = torch.ones(B, T, dtype=torch.bool)
    assert keypoint_3d_loss(shifted, target, None, valid).item() < 1e-20
    uncentred = keypoint_3d_loss(shifted, target, None, valid, pelvis_index=None)
    assert uncentred.item() > 1e-3


def test_acceleration_loss_matches_second_differences_and_ignores_smooth_offsets(gen):
    pred, target = _randn(gen, B, 5, J, 3), _randn(gen, B, 5, J, 3)
    valid = torch.ones(B, 5, dtype=torch.bool)
    pel = list(SPIN49_PELVIS)
    pc = pred - pred[..., pel, :].mean(-2, keepdim=True)
    tc = target - target[..., pel, :].mean(-2, keepdim=True)
    acc = lambda x: x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]  # noqa: E731
    expected = ((acc(pc) - acc(tc)) ** 2).mean()
    assert acceleration_loss(pred, target, valid).item() == pytest.approx(expected.item(), rel=1e-12)
    # A pose offset that is constant, or changes linearly over time, has no acceleration.
    t = torch.arange(5, dtype=DT)[None, :, None, None]
    drift = target + _randn(gen, B, 1, J, 3) + t * _randn(gen, B, 1, J, 3)
    assert acceleration_loss(drift, target, valid).item() < 1e-20
    assert acceleration_loss(pred, target, valid).item() > 0.1


def test_acceleration_loss_counts_only_fully_valid_stencils(gen):
    pred, target = _randn(gen, B, 5, J, 3), _randn(gen, B, 5, J, 3)
    valid = torch.ones(B, 5, dtype=torch.bool)
    valid[1, 2] = False  # sample 1 has no stencil left (each touches frame 2)
    target[1, 2] = float("nan")
    keep = acceleration_loss(pred[[0, 2]], target[[0, 2]], valid[[0, 2]])
    got = acceleration_loss(pred, target, valid)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(keep.item(), rel=1e-12)
    short = acceleration_loss(pred[:, :2].requires_grad_(), target[:, :2], valid[:, :2])
    assert short.item() == 0.0
    short.backward()


def test_keypoint_2d_confidence_weights(gen):
    pred, target = _randn(gen, B, T, 17, 2), _randn(gen, B, T, 17, 2)
    conf = torch.ones(B, T, 17, dtype=DT)
    conf[..., 5] = 0.0
    base = keypoint_2d_loss(pred, target, conf, None)
    moved = target.clone()
    moved[..., 5, :] += 10.0  # an invisible joint's label changes nothing
    assert keypoint_2d_loss(pred, moved, conf, None).item() == pytest.approx(base.item(), rel=1e-12)
    expected = (conf[..., None] * (pred - target) ** 2).mean()
    assert base.item() == pytest.approx(expected.item(), rel=1e-12)


def _all_losses(pred3, tgt3, pred2, tgt2, rot, pose, betas, tbetas, flow, valid):
    pose_l, shape_l = smpl_loss(rot, pose, betas, tbetas, valid)
    return {
        "kp3d": keypoint_3d_loss(pred3, tgt3, None, valid),
        "kp2d": keypoint_2d_loss(pred2, tgt2, torch.ones(pred2.shape[:3], dtype=DT), valid),
        "smpl_pose": pose_l,
        "smpl_shape": shape_l,
        "flow": flow_loss(pred2, flow, None, valid),
    }


def _batch(gen):
    return dict(
        pred3=_randn(gen, B, T, J, 3).requires_grad_(True),
        tgt3=_randn(gen, B, T, J, 3),
        pred2=(_randn(gen, B, T, J, 2) * 0.3).requires_grad_(True),
        tgt2=_randn(gen, B, T, J, 2),
        rot=axis_angle_to_matrix(_randn(gen, B, T, 24, 3, scale=0.3)).requires_grad_(True),
        pose=_randn(gen, B, T, 24, 3, scale=0.3),
        betas=_randn(gen, B, T, 10).requires_grad_(True),
        tbetas=_randn(gen, B, T, 10),
        flow=_randn(gen, B, T, 2, 16, 20),
    )


def test_all_invalid_batch_gives_zero_and_finite_grads(gen):
    data = _batch(gen)
    for key in ("tgt3", "tgt2", "pose", "tbetas"):  # unlabelled data: labels are NaN
        data[key] = _nan_like(data[key])
    valid = torch.zeros(B, T, dtype=torch.bool)
    losses = _all_losses(**data, valid=valid)
    for name, value in losses.items():
        assert value.item() == 0.0, name
        assert value.requires_grad, name
    sum(losses.values()).backward()
    for key in ("pred3", "pred2", "rot", "betas"):
        grad = data[key].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().max() == 0, key


def test_masking_a_sample_removes_its_contribution(gen):
    data = _batch(gen)
    valid = torch.tensor([True, False, True])  # per-sample mask, (B,)
    masked = _all_losses(**data, valid=valid)
    # Garbage (NaN) labels of the invalid sample change nothing and do not poison the result.
    for key in ("tgt3", "tgt2", "pose", "tbetas"):
        data[key] = data[key].clone()
        data[key][1] = float("nan")
    masked_nan = _all_losses(**data, valid=valid)
    keep = [0, 2]
    sub = {k: (v.detach()[keep].requires_grad_(v.requires_grad)) for k, v in data.items()}
    alone = _all_losses(**sub, valid=torch.ones(2, T, dtype=torch.bool))
    for name in masked:
        assert masked_nan[name].item() == pytest.approx(alone[name].item(), rel=1e-12), name
        assert masked[name].item() == pytest.approx(alone[name].item(), rel=1e-12), name
    sum(masked_nan.values()).backward()
    for key in ("pred3", "pred2", "rot", "betas"):
        grad = data[key].grad
        assert torch.isfinite(grad).all(), key
        assert grad[1].abs().max() == 0 and grad[0].abs().max() > 0, key


def test_per_frame_mask_counts_only_valid_frames(gen):
    pred, target = _randn(gen, 1, T, 5, 2), _randn(gen, 1, T, 5, 2)
    valid = torch.tensor([[True, False, True, False]])
    got = keypoint_2d_loss(pred, target, None, valid)
    expected = ((pred - target) ** 2)[:, [0, 2]].mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)


# -- SMPL -----------------------------------------------------------------------------------------
def test_smpl_loss_axis_angle_and_matrix_targets_agree(gen):
    aa = _randn(gen, B, T, 24, 3, scale=0.5)
    target_rot = axis_angle_to_matrix(aa)
    pred_rot = axis_angle_to_matrix(aa + _randn(gen, B, T, 24, 3, scale=0.1))
    betas, tbetas = _randn(gen, B, T, 10), _randn(gen, B, 10)
    valid = torch.ones(B, T, dtype=torch.bool)
    p1, s1 = smpl_loss(pred_rot, aa, betas, tbetas, valid)
    p2, s2 = smpl_loss(pred_rot, target_rot, betas, tbetas[:, None].expand(B, T, 10), valid)
    p3, _ = smpl_loss(pred_rot, aa.reshape(B, T, 72), betas, tbetas, valid)
    assert p1.item() == pytest.approx(p2.item(), rel=1e-12) == p3.item()
    assert p1.item() == pytest.approx(((pred_rot - target_rot) ** 2).mean().item(), rel=1e-12)
    assert s1.item() == pytest.approx(s2.item(), rel=1e-12)
    assert s1.item() == pytest.approx(((betas - tbetas[:, None]) ** 2).mean().item(), rel=1e-12)
    p0, s0 = smpl_loss(target_rot, aa, tbetas[:, None].expand(B, T, 10), tbetas, valid)
    assert p0.item() < 1e-20 and s0.item() == 0.0


# -- flow -----------------------------------------------------------------------------------------
H, W = 48, 64  # deliberately not square: catches x/y and W/H mix-ups


def _pixel(x: torch.Tensor) -> torch.Tensor:
    """Normalised (…, 2) → pixel coordinates (align_corners=False)."""
    size = torch.tensor([W, H], dtype=x.dtype)
    return (x + 1) / 2 * size - 0.5


def _field_on_grid(fn) -> torch.Tensor:
    """Evaluate a pixel-space displacement field fn((…, 2) px) → (…, 2) px on the pixel grid: (2, H, W)."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=DT), torch.arange(W, dtype=DT), indexing="ij")
    return fn(torch.stack([xs, ys], -1)).permute(2, 0, 1)


def _affine(angle: float, scale: float, centre: tuple[float, float], shift: tuple[float, float]):
    """Displacement field d(p) = (s R − I)(p − c) + b in pixels: a smooth rotation + zoom + shift."""
    c, s = math.cos(angle), math.sin(angle)
    a = scale * torch.tensor([[c, -s], [s, c]], dtype=DT) - torch.eye(2, dtype=DT)
    cen, b = torch.tensor(centre, dtype=DT), torch.tensor(shift, dtype=DT)
    return lambda p: (p - cen) @ a.T + b


def _consistent_sequence(gen, fields, j: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints that move exactly with the given backward fields (one per frame 1..T-1)."""
    t = len(fields) + 1
    size = torch.tensor([W, H], dtype=DT)
    last = (torch.rand(1, j, 2, generator=gen, dtype=DT) * 2 - 1) * 0.5  # well inside the crop
    frames = [last]
    for fn in reversed(fields):  # frame i known → frame i-1 = X_i + d(X_i) (analytic)
        cur = frames[0]
        frames.insert(0, cur + fn(_pixel(cur)) * 2 / size)
    joints = torch.stack(frames, 1)  # (1, T, J, 2)
    flow = torch.stack([torch.zeros(2, H, W, dtype=DT)] + [_field_on_grid(fn) for fn in fields])[None]
    assert joints.shape == (1, t, j, 2) and joints.abs().max() < 0.95
    return joints, flow


def test_flow_loss_zero_for_constant_translation(gen):
    shifts = ((3.0, -2.0), (-1.5, 4.0), (0.5, 0.25))
    fields = [lambda p, d=d: torch.zeros_like(p) + torch.tensor(d, dtype=DT) for d in shifts]
    joints, flow = _consistent_sequence(gen, fields)
    assert flow_loss(joints, flow).item() < 1e-6
    # Translation in normalised units: dx * 2 / W, dy * 2 / H.
    step = joints[0, 0] - joints[0, 1]
    np.testing.assert_allclose(step.numpy(), np.broadcast_to([3.0 * 2 / W, -2.0 * 2 / H], step.shape), atol=1e-12)


def test_flow_loss_zero_for_affine_field_and_grows_with_displacement(gen):
    fields = [
        _affine(0.15, 0.95, (30.0, 20.0), (2.0, -1.0)),
        _affine(-0.1, 1.05, (10.0, 40.0), (-3.0, 1.5)),
        _affine(0.3, 1.0, (W / 2, H / 2), (0.0, 0.0)),
    ]
    joints, flow = _consistent_sequence(gen, fields)
    assert flow_loss(joints, flow).item() < 1e-6
    np.testing.assert_allclose(backtrace_joints(joints, flow).numpy(), joints[:, :-1].numpy(), atol=1e-9)
    direction = torch.randn(joints[:, :-1].shape, generator=gen, dtype=DT)
    values = []
    for eps in (0.0, 0.01, 0.03, 0.1, 0.3):
        moved = joints.clone()
        moved[:, :-1] += eps * direction
        values.append(flow_loss(moved, flow).item())
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_flow_of_frame_zero_is_unused_and_conf_masks_joints(gen):
    joints = _randn(gen, 2, T, 6, 2, scale=0.4)
    flow = _randn(gen, 2, T, 2, H, W)
    base = flow_loss(joints, flow)
    other = flow.clone()
    other[:, 0] = 1e3
    assert flow_loss(joints, other).item() == pytest.approx(base.item(), rel=1e-12)
    conf = torch.ones(2, T, 6, dtype=DT)
    conf[:, :, 0] = 0
    moved = joints.clone()
    moved[:, :, 0] += 0.5
    assert flow_loss(moved, flow, conf).item() == pytest.approx(flow_loss(joints, flow, conf).item(), rel=1e-12)


def test_flow_loss_gradients_reach_both_frames(gen):
    joints = _randn(gen, 1, 2, 5, 2, scale=0.4).requires_grad_(True)
    flow = _randn(gen, 1, 2, 2, H, W).requires_grad_(True)
    flow_loss(joints, flow).backward()
    assert joints.grad[:, 0].abs().sum() > 0 and joints.grad[:, 1].abs().sum() > 0
    assert flow.grad[:, 1].abs().sum() > 0 and flow.grad[:, 0].abs().sum() == 0


def test_sample_flow_reads_pixel_centres():
    flow = _field_on_grid(lambda p: p.clone())[None]  # displacement = own pixel coordinates
    pts = torch.tensor([[[-1 + 1 / W, -1 + 1 / H], [1 - 1 / W, 1 - 1 / H], [0.0, 0.0]]], dtype=DT)
    got = sample_flow(flow, pts)[0]
    expected = torch.tensor([[0.0, 0.0], [W - 1.0, H - 1.0], [W / 2 - 0.5, H / 2 - 0.5]], dtype=DT)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-12)


# -- GAN ------------------------------------------------------------------------------------------
def test_gan_losses_values_and_gradients():
    ones, zeros = torch.ones(5, 1), torch.zeros(5, 1)
    assert generator_adv_loss(ones).item() == 0.0
    assert generator_adv_loss(zeros).item() == 1.0
    assert discriminator_loss(ones, zeros).item() == 0.0
    assert discriminator_loss(zeros, ones).item() == 2.0
    d = torch.full((4, 1), 0.25, requires_grad=True)
    generator_adv_loss(d).backward()
    np.testing.assert_allclose(d.grad.numpy(), np.full((4, 1), 2 * (0.25 - 1) / 4), rtol=1e-6)
    real = torch.full((3,), 0.5, requires_grad=True)
    fake = torch.full((6, 1), 0.5, requires_grad=True)
    discriminator_loss(real, fake).backward()
    assert torch.all(real.grad < 0) and torch.all(fake.grad > 0)


# -- eq. 3 ----------------------------------------------------------------------------------------
def test_combine_losses_weights_terms():
    weights = LossWeights(flow=5.0)
    terms = {k: torch.tensor(v, requires_grad=True) for k, v in
             {"kp3d": 0.1, "kp2d": 0.2, "smpl_pose": 0.3, "smpl_shape": 0.4, "adv": 0.5, "flow": 0.6}.items()}
    total, log = combine_losses(terms, weights)
    expected = (weights.kp3d * 0.1 + weights.kp2d * 0.2 + weights.smpl * (0.3 + 0.4)
                + weights.adv * 0.5 + weights.flow * 0.6)
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert log["total"] == pytest.approx(expected, rel=1e-6) and log["kp2d"] == pytest.approx(0.2)
    assert all(isinstance(v, float) for v in log.values())
    total.backward()
    assert terms["kp2d"].grad.item() == pytest.approx(weights.kp2d)
    partial, _ = combine_losses({"kp2d": torch.tensor(1.0)}, weights)
    assert partial.item() == pytest.approx(weights.kp2d)
    with pytest.raises(ValueError, match="unknown loss terms"):
        combine_losses({"kp4d": torch.tensor(1.0)}, weights)


def test_shape_term_takes_its_own_weight_when_set():
    terms = {"smpl_pose": torch.tensor(0.3), "smpl_shape": torch.tensor(0.9)}
    alike, _ = combine_losses(terms, LossWeights(smpl=100.0))
    assert alike.item() == pytest.approx(100.0 * 1.2)
    apart, _ = combine_losses(terms, LossWeights(smpl=100.0, smpl_shape=0.5))
    assert apart.item() == pytest.approx(100.0 * 0.3 + 0.5 * 0.9)


# -- shapes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda: keypoint_3d_loss(torch.zeros(2, 4, 49, 2), torch.zeros(2, 4, 49, 2), None, None), r"\(B, T, J, 3\)"),
        (lambda: keypoint_3d_loss(torch.zeros(2, 4, 49, 3), torch.zeros(2, 4, 24, 3), None, None), r"\(B, T, J, 3\)"),
        (lambda: keypoint_3d_loss(torch.zeros(2, 4, 14, 3), torch.zeros(2, 4, 14, 3), None, None), "pelvis_index"),
        (lambda: keypoint_2d_loss(torch.zeros(2, 4, 49, 2), torch.zeros(2, 4, 49, 2), torch.ones(2, 4, 48), None),
         r"\(B, T, J\)"),
        (lambda: keypoint_2d_loss(torch.zeros(2, 4, 49, 2), torch.zeros(2, 4, 49, 2), None, torch.ones(3, 4).bool()),
         r"\(B, T\)"),
        (lambda: smpl_loss(torch.zeros(2, 4, 24, 3), torch.zeros(2, 4, 24, 3), torch.zeros(2, 4, 10),
                           torch.zeros(2, 4, 10), None), r"\(B, T, 24, 3, 3\)"),
        (lambda: smpl_loss(torch.eye(3).expand(2, 4, 24, 3, 3), torch.zeros(2, 4, 23, 3), torch.zeros(2, 4, 10),
                           torch.zeros(2, 4, 10), None), r"\(B, T, 24, 3\)"),
        (lambda: smpl_loss(torch.eye(3).expand(2, 4, 24, 3, 3), torch.zeros(2, 4, 24, 3), torch.zeros(2, 4, 10),
                           torch.zeros(2, 4, 9), None), r"\(B, T, S\)"),
        (lambda: generator_adv_loss(torch.zeros(4, 2)), r"\(N, 1\)"),
        (lambda: discriminator_loss(torch.zeros(4, 1), torch.zeros(4, 1, 1)), r"\(N, 1\)"),
        (lambda: flow_loss(torch.zeros(2, 1, 5, 2), torch.zeros(2, 1, 2, 8, 8)), "T >= 2"),
        (lambda: flow_loss(torch.zeros(2, 4, 5, 2), torch.zeros(2, 4, 3, 8, 8)), r"\(B, T, 2, H, W\)"),
        (lambda: flow_loss(torch.zeros(2, 4, 5, 3), torch.zeros(2, 4, 2, 8, 8)), r"\(B, T, J, 2\)"),
    ],
)
def test_bad_shapes_raise(call, expected):
    with pytest.raises(ValueError, match=expected):
        call()
