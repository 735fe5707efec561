"""Training losses of DTS-VIBE (paper eq. 3–9), differentiable and device-agnostic.

Terms and their paper equations:

* :func:`keypoint_3d_loss` (eq. 4), :func:`keypoint_2d_loss` (eq. 5), :func:`smpl_loss` (eq. 6);
* :func:`generator_adv_loss` (eq. 7) and :func:`discriminator_loss` (eq. 8), least-squares GAN;
* :func:`flow_loss` (eq. 9), used in the refinement phase;
* :func:`acceleration_loss`, not in the paper (weight 0 in ``paper.yaml``): the squared error of the
  3D joints' second differences over time, as later video methods (e.g. TCMR) add to stop jitter;
* :func:`combine_losses` weights them with a ``LossWeights`` config (eq. 3).

**Masks.** A batch mixes data sets: 2D-only clips have no 3D joints and no SMPL labels. Every
supervised loss takes ``valid``, a bool mask of shape ``(B, T)`` (per frame) or ``(B,)`` (per
sample, all frames). Label values under an invalid entry are never read into the result (they may
be NaN or garbage); a loss whose mask is empty returns exactly 0, still attached to the graph so
that ``backward()`` works and gives zero (finite) gradients.

**Reduction.** The paper writes sums of squared L2 norms; like VIBE (whose weights 300/200/…
eq. 3 reuses) every term here is a *mean over elements*: the (confidence-weighted) squared
difference averaged over valid frames × joints × coordinates (or × rotation-matrix entries / β
components). Confidence 0 joints still count in the denominator, as in VIBE.

**Flow convention (eq. 9).** ``flow[:, i]`` is the optical flow of frame i, defined on frame i's
pixel grid, in pixels of the crop: at each pixel of frame i it points to where that point was in
frame i−1 (backward flow; channel 0 = dx to the right, channel 1 = dy downward). Frame 0's flow
(``flow[:, 0]``) is not used. 2D joints are in normalised crop coordinates in [-1, 1] (x right,
y down) with the ``align_corners=False`` convention of ``torch.nn.functional.grid_sample``: pixel
``p = (x + 1) / 2 * W - 0.5`` (and likewise y with H), so ``x = -1`` is the left edge of the left
pixel. A flow displacement ``(dx, dy)`` pixels is ``(dx * 2 / W, dy * 2 / H)`` normalised units.

Shapes: ``B`` batch, ``T`` frames, ``J`` joints, ``S`` shape coefficients, ``H×W`` crop pixels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F

from .body.rotations import axis_angle_to_matrix

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .config.schema import LossWeights

__all__ = [
    "SPIN49_PELVIS",
    "keypoint_3d_loss",
    "keypoint_2d_loss",
    "smpl_loss",
    "generator_adv_loss",
    "discriminator_loss",
    "sample_flow",
    "backtrace_joints",
    "flow_loss",
    "acceleration_loss",
    "LOSS_WEIGHT_OF",
    "combine_losses",
]

#: The hips of the ``spin49`` joint set: its ground-truth-24 part starts at index 25 with the LSP
#: order (R ankle, R knee, R hip, L hip, …), so ``extra/right_hip_lsp`` = 27, ``extra/left_hip_lsp`` = 28.
#: These are the hips that 3D data sets annotate; the pelvis is their midpoint.
SPIN49_PELVIS: tuple[int, int] = (27, 28)


# -- shape checks and masking ---------------------------------------------------------------------
def _shape_of(x: object) -> object:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__


def _check(x: torch.Tensor, name: str, expected: str, dims: Sequence[Optional[int]]) -> None:
    """Raise ``ValueError`` unless ``x`` has ``len(dims)`` dims whose sizes match (None = any)."""
    ok = isinstance(x, torch.Tensor) and x.dim() == len(dims)
    ok = ok and all(d is None or x.shape[i] == d for i, d in enumerate(dims))
    if not ok:
        raise ValueError(f"{name} has shape {_shape_of(x)}; expected {expected}")


def _frame_mask(valid: Optional[torch.Tensor], b: int, t: int, device: torch.device) -> torch.Tensor:
    """``valid`` (B, T) or (B,) bool, or None (all valid) → (B, T) bool on ``device``."""
    if valid is None:
        return torch.ones(b, t, dtype=torch.bool, device=device)
    if isinstance(valid, torch.Tensor) and tuple(valid.shape) == (b,):
        valid = valid[:, None].expand(b, t)
    _check(valid, "valid", f"(B, T) = ({b}, {t}) or (B,) = ({b},)", (b, t))
    return valid.to(device=device, dtype=torch.bool)


def _expand(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, T) mask → broadcastable to ``like`` (B, T, ...)."""
    return mask.reshape(*mask.shape, *([1] * (like.dim() - mask.dim())))


def _clean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the entries of (B, T, ...) ``x`` under invalid frames (so NaN labels cannot leak)."""
    return torch.where(_expand(mask, x), x, torch.zeros((), dtype=x.dtype, device=x.device))


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, T, ...) ``values`` over the elements of valid frames; 0 (with grad) if none."""
    kept = torch.where(_expand(mask, values), values, torch.zeros((), dtype=values.dtype, device=values.device))
    per_frame = math.prod(values.shape[2:])
    count = mask.sum().to(values.dtype) * per_frame
    return kept.sum() / count.clamp_min(1.0)


def _conf_or_ones(conf: Optional[torch.Tensor], b: int, t: int, j: int, like: torch.Tensor) -> torch.Tensor:
    """Confidences (B, T, J), ones when ``conf`` is None."""
    if conf is None:
        return torch.ones(b, t, j, dtype=like.dtype, device=like.device)
    _check(conf, "conf", f"(B, T, J) = ({b}, {t}, {j})", (b, t, j))
    return conf.to(like.dtype)


def _pelvis_centre(x: torch.Tensor, pelvis_index: Sequence[int]) -> torch.Tensor:
    """Subtract the mean of joints ``pelvis_index``: (B, T, J, 3) → (B, T, J, 3)."""
    idx = list(pelvis_index)
    j = x.shape[-2]
    if not idx or max(idx) >= j or min(idx) < -j:
        raise ValueError(f"pelvis_index {tuple(idx)} is not valid for {j} joints (for 'spin49' use {SPIN49_PELVIS})")
    return x - x[..., idx, :].mean(dim=-2, keepdim=True)


# -- supervised terms -----------------------------------------------------------------------------
def keypoint_3d_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    conf: Optional[torch.Tensor],
    valid: Optional[torch.Tensor],
    pelvis_index: Optional[Sequence[int]] = SPIN49_PELVIS,
) -> torch.Tensor:
    """Eq. 4: squared L2 between pelvis-centred predicted and ground-truth 3D joints.

    pred, target: (B, T, J, 3); conf: (B, T, J) per-joint weights or None; valid: (B, T) or (B,)
    bool. Both skeletons are centred on their own pelvis, the midpoint of joints ``pelvis_index``
    (default: the LSP hips of ``spin49``, see :data:`SPIN49_PELVIS`; None: no centring), because the
    network predicts no absolute depth. Returns a scalar.
    """
    _check(pred, "pred", "(B, T, J, 3)", (None, None, None, 3))
    b, t, j, _ = pred.shape
    _check(target, "target", f"(B, T, J, 3) = ({b}, {t}, {j}, 3)", (b, t, j, 3))
    mask = _frame_mask(valid, b, t, pred.device)
    target = _clean(target.to(pred.dtype), mask)
    w = _clean(_conf_or_ones(conf, b, t, j, pred), mask)
    if pelvis_index is not None:
        pred, target = _pelvis_centre(pred, pelvis_index), _pelvis_centre(target, pelvis_index)
    return _masked_mean(w[..., None] * (pred - target) ** 2, mask)


def acceleration_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: Optional[torch.Tensor],
    pelvis_index: Optional[Sequence[int]] = SPIN49_PELVIS,
) -> torch.Tensor:
    """Squared L2 between the predicted and ground-truth accelerations ``x[t+1] − 2x[t] + x[t−1]`` of
    pelvis-centred 3D joints — the training counterpart of the Accel metric.

    pred, target: (B, T, J, 3); valid: (B, T) or (B,) bool. A stencil counts only where all three
    frames are valid; T < 3 or no such stencil gives 0 (with grad). Returns a scalar.
    """
    _check(pred, "pred", "(B, T, J, 3)", (None, None, None, 3))
    b, t, j, _ = pred.shape
    _check(target, "target", f"(B, T, J, 3) = ({b}, {t}, {j}, 3)", (b, t, j, 3))
    mask = _frame_mask(valid, b, t, pred.device)
    if t < 3:
        return pred.sum() * 0.0
    target = _clean(target.to(pred.dtype), mask)
    if pelvis_index is not None:
        pred, target = _pelvis_centre(pred, pelvis_index), _pelvis_centre(target, pelvis_index)

    def accel(x: torch.Tensor) -> torch.Tensor:
        return x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2]

    stencil = mask[:, 2:] & mask[:, 1:-1] & mask[:, :-2]
    return _masked_mean((accel(pred) - accel(target)) ** 2, stencil)


def keypoint_2d_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    conf: Optional[torch.Tensor],
    valid: Optional[torch.Tensor],
) -> torch.Tensor:
    """Eq. 5: confidence-weighted squared L2 between projected and ground-truth 2D joints.

    pred, target: (B, T, J, 2) in normalised crop coordinates [-1, 1]; conf: (B, T, J) visibility
    or confidence (None: all ones); valid: (B, T) or (B,) bool. Returns a scalar.
    """
    _check(pred, "pred", "(B, T, J, 2)", (None, None, None, 2))
    b, t, j, _ = pred.shape
    _check(target, "target", f"(B, T, J, 2) = ({b}, {t}, {j}, 2)", (b, t, j, 2))
    mask = _frame_mask(valid, b, t, pred.device)
    target = _clean(target.to(pred.dtype), mask)
    w = _clean(_conf_or_ones(conf, b, t, j, pred), mask)
    return _masked_mean(w[..., None] * (pred - target) ** 2, mask)


def _target_rotmats(target_pose: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Ground-truth pose (B, T, 24, 3) / (B, T, 72) axis-angle or (B, T, 24, 3, 3) → (B, T, 24, 3, 3).

    Invalid frames are zeroed *before* Rodrigues, so NaN labels of unlabelled frames never reach it.
    """
    b, t = mask.shape
    expected = f"(B, T, 24, 3), (B, T, 72) or (B, T, 24, 3, 3) with B, T = {b}, {t}"
    if isinstance(target_pose, torch.Tensor) and target_pose.dim() == 5:
        _check(target_pose, "target_pose", expected, (b, t, 24, 3, 3))
        return _clean(target_pose.to(dtype), mask)
    if isinstance(target_pose, torch.Tensor) and tuple(target_pose.shape) == (b, t, 72):
        target_pose = target_pose.reshape(b, t, 24, 3)
    _check(target_pose, "target_pose", expected, (b, t, 24, 3))
    return axis_angle_to_matrix(_clean(target_pose.to(dtype), mask))


def smpl_loss(
    pred_rotmat: torch.Tensor,
    target_pose: torch.Tensor,
    pred_betas: torch.Tensor,
    target_betas: torch.Tensor,
    valid: Optional[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 6: squared L2 on joint rotation matrices (θ) and on shape (β), returned separately.

    pred_rotmat: (B, T, 24, 3, 3); target_pose: (B, T, 24, 3) or (B, T, 72) axis-angle, or
    (B, T, 24, 3, 3) matrices; pred_betas: (B, T, S); target_betas: (B, T, S) or (B, S) (one shape
    per sequence); valid: (B, T) or (B,) bool, False where no SMPL label exists.
    Returns ``(pose_loss, shape_loss)``, two scalars.
    """
    _check(pred_rotmat, "pred_rotmat", "(B, T, 24, 3, 3)", (None, None, 24, 3, 3))
    b, t = pred_rotmat.shape[:2]
    _check(pred_betas, "pred_betas", f"(B, T, S) with B, T = {b}, {t}", (b, t, None))
    s = pred_betas.shape[2]
    if isinstance(target_betas, torch.Tensor) and tuple(target_betas.shape) == (b, s):
        target_betas = target_betas[:, None].expand(b, t, s)
    _check(target_betas, "target_betas", f"(B, T, S) = ({b}, {t}, {s}) or (B, S) = ({b}, {s})", (b, t, s))
    mask = _frame_mask(valid, b, t, pred_rotmat.device)
    target_rot = _target_rotmats(target_pose, mask, pred_rotmat.dtype)
    target_betas = _clean(target_betas.to(pred_betas.dtype), mask)
    pose = _masked_mean((pred_rotmat - target_rot) ** 2, mask)
    shape = _masked_mean((pred_betas - target_betas) ** 2, mask)
    return pose, shape


# -- adversarial terms (least-squares GAN) --------------------------------------------------------
def _check_scores(d: torch.Tensor, name: str) -> torch.Tensor:
    """Discriminator scores (N, 1) or (N,) → (N,)."""
    if isinstance(d, torch.Tensor) and d.dim() == 2 and d.shape[1] == 1:
        return d[:, 0]
    _check(d, name, "(N, 1) or (N,)", (None,))
    return d


def _mean_or_zero(x: torch.Tensor) -> torch.Tensor:
    """Mean of (N,) ``x``; 0 (with grad) for N = 0."""
    return x.mean() if x.numel() else x.sum()


def generator_adv_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Eq. 7: ``mean((D(fake) - 1)²)``. d_fake: (N, 1) or (N,) scores of predicted motion → scalar."""
    d = _check_scores(d_fake, "d_fake")
    return _mean_or_zero((d - 1.0) ** 2)


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``mean((D(real) - 1)²) + mean(D(fake)²)``. d_real (N, 1), d_fake (M, 1) (or 1-D) → scalar.

    Pass the scores of *detached* predictions as ``d_fake`` so that this loss trains only D.
    """
    real = _check_scores(d_real, "d_real")
    fake = _check_scores(d_fake, "d_fake")
    return _mean_or_zero((real - 1.0) ** 2) + _mean_or_zero(fake**2)


# -- flow supervision (eq. 9) ---------------------------------------------------------------------
def sample_flow(flow: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample a flow field at normalised points (``align_corners=False``, border padding).

    flow: (N, 2, H, W) in pixels; points: (N, J, 2) normalised (x, y) in [-1, 1].
    Returns the displacement at each point in pixels, (N, J, 2).
    """
    _check(flow, "flow", "(N, 2, H, W)", (None, 2, None, None))
    _check(points, "points", f"(N, J, 2) with N = {flow.shape[0]}", (flow.shape[0], None, 2))
    grid = points[:, :, None, :]  # (N, J, 1, 2)
    out = F.grid_sample(flow.to(points.dtype), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[..., 0].transpose(1, 2)  # (N, 2, J) → (N, J, 2)


def backtrace_joints(joints2d: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Carry the joints of frames 1..T-1 back one frame through the backward flow.

    joints2d: (B, T, J, 2) normalised; flow: (B, T, 2, H, W) pixels (module docstring convention).
    Returns X^f of frames 0..T-2: ``X_i + flow_i(X_i)`` in normalised units, (B, T-1, J, 2).
    """
    _check(joints2d, "joints2d", "(B, T, J, 2) with T >= 2", (None, None, None, 2))
    b, t, j, _ = joints2d.shape
    if t < 2:
        raise ValueError(f"joints2d has shape {tuple(joints2d.shape)}; expected (B, T, J, 2) with T >= 2")
    _check(flow, "flow", f"(B, T, 2, H, W) with B, T = {b}, {t}", (b, t, 2, None, None))
    h, w = flow.shape[-2:]
    cur = joints2d[:, 1:].reshape(b * (t - 1), j, 2)
    disp = sample_flow(flow[:, 1:].reshape(b * (t - 1), 2, h, w), cur)  # pixels
    to_norm = torch.tensor([2.0 / w, 2.0 / h], dtype=disp.dtype, device=disp.device)
    return (cur + disp * to_norm).reshape(b, t - 1, j, 2)


def flow_loss(
    joints2d: torch.Tensor,
    flow: torch.Tensor,
    conf: Optional[torch.Tensor] = None,
    valid: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Eq. 9: predicted 2D joints of frame i traced back through the flow must land on frame i−1's.

    joints2d: (B, T, J, 2) predicted, normalised [-1, 1]; flow: (B, T, 2, H, W) backward flow in
    pixels (``flow[:, 0]`` unused); conf: (B, T, J) or None; valid: (B, T) or (B,) bool. A pair
    (i−1, i) counts when both frames are valid, weighted by ``conf[i-1] * conf[i]``. Returns the mean
    over valid pairs × joints × coordinates of ``(X_{i-1} − (X_i + flow_i(X_i)))²``; gradients reach
    both frames' joints (and the flow if it requires grad). Requires T ≥ 2.
    """
    traced = backtrace_joints(joints2d, flow)  # (B, T-1, J, 2); checks shapes
    b, t, j, _ = joints2d.shape
    mask = _frame_mask(valid, b, t, joints2d.device)
    pair_mask = mask[:, 1:] & mask[:, :-1]
    c = _clean(_conf_or_ones(conf, b, t, j, joints2d), mask)
    w = c[:, 1:] * c[:, :-1]  # (B, T-1, J)
    return _masked_mean(w[..., None] * (joints2d[:, :-1] - traced) ** 2, pair_mask)


# -- eq. 3 ----------------------------------------------------------------------------------------
#: Which ``LossWeights`` field weights each term name accepted by :func:`combine_losses`.
LOSS_WEIGHT_OF: dict[str, str] = {
    "kp3d": "kp3d",
    "kp2d": "kp2d",
    "smpl_pose": "smpl",
    "smpl_shape": "smpl_shape",  # None there: ``smpl``
    "adv": "adv",
    "flow": "flow",
    "accel": "accel",
}


def combine_losses(
    terms: Mapping[str, torch.Tensor], weights: "LossWeights"
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 3: ``total = Σ weight(name) · term`` over the terms given (absent terms count 0).

    terms: scalar tensors named as in :data:`LOSS_WEIGHT_OF` (``smpl_shape`` takes ``weights.smpl`` unless
    ``weights.smpl_shape`` is set); weights: a ``LossWeights`` (or any object with those fields).
    Returns ``(total, log)``: the total scalar (with grad) and a dict of detached floats, each
    unweighted term plus ``"total"``.
    """
    unknown = sorted(set(terms) - set(LOSS_WEIGHT_OF))
    if unknown:
        raise ValueError(f"unknown loss terms {unknown}; expected names among {sorted(LOSS_WEIGHT_OF)}")
    total: Optional[torch.Tensor] = None
    log: dict[str, float] = {}
    for name, value in terms.items():
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ValueError(f"loss term {name!r} has shape {_shape_of(value)}; expected a scalar ()")
        weight = getattr(weights, LOSS_WEIGHT_OF[name], None) if name == "smpl_shape" else getattr(weights, LOSS_WEIGHT_OF[name])
        weighted = float(weights.smpl if weight is None else weight) * value  # smpl_shape None: the shared weight
        total = weighted if total is None else total + weighted
        log[name] = float(value.detach())
    if total is None:
        total = torch.zeros(())
    log["total"] = float(total.detach())
    return total, log
