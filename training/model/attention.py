"""Transformer layers over time with banded attention, relative positions and a streaming step.

Frame ``i`` attends to frame ``j`` when ``0 <= i - j < W`` (``causal``) or ``|i - j| < W``
(``bidirectional``; on the paper's T-frame window that is every frame), where ``W`` is the window
(T = 16). Positions enter only as a learned per-head bias on the offset ``i - j``, so a layer's
output depends on the frames inside the band and not on where the sequence started. That is what
makes the causal form streamable: a per-layer key/value **ring buffer** of the last ``W`` frames
gives, one frame at a time, exactly what the batch forward over the whole sequence gives.

Shapes: ``B`` batch, ``N`` frames, ``D`` width, ``H`` heads, ``W`` window, ``Dh = D / H``.
The streaming state of a stack of ``L`` layers is ``k, v: (L, B, H, W, Dh)`` plus ``pos: (B,)``, the
index of the frame being added (frames seen so far). Everything in :meth:`TransformerStack.step`
has static shapes and exports to ONNX.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

Mode = Literal["causal", "bidirectional"]

__all__ = ["BandedSelfAttention", "TransformerLayer", "TransformerStack", "band_offsets"]

_NEG = -1e9  # masked score; finite so that ONNX/TensorRT never see inf - inf


def band_offsets(n: int, device: torch.device | None = None) -> torch.Tensor:
    """``(N, N)`` matrix of offsets ``i - j`` (query frame minus key frame)."""
    idx = torch.arange(n, device=device)
    return idx[:, None] - idx[None, :]


class BandedSelfAttention(nn.Module):
    """Multi-head self-attention (eq. 1–2) restricted to a band, with a relative-position bias."""

    def __init__(self, dim: int, heads: int, window: int, mode: Mode, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide the width ({dim})")
        self.dim, self.heads, self.window, self.mode = dim, heads, window, mode
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        # Bias per head and offset: causal offsets 0..W-1; bidirectional -(W-1)..W-1 (index + W - 1).
        self.rel_bias = nn.Parameter(torch.zeros(heads, window if mode == "causal" else 2 * window - 1))

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, N, D)`` → q, k, v each ``(B, H, N, Dh)``."""
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def _merge(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, H, N, Dh)`` → ``(B, N, D)`` through the output projection."""
        b, _, n, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, self.dim))

    def band(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Allowed pairs ``(N, N)`` bool and the bias ``(H, N, N)`` for a sequence of N frames."""
        off = band_offsets(n, device)
        if self.mode == "causal":
            allowed = (off >= 0) & (off < self.window)
            index = off.clamp(0, self.window - 1)
        else:
            allowed = off.abs() < self.window
            index = off.clamp(-(self.window - 1), self.window - 1) + self.window - 1
        return allowed, self.rel_bias[:, index]

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(B, N, D)`` → ``(B, N, D)`` and, if asked, the attention weights ``(B, H, N, N)``."""
        q, k, v = self._split(x)
        allowed, bias = self.band(x.shape[1], x.device)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + bias
        scores = scores.masked_fill(~allowed, _NEG)
        attn = scores.softmax(-1)
        y = self._merge(self.dropout(attn) @ v)
        return y, (attn if need_weights else None)

    def step(
        self, x: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One new frame: x ``(B, D)``, caches ``(B, H, W, Dh)``, pos ``(B,)`` int64.

        The frame with index ``pos`` is written into slot ``pos mod W``; slot ``s`` then holds
        frame ``pos - ((pos - s) mod W)``, valid when that index is ≥ 0. Returns the output
        ``(B, D)`` and the updated caches.
        """
        if self.mode != "causal":
            raise RuntimeError("streaming needs causal attention (set temporal_encoder.attention=causal)")
        q, k, v = self._split(x[:, None])  # (B, H, 1, Dh)
        slots = torch.arange(self.window, device=x.device)
        write = (slots[None, :] == (pos % self.window)[:, None])[:, None, :, None]  # (B, 1, W, 1)
        k_cache = torch.where(write, k, k_cache)
        v_cache = torch.where(write, v, v_cache)
        offset = (pos[:, None] - slots[None, :]) % self.window  # (B, W)
        valid = offset <= pos[:, None]
        bias = self.rel_bias[:, offset].permute(1, 0, 2)  # (B, H, W)
        scores = (q @ k_cache.transpose(-1, -2)).squeeze(2) / math.sqrt(self.head_dim) + bias
        scores = scores.masked_fill(~valid[:, None, :], _NEG)
        attn = scores.softmax(-1)[:, :, None, :]  # (B, H, 1, W)
        y = self._merge(attn @ v_cache)[:, 0]
        return y, k_cache, v_cache


class TransformerLayer(nn.Module):
    """Attention + feed-forward (2 FC with dropout), each with a residual and LayerNorm (post-norm,
    as in the original transformer the paper builds on)."""

    def __init__(self, dim: int, heads: int, ff_dim: int, window: int, mode: Mode, dropout: float) -> None:
        super().__init__()
        self.attn = BandedSelfAttention(dim, heads, window, mode, dropout)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_dim, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        a, w = self.attn(x, need_weights)
        x = self.norm1(x + self.drop(a))
        return self.norm2(x + self.drop(self.ff(x))), w

    def step(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor):
        a, k, v = self.attn.step(x, k, v, pos)
        x = self.norm1(x + a)
        return self.norm2(x + self.ff(x)), k, v


class TransformerStack(nn.Module):
    """``layers`` transformer layers over time; batch ``forward`` and streaming ``step`` agree."""

    def __init__(self, dim: int, heads: int, ff_dim: int, layers: int, window: int, mode: Mode, dropout: float) -> None:
        super().__init__()
        self.dim, self.heads, self.window, self.mode = dim, heads, window, mode
        self.layers = nn.ModuleList(TransformerLayer(dim, heads, ff_dim, window, mode, dropout) for _ in range(layers))

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, N, D)`` → ``(B, N, D)`` and, if asked, each layer's attention ``(B, H, N, N)``."""
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"expected features of shape (B, N, {self.dim}), got {tuple(x.shape)}")
        weights = []
        for layer in self.layers:
            x, w = layer(x, need_weights)
            if w is not None:
                weights.append(w)
        return x, weights

    def init_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """Empty ring buffers: ``k, v (L, B, H, W, Dh)``."""
        shape = (len(self.layers), batch, self.heads, self.window, self.dim // self.heads)
        return {"k": torch.zeros(shape, device=device, dtype=dtype), "v": torch.zeros(shape, device=device, dtype=dtype)}

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor], pos: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """x ``(B, D)``, state ``{k, v: (L, B, H, W, Dh)}``, pos ``(B,)`` → (y ``(B, D)``, new state)."""
        if x.dim() != 2 or x.shape[-1] != self.dim:
            raise ValueError(f"expected one frame of features (B, {self.dim}), got {tuple(x.shape)}")
        ks, vs = [], []
        for i, layer in enumerate(self.layers):
            x, ki, vi = layer.step(x, state["k"][i], state["v"][i], pos)
            ks.append(ki)
            vs.append(vi)
        return x, {"k": torch.stack(ks), "v": torch.stack(vs)}
