"""Differentiable rotation conversions for batched joint rotations (torch).

Formats used across the project (last dimensions):

* axis-angle ``(..., 3)``: direction = axis, norm = angle in radians (SMPL's θ);
* 6D ``(..., 6)``: the first two columns of the rotation matrix, ``[R[:,0], R[:,1]]`` (Zhou et al.,
  "On the continuity of rotation representations", CVPR 2019) — what the network regresses;
* matrix ``(..., 3, 3)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "rot6d_to_matrix",
    "matrix_to_rot6d",
]


def _skew(v: torch.Tensor) -> torch.Tensor:
    """``(..., 3) -> (..., 3, 3)`` cross-product matrices."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, ``(..., 3) -> (..., 3, 3)``; smooth (Taylor terms) near zero angle."""
    theta2 = (aa * aa).sum(-1, keepdim=True).unsqueeze(-1)  # (..., 1, 1)
    theta = torch.sqrt(theta2.clamp_min(1e-12))
    small = theta2 < 1e-8
    # sin(t)/t and (1 - cos t)/t^2 with their series where t is tiny (keeps gradients finite at 0).
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    k = _skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def matrix_to_axis_angle(rot: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3) -> (..., 3)``, angles in [0, π]; robust near 0 and π (via quaternions)."""
    m = rot
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Quaternion from matrix, choosing the numerically largest component (Shepperd's method).
    cand = torch.stack(
        [
            1.0 + trace,
            1.0 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1.0 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1.0 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        dim=-1,
    )
    best = cand.argmax(-1)
    qw = torch.stack(
        [cand[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )
    qx = torch.stack(
        [m[..., 2, 1] - m[..., 1, 2], cand[..., 1], m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1
    )
    qy = torch.stack(
        [m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], cand[..., 2], m[..., 2, 1] + m[..., 1, 2]], -1
    )
    qz = torch.stack(
        [m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], cand[..., 3]], -1
    )
    quats = torch.stack([qw, qx, qy, qz], dim=-2)  # (..., 4 candidates, 4)
    q = torch.gather(quats, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(q, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)  # w >= 0 -> angle in [0, pi]
    sin_half = q[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., :1])
    scale = torch.where(sin_half < 1e-7, 2.0 / q[..., :1].clamp_min(1e-7), angle / sin_half.clamp_min(1e-12))
    return q[..., 1:] * scale


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """``(..., 6) -> (..., 3, 3)`` by Gram–Schmidt on the two stored columns."""
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(rot: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3) -> (..., 6)``: the first two columns, column-major."""
    return torch.cat([rot[..., :, 0], rot[..., :, 1]], dim=-1)
