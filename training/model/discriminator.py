"""The motion discriminator D_M (paper §3.2, after VIBE): is a pose sequence real (AMASS) or predicted?

A GRU reads the sequence, a small MLP scores each frame's hidden state, a softmax over time turns
the scores into attention weights, and the weighted sum of hidden states is mapped to one score.
The score feeds least-squares GAN losses (paper eq. 7–8; the losses live with the trainer).

**Input: 6D rotations of the 23 body joints, ``(N, T, 138)``.** The root (global) orientation is
left out, as VIBE does: it encodes where the camera stands, not how the body moves, and AMASS roots
are in mocap-world coordinates while predicted roots are camera-relative, so the discriminator
could tell real from fake by the root alone. We feed 6D rotations rather than VIBE's 69-d
axis-angle because 6D is what the generator emits (the 24×6 part of the 157 parameters) and it is
continuous (axis-angle wraps at π); real AMASS poses are converted to 6D once when loaded.
:func:`body_pose_6d` drops the root from a full 24-joint pose. ``pose_dim`` is a parameter so that
other encodings (69-d axis-angle, 23×9 matrices …) can be used as well.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor, nn

from ..config.schema import DiscriminatorConfig, ModelConfig

__all__ = ["AttentionPooling", "MotionDiscriminator", "body_pose_6d", "build_discriminator", "BODY_POSE_6D_DIM"]

#: SMPL's 24 joints = root + 23 body joints; 6 numbers per rotation.
NUM_JOINTS = 24
ROT_6D = 6
#: The discriminator's default input width: 23 body joints × 6D.
BODY_POSE_6D_DIM = (NUM_JOINTS - 1) * ROT_6D


def body_pose_6d(pose: Tensor) -> Tensor:
    """Drop the root: ``(N, T, 24, 6)`` or ``(N, T, 144)`` 6D rotations → ``(N, T, 138)``.

    Joint 0 (the root, SMPL's global orientation) comes first.
    """
    if pose.dim() == 4 and pose.shape[2:] == (NUM_JOINTS, ROT_6D):
        return pose[:, :, 1:].flatten(2)
    if pose.dim() == 3 and pose.shape[2] == NUM_JOINTS * ROT_6D:
        return pose[:, :, ROT_6D:]
    raise ValueError(
        f"expected (N, T, {NUM_JOINTS}, {ROT_6D}) or (N, T, {NUM_JOINTS * ROT_6D}) 6D poses, got {tuple(pose.shape)}"
    )


class AttentionPooling(nn.Module):
    """Self-attention pooling over time: ``(N, T, D)`` → pooled ``(N, D)`` and weights ``(N, T)``.

    An MLP of ``layers`` linear layers (``tanh`` between them) scores each frame; the weights are a
    softmax of the scores over time.
    """

    def __init__(self, dim: int, attention_dim: int = 1024, layers: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"attention layers must be ≥ 1, got {layers}")
        blocks: list[nn.Module] = []
        width = dim
        for _ in range(layers - 1):
            blocks += [nn.Linear(width, attention_dim), nn.Tanh(), nn.Dropout(dropout)]
            width = attention_dim
        blocks.append(nn.Linear(width, 1))
        self.score = nn.Sequential(*blocks)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, T, D)`` → ``(N, D)`` weighted sum of frames and ``(N, T)`` weights summing to 1."""
        weights = torch.softmax(self.score(h).squeeze(-1), dim=1)
        return torch.einsum("nt,ntd->nd", weights, h), weights


class MotionDiscriminator(nn.Module):
    """GRU over ``(N, T, pose_dim)`` pose sequences → attention pooling → linear → ``(N, 1)`` score.

    Real motion: AMASS SMPL poses; fake: the generator's predicted poses, both encoded alike
    (default: :func:`body_pose_6d`, 23 joints × 6D = 138). Any T ≥ 1 works.
    """

    def __init__(
        self,
        pose_dim: int = BODY_POSE_6D_DIM,
        hidden_dim: int = 1024,
        num_layers: int = 2,
        attention_dim: int = 1024,
        attention_layers: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.pose_dim = pose_dim
        self.gru = nn.GRU(
            pose_dim, hidden_dim, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.pool = AttentionPooling(hidden_dim, attention_dim, attention_layers, dropout)
        self.out = nn.Linear(hidden_dim, 1)

    def forward(self, motion: Tensor, return_attention: bool = False) -> Union[Tensor, tuple[Tensor, Tensor]]:
        """``(N, T, pose_dim)`` → ``(N, 1)`` realness score (and ``(N, T)`` attention if asked)."""
        if motion.dim() != 3 or motion.shape[2] != self.pose_dim:
            raise ValueError(f"motion discriminator expects (N, T, {self.pose_dim}) poses, got {tuple(motion.shape)}")
        hidden, _ = self.gru(motion)
        pooled, weights = self.pool(hidden)
        score = self.out(pooled)
        return (score, weights) if return_attention else score


def build_discriminator(
    cfg: Union[DiscriminatorConfig, ModelConfig],
    pose_dim: int = BODY_POSE_6D_DIM,
    attention_layers: int = 3,
    dropout: float = 0.1,
) -> MotionDiscriminator:
    """A :class:`MotionDiscriminator` sized from ``cfg.discriminator`` (or a ``DiscriminatorConfig``).

    Built whether or not ``enabled`` is set; callers decide whether to use it.
    """
    d: DiscriminatorConfig = cfg.discriminator if isinstance(cfg, ModelConfig) else cfg
    return MotionDiscriminator(
        pose_dim=pose_dim,
        hidden_dim=d.hidden_dim,
        num_layers=d.layers,
        attention_dim=d.attention_dim,
        attention_layers=attention_layers,
        dropout=dropout,
    )
