"""The layout of Θ, the SMPL-format parameters the network predicts, and the weak-perspective camera.

Θ per frame = 24 joint rotations in 6D (144) ‖ β (``S``, 10 in the paper) ‖ camera (s, tx, ty) (3):
157 values for S = 10. 2D joints are ``x = s · (X_xy + t)`` in normalised crop coordinates
([-1, 1], x right, y down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..body.rotations import axis_angle_to_matrix, matrix_to_rot6d

__all__ = ["ThetaLayout", "mean_theta", "project_weak_perspective"]

NUM_JOINTS = 24
ROT_DIM = 6 * NUM_JOINTS
CAM_DIM = 3
#: Scale of the mean camera: a person filling ~90% of the crop (as in HMR/VIBE).
MEAN_CAM_SCALE = 0.9


@dataclass(frozen=True)
class ThetaLayout:
    num_betas: int = 10

    @property
    def size(self) -> int:
        return ROT_DIM + self.num_betas + CAM_DIM

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(..., size)`` → rot6d ``(..., 24, 6)``, betas ``(..., S)``, cam ``(..., 3)``."""
        if theta.shape[-1] != self.size:
            raise ValueError(f"expected Θ of shape (..., {self.size}), got {tuple(theta.shape)}")
        rot = theta[..., :ROT_DIM].reshape(*theta.shape[:-1], NUM_JOINTS, 6)
        return rot, theta[..., ROT_DIM : ROT_DIM + self.num_betas], theta[..., ROT_DIM + self.num_betas :]


def mean_theta(layout: ThetaLayout) -> torch.Tensor:
    """The starting estimate ``(size,)``: rest pose seen upright by a y-down camera (root turned by π
    about x), mean shape, camera (0.9, 0, 0)."""
    aa = torch.zeros(NUM_JOINTS, 3)
    aa[0, 0] = math.pi
    rot = matrix_to_rot6d(axis_angle_to_matrix(aa)).reshape(-1)
    cam = torch.tensor([MEAN_CAM_SCALE, 0.0, 0.0])
    return torch.cat([rot, torch.zeros(layout.num_betas), cam])


def project_weak_perspective(points: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """points ``(..., J, 3)``, cam ``(..., 3)`` = (s, tx, ty) → ``(..., J, 2)``."""
    if cam.shape[-1] != 3 or points.shape[-1] != 3:
        raise ValueError(f"expected points (..., J, 3) and cam (..., 3), got {tuple(points.shape)} and {tuple(cam.shape)}")
    return cam[..., None, :1] * (points[..., :2] + cam[..., None, 1:])
