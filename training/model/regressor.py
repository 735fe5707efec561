"""SMPL regressors that refine the coarse Θ (FC 512 → 157) into the final Θ.

* ``transformer`` (the paper): the coarse Θ of every frame is embedded, passed through a small
  banded transformer over time (3 layers × 4 heads), and a residual correction is added.
* ``iterative`` (HMR/SPIN-style iterative error feedback; the paper's ablation): per frame,
  Θ ← Θ + MLP([fused feature, Θ]) a few times.

Both: ``forward(coarse (B, N, P), fused (B, N, D)) -> (B, N, P)``; ``init_state``/``step`` per frame.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..config.schema import RegressorConfig
from .attention import TransformerStack

__all__ = ["TransformerRegressor", "IterativeRegressor", "build_regressor"]


class TransformerRegressor(nn.Module):
    def __init__(self, theta_dim: int, cfg: RegressorConfig, window: int, mode: str) -> None:
        super().__init__()
        self.embed = nn.Linear(theta_dim, cfg.dim)
        self.stack = TransformerStack(cfg.dim, cfg.heads, cfg.ff_dim, cfg.layers, window, mode, cfg.dropout)
        self.head = nn.Linear(cfg.dim, theta_dim)
        nn.init.normal_(self.head.weight, std=1e-3)  # start close to the coarse estimate
        nn.init.zeros_(self.head.bias)

    def forward(self, coarse: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
        y, _ = self.stack(self.embed(coarse))
        return coarse + self.head(y)

    def init_state(self, batch: int, device: Optional[torch.device] = None) -> dict[str, torch.Tensor]:
        return self.stack.init_state(batch, device)

    def step(self, coarse: torch.Tensor, fused: torch.Tensor, state: dict[str, torch.Tensor], pos: torch.Tensor):
        y, state = self.stack.step(self.embed(coarse), state, pos)
        return coarse + self.head(y), state


class IterativeRegressor(nn.Module):
    def __init__(self, theta_dim: int, feature_dim: int, cfg: RegressorConfig, hidden: int = 1024) -> None:
        super().__init__()
        self.iterations = cfg.iterations
        self.mlp = nn.Sequential(
            nn.Linear(feature_dim + theta_dim, hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Linear(hidden, theta_dim),
        )
        nn.init.normal_(self.mlp[-1].weight, std=1e-3)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, coarse: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
        theta = coarse
        for _ in range(self.iterations):
            theta = theta + self.mlp(torch.cat([fused, theta], dim=-1))
        return theta

    def init_state(self, batch: int, device: Optional[torch.device] = None) -> dict[str, torch.Tensor]:
        return {}

    def step(self, coarse: torch.Tensor, fused: torch.Tensor, state: dict[str, torch.Tensor], pos: torch.Tensor):
        return self.forward(coarse, fused), state


def build_regressor(theta_dim: int, feature_dim: int, cfg: RegressorConfig, window: int, mode: str) -> nn.Module:
    """``regressor.type``: ``transformer`` (the paper) or ``iterative`` (HMR/SPIN)."""
    if cfg.type == "iterative":
        return IterativeRegressor(theta_dim, feature_dim, cfg)
    return TransformerRegressor(theta_dim, cfg, window, mode)
