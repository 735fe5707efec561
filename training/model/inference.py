"""Whole-video inference from per-frame stream features, for evaluation and for files.

* Causal models (the live form) run the streaming step over the sequence: exact, O(N·T).
* Bidirectional models (the paper) run on T-frame windows that overlap by ``T - stride`` frames;
  each frame keeps the prediction of the window in which it sits closest to the centre (so every
  frame has context on both sides except near the ends). Sequences shorter than T are padded by
  repeating their edge frames.
"""

from __future__ import annotations

from typing import Optional

import torch

from .dtsvibe import DTSVIBE

__all__ = ["infer_sequence", "window_starts"]


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Start indices of windows covering ``[0, num_frames)``; the last one ends at the last frame."""
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] != num_frames - window:
        starts.append(num_frames - window)
    return starts


@torch.no_grad()
def infer_sequence(
    model: DTSVIBE,
    feats: dict[str, torch.Tensor],
    stride: Optional[int] = None,
    batch_windows: int = 32,
    per_frame: bool = False,
) -> torch.Tensor:
    """Θ for every frame: feats ``{stream: (N, D)}`` of one person → ``(N, P)``.

    ``per_frame``: every frame is its own one-frame sequence (T = 1: the temporal encoder and the
    regressor see no other frame), the per-frame baseline the paper compares against.
    Decode with ``model.decode(theta)`` for vertices and joints.
    """
    names = model.stream_names
    if any(n not in feats for n in names):
        raise ValueError(f"expected features for streams {names}, got {tuple(feats)}")
    n = feats["rgb"].shape[0]
    if per_frame:
        theta, _, _ = model.temporal({k: feats[k][:, None] for k in names})
        return theta[:, 0]
    if model.streamable:
        state = model.init_state(1, feats["rgb"].device)
        thetas = []
        for t in range(n):
            out, state = model.step({k: feats[k][t : t + 1] for k in names}, state)
            thetas.append(out.theta[0])
        return torch.stack(thetas)

    window = model.cfg.input.seq_len
    stride = stride or max(1, window // 2)
    if n < window:  # pad by repeating the edges
        pad = window - n
        left = pad // 2
        index = torch.arange(window, device=feats["rgb"].device) - left
        index = index.clamp(0, n - 1)
        padded = {k: feats[k][index] for k in names}
        return infer_sequence(model, padded, stride, batch_windows)[left : left + n]

    starts = window_starts(n, window, stride)
    theta = torch.empty(n, model.layout.size, device=feats["rgb"].device)
    best = torch.full((n,), float("inf"), device=feats["rgb"].device)
    centre = (window - 1) / 2.0
    for i in range(0, len(starts), batch_windows):
        chunk = starts[i : i + batch_windows]
        windows = {k: torch.stack([feats[k][s : s + window] for s in chunk]) for k in names}
        out = model.forward_features(windows).theta  # (W, T, P)
        for w, s in enumerate(chunk):
            dist = (torch.arange(window, device=best.device) - centre).abs()
            frames = torch.arange(s, s + window, device=best.device)
            better = dist < best[frames]
            theta[frames[better]] = out[w][better]
            best[frames[better]] = dist[better]
    return theta
