"""Temporal encoders over the per-frame RGB features: the paper's transformer, or VIBE's GRU (ablation).

Both share one interface: ``forward(x (B, N, D)) -> (B, N, D)`` for a window or a whole sequence,
and ``init_state(B)`` / ``step(x (B, D), state, pos)`` for streaming one frame at a time.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..config.schema import TransformerConfig
from .attention import TransformerStack

__all__ = ["TransformerTemporalEncoder", "GRUTemporalEncoder", "build_temporal_encoder"]


class TransformerTemporalEncoder(nn.Module):
    """The paper's temporal encoder: N transformer layers, H heads, width d (6 × 8 × 512)."""

    def __init__(self, dim: int, cfg: TransformerConfig, window: int) -> None:
        super().__init__()
        self.stack = TransformerStack(dim, cfg.heads, cfg.ff_dim, cfg.layers, window, cfg.attention, cfg.dropout)
        self.streamable = cfg.attention == "causal"

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.stack(x, need_weights)

    def init_state(self, batch: int, device: Optional[torch.device] = None) -> dict[str, torch.Tensor]:
        return self.stack.init_state(batch, device)

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor], pos: torch.Tensor):
        return self.stack.step(x, state, pos)


class GRUTemporalEncoder(nn.Module):
    """VIBE's encoder (the paper's Table 2 baseline): a unidirectional GRU, a projection back to d
    and a residual connection to the input. Its streaming state is the GRU's hidden state."""

    def __init__(self, dim: int, hidden: int = 1024, layers: int = 2) -> None:
        super().__init__()
        self.dim = dim
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True)
        self.proj = nn.Linear(hidden, dim)
        self.streamable = True

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"expected features of shape (B, N, {self.dim}), got {tuple(x.shape)}")
        y, _ = self.gru(x)
        return x + self.proj(y), []

    def init_state(self, batch: int, device: Optional[torch.device] = None) -> dict[str, torch.Tensor]:
        return {"h": torch.zeros(self.gru.num_layers, batch, self.gru.hidden_size, device=device)}

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor], pos: torch.Tensor):
        if x.dim() != 2 or x.shape[-1] != self.dim:
            raise ValueError(f"expected one frame of features (B, {self.dim}), got {tuple(x.shape)}")
        y, h = self.gru(x[:, None], state["h"])
        return x + self.proj(y[:, 0]), {"h": h}


def build_temporal_encoder(dim: int, cfg: TransformerConfig, window: int) -> nn.Module:
    """``temporal_encoder.type``: ``transformer`` (the paper) or ``gru`` (VIBE)."""
    if cfg.type == "gru":
        return GRUTemporalEncoder(dim)
    return TransformerTemporalEncoder(dim, cfg, window)
