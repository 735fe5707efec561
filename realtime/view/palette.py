"""One colour per track id, shared by every view (RGB floats 0‥1; ``bgr255`` for OpenCV drawing)."""

from __future__ import annotations

_PALETTE = [(0.26, 0.53, 0.96), (0.96, 0.53, 0.26), (0.31, 0.78, 0.47), (0.78, 0.31, 0.78),
            (0.24, 0.78, 0.86), (0.86, 0.86, 0.24), (0.90, 0.35, 0.40), (0.55, 0.45, 0.90)]


def track_colour(track_id: int) -> tuple[float, float, float]:
    return _PALETTE[int(track_id) % len(_PALETTE)]


def bgr255(track_id: int) -> tuple[int, int, int]:
    r, g, b = track_colour(track_id)
    return int(b * 255), int(g * 255), int(r * 255)
