"""Evaluation metrics for 3D body pose and shape (torch tensors in; tensors or floats out).

The protocol is the one VIBE and DTS-VIBE report (Table 1 of the paper):

* **MPJPE**: mean per-joint position error after centring prediction and ground truth on their
  own pelvis (the midpoint of the two hips of the 14 evaluation joints);
* **PA-MPJPE**: the same after a per-sample similarity Procrustes alignment (rotation, isotropic
  scale, translation) of the prediction onto the ground truth;
* **PVE**: mean per-vertex error, the meshes centred on the pelvis of their joints;
* **Accel**: mean over joints of the norm of the difference of the second differences (frame
  t: ``x[t+1] - 2 x[t] + x[t-1]``), in input units per frame² (mm/frame² for mm inputs).

The 14 evaluation joints (LSP order: R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist,
R elbow, R shoulder, L shoulder, L elbow, L wrist, neck, head top) come from a body model output
with ``body.joint_set(out, "lsp14")`` (see :func:`evaluation_joints`); this set is our equivalent of
VIBE's Human3.6M-regressor joints picked with ``H36M_TO_J14``. Its hips are indices 2 and 3.

Shapes: ``N`` samples (frames), ``J`` joints, ``V`` vertices, ``T`` frames of one sequence.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional, Sequence

import torch

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .body import BodyModel, BodyOutput

__all__ = [
    "LSP14_PELVIS",
    "procrustes_align",
    "mpjpe",
    "pa_mpjpe",
    "pve",
    "second_difference",
    "accel_valid_mask",
    "accel_error",
    "accel_to_m_per_s2",
    "evaluation_joints",
    "evaluate_sequence",
]

#: Indices of the two hips in the LSP-14 evaluation joints; the pelvis is their midpoint.
LSP14_PELVIS: tuple[int, int] = (2, 3)


# -- shape checks ---------------------------------------------------------------------------------
def _check_points(x: torch.Tensor, name: str, expected: str = "(N, J, 3)") -> None:
    """Raise ``ValueError`` unless ``x`` is a ``(N, J, 3)`` tensor."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} has shape {shape}; expected {expected}")


def _check_pair(pred: torch.Tensor, target: torch.Tensor, expected: str = "(N, J, 3)") -> None:
    """Both ``(N, J, 3)`` and of equal shape."""
    _check_points(pred, "pred", expected)
    _check_points(target, "target", expected)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ; expected both {expected}"
        )


def _pelvis(points: torch.Tensor, pelvis_index: Sequence[int]) -> torch.Tensor:
    """Mean of the joints ``pelvis_index``: ``(N, J, 3) -> (N, 1, 3)``."""
    idx = list(pelvis_index)
    if not idx or max(idx) >= points.shape[1] or min(idx) < -points.shape[1]:
        raise ValueError(f"pelvis_index {tuple(idx)} is not valid for {points.shape[1]} joints")
    return points[:, idx].mean(dim=1, keepdim=True)


# -- Procrustes -----------------------------------------------------------------------------------
def procrustes_align(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Align each sample of ``pred`` to ``target`` by a similarity transform fitted with an SVD.

    For every sample n, finds the scale s > 0, proper rotation R (det +1) and translation t that
    minimise ``||s * pred[n] @ R + t - target[n]||²`` (Umeyama / Kabsch with scale).

    pred: (N, J, 3); target: (N, J, 3). Returns the aligned prediction (N, J, 3).
    """
    _check_pair(pred, target)
    mu_p = pred.mean(dim=1, keepdim=True)  # (N, 1, 3)
    mu_t = target.mean(dim=1, keepdim=True)
    p = pred - mu_p  # (N, J, 3)
    q = target - mu_t
    cov = p.transpose(-1, -2) @ q  # (N, 3, 3) = sum_j p_j q_j^T
    u, sing, vh = torch.linalg.svd(cov)  # cov = u diag(sing) vh
    # Reflection fix: flip the axis of the smallest singular value when u @ vh is improper.
    d = torch.sign(torch.linalg.det(u @ vh))  # (N,)
    d = torch.where(d == 0, torch.ones_like(d), d)
    fix = torch.cat([torch.ones_like(sing[:, :2]), d[:, None]], dim=1)  # (N, 3)
    rot = u @ (fix[:, :, None] * vh)  # (N, 3, 3); rows act on row vectors: p @ rot
    var_p = (p * p).sum(dim=(1, 2))  # (N,)
    scale = (sing * fix).sum(dim=1) / var_p.clamp_min(eps)  # (N,)
    return scale[:, None, None] * (p @ rot) + mu_t


# -- per-sample errors ----------------------------------------------------------------------------
def mpjpe(
    pred: torch.Tensor,
    target: torch.Tensor,
    pelvis_align: bool = True,
    pelvis_index: tuple[int, ...] = LSP14_PELVIS,
) -> torch.Tensor:
    """Mean per-joint position error per sample, in the input units.

    pred, target: (N, J, 3). With ``pelvis_align`` both are first centred on their own pelvis, the
    mean of joints ``pelvis_index`` (default: the LSP-14 hips). Returns (N,).
    """
    _check_pair(pred, target)
    if pelvis_align:
        pred = pred - _pelvis(pred, pelvis_index)
        target = target - _pelvis(target, pelvis_index)
    return (pred - target).norm(dim=-1).mean(dim=-1)


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after Procrustes alignment of each sample. pred, target: (N, J, 3) -> (N,)."""
    return mpjpe(procrustes_align(pred, target), target, pelvis_align=False)


def pve(
    pred_vertices: torch.Tensor,
    target_vertices: torch.Tensor,
    pred_pelvis: Optional[torch.Tensor] = None,
    target_pelvis: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Mean per-vertex error per sample.

    pred_vertices, target_vertices: (N, V, 3). ``pred_pelvis``/``target_pelvis`` (N, 3), when
    given, are subtracted from their mesh first (VIBE centres each mesh on the pelvis of its
    joints); otherwise the meshes are compared as they are. Returns (N,).
    """
    _check_pair(pred_vertices, target_vertices, "(N, V, 3)")
    n = pred_vertices.shape[0]
    for name, pel in (("pred_pelvis", pred_pelvis), ("target_pelvis", target_pelvis)):
        if pel is not None and (not isinstance(pel, torch.Tensor) or tuple(pel.shape) != (n, 3)):
            shape = tuple(pel.shape) if isinstance(pel, torch.Tensor) else type(pel).__name__
            raise ValueError(f"{name} has shape {shape}; expected (N, 3) = ({n}, 3)")
    if pred_pelvis is not None:
        pred_vertices = pred_vertices - pred_pelvis[:, None]
    if target_pelvis is not None:
        target_vertices = target_vertices - target_pelvis[:, None]
    return (pred_vertices - target_vertices).norm(dim=-1).mean(dim=-1)


# -- acceleration ---------------------------------------------------------------------------------
def second_difference(x: torch.Tensor) -> torch.Tensor:
    """Discrete acceleration along dim 0: ``x[t+1] - 2 x[t] + x[t-1]``. (T, ...) -> (T-2, ...)."""
    if x.dim() < 1 or x.shape[0] < 3:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (T, ...) with T >= 3")
    return x[2:] - 2.0 * x[1:-1] + x[:-2]


def accel_valid_mask(valid: torch.Tensor) -> torch.Tensor:
    """Which second differences use only valid frames. valid: (T,) bool -> (T-2,) bool."""
    if valid.dim() != 1 or valid.shape[0] < 3:
        raise ValueError(f"valid has shape {tuple(valid.shape)}; expected (T,) with T >= 3")
    v = valid.bool()
    return v[:-2] & v[1:-1] & v[2:]


def accel_error(
    pred: torch.Tensor, target: torch.Tensor, valid: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Per-frame acceleration error of one sequence.

    pred, target: (T, J, 3); valid: optional (T,) bool. Returns (T-2,): entry k belongs to frame
    k+1 (the centre of the stencil k, k+1, k+2) and is the mean over joints of
    ``||accel(pred) - accel(target)||``, in input units per frame² (mm/frame² for mm inputs; see
    :func:`accel_to_m_per_s2`). Entries whose 3-frame stencil touches an invalid frame are NaN
    (aggregate with ``torch.nanmean``; :func:`accel_valid_mask` gives the same mask).
    """
    _check_pair(pred, target, "(T, J, 3)")
    if pred.shape[0] < 3:
        raise ValueError(f"pred has shape {tuple(pred.shape)}; expected (T, J, 3) with T >= 3")
    err = (second_difference(pred) - second_difference(target)).norm(dim=-1).mean(dim=-1)  # (T-2,)
    if valid is None:
        return err
    if tuple(valid.shape) != (pred.shape[0],):
        raise ValueError(f"valid has shape {tuple(valid.shape)}; expected (T,) = ({pred.shape[0]},)")
    keep = accel_valid_mask(valid.to(err.device))
    return torch.where(keep, err, torch.full_like(err, float("nan")))


def accel_to_m_per_s2(value_mm_per_frame2: float | torch.Tensor, fps: float) -> float | torch.Tensor:
    """Convert an acceleration from mm/frame² to m/s²: ``value * 1e-3 * fps²``."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return value_mm_per_frame2 * 1e-3 * fps * fps


# -- convenience ----------------------------------------------------------------------------------
def evaluation_joints(body: "BodyModel", output: "BodyOutput") -> torch.Tensor:
    """The 14 evaluation joints (LSP order) of a body model output: (B, 14, 3).

    Equivalent to VIBE's Human3.6M regressor + ``H36M_TO_J14``; hips at :data:`LSP14_PELVIS`.
    """
    return body.joint_set(output, "lsp14")


def _nanmean(x: torch.Tensor) -> float:
    """Mean over the finite entries as a Python float (NaN when there are none)."""
    x = x[torch.isfinite(x)]
    return float(x.mean()) if x.numel() else math.nan


def evaluate_sequence(
    pred_joints: torch.Tensor,
    target_joints: torch.Tensor,
    pred_vertices: Optional[torch.Tensor] = None,
    target_vertices: Optional[torch.Tensor] = None,
    valid: Optional[torch.Tensor] = None,
    pelvis_index: tuple[int, ...] = LSP14_PELVIS,
) -> dict[str, float]:
    """All metrics of one sequence, in millimetres, from inputs in metres.

    pred_joints, target_joints: (T, 14, 3) LSP-14 joints in metres; pred_vertices, target_vertices:
    optional (T, V, 3) in metres (centred on the pelvis of their joints); valid: optional (T,) bool.
    Returns ``{"mpjpe", "pa_mpjpe", "pve", "accel"}``: the first three are means over valid frames
    in mm, ``accel`` the mean over valid stencils in mm/frame². ``pve`` is NaN without vertices,
    ``accel`` NaN when fewer than 3 frames (or no valid stencil) exist.
    """
    _check_pair(pred_joints, target_joints, "(T, J, 3)")
    t = pred_joints.shape[0]
    if valid is None:
        valid = torch.ones(t, dtype=torch.bool, device=pred_joints.device)
    elif tuple(valid.shape) != (t,):
        raise ValueError(f"valid has shape {tuple(valid.shape)}; expected (T,) = ({t},)")
    valid = valid.bool().to(pred_joints.device)
    pj, tj = pred_joints.detach() * 1000.0, target_joints.detach() * 1000.0
    res = {
        "mpjpe": _nanmean(mpjpe(pj[valid], tj[valid], pelvis_index=pelvis_index)),
        "pa_mpjpe": _nanmean(pa_mpjpe(pj[valid], tj[valid])),
        "pve": math.nan,
        "accel": _nanmean(accel_error(pj, tj, valid)) if t >= 3 else math.nan,
    }
    if pred_vertices is not None and target_vertices is not None:
        pv, tv = pred_vertices.detach() * 1000.0, target_vertices.detach() * 1000.0
        pel_p, pel_t = _pelvis(pj, pelvis_index)[:, 0], _pelvis(tj, pelvis_index)[:, 0]
        _check_pair(pv, tv, "(T, V, 3)")
        if pv.shape[0] != t:
            raise ValueError(f"pred_vertices has shape {tuple(pv.shape)}; expected (T, V, 3) with T = {t}")
        res["pve"] = _nanmean(pve(pv[valid], tv[valid], pel_p[valid], pel_t[valid]))
    return res
