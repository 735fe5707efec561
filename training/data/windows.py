"""Cutting per-frame arrays into fixed-length windows that never span two sequences.

A *segment* is a maximal run of rows with the same ``vid_name`` and consecutive ``frame_id``
(each id one more than the previous). A change of ``vid_name`` (another video or person) or a gap
/ jump in ``frame_id`` starts a new segment. Windows of ``seq_len`` = T rows are cut inside each
segment every ``stride`` rows (``overlap`` = T − stride rows shared by neighbours); a segment of
length L yields ``floor((L − T) / stride) + 1`` windows, starting at 0, stride, 2·stride, …. The
tail that does not fill a whole window is not used, and **segments shorter than T are dropped**
(they give no window at all).

Indices are row indices into the arrays; every range is half-open: ``[start, end)``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["resolve_stride", "segment_bounds", "segment_windows", "make_windows"]


def resolve_stride(seq_len: int, stride: Optional[int] = None, overlap: Optional[int] = None) -> int:
    """The step between window starts from ``stride`` or ``overlap`` (= T − stride); default: T (no overlap)."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be ≥ 1, got {seq_len}")
    if stride is not None and overlap is not None:
        if stride != seq_len - overlap:
            raise ValueError(f"give stride or overlap, not both (stride {stride} ≠ seq_len {seq_len} − overlap {overlap})")
    if stride is None:
        stride = seq_len if overlap is None else seq_len - overlap
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1 (overlap < seq_len), got stride {stride} for seq_len {seq_len}")
    return int(stride)


def segment_bounds(vid_name: Sequence, frame_id: Optional[Sequence[int]] = None) -> np.ndarray:
    """Segments of consecutive frames of one video: ``(S, 2)`` int64 ``[start, end)`` row ranges.

    vid_name: (N,) ids; frame_id: (N,) ints or None (rows of one ``vid_name`` are then consecutive).
    """
    names = np.asarray(vid_name)
    n = len(names)
    if n == 0:
        return np.zeros((0, 2), np.int64)
    breaks = names[1:] != names[:-1]
    if frame_id is not None:
        ids = np.asarray(frame_id).astype(np.int64)
        if len(ids) != n:
            raise ValueError(f"frame_id has {len(ids)} rows but vid_name has {n}")
        breaks = breaks | (ids[1:] != ids[:-1] + 1)
    starts = np.concatenate([[0], np.nonzero(breaks)[0] + 1])
    ends = np.concatenate([starts[1:], [n]])
    return np.stack([starts, ends], axis=1).astype(np.int64)


def segment_windows(length: int, seq_len: int, stride: int) -> np.ndarray:
    """Window starts inside one segment of ``length`` rows: ``floor((length − T)/stride) + 1`` of them (0 if length < T)."""
    if length < seq_len:
        return np.zeros((0,), np.int64)
    return np.arange(0, length - seq_len + 1, stride, dtype=np.int64)


def make_windows(
    vid_name: Sequence,
    frame_id: Optional[Sequence[int]],
    seq_len: int,
    stride: Optional[int] = None,
    overlap: Optional[int] = None,
) -> np.ndarray:
    """All T-row windows of a db: ``(W, 2)`` int64 ``[start, end)`` row ranges, ``end − start = seq_len``.

    See the module docstring for segments, stride/overlap and the dropping of short segments.
    """
    step = resolve_stride(seq_len, stride, overlap)
    out = [s + segment_windows(int(e - s), seq_len, step) for s, e in segment_bounds(vid_name, frame_id)]
    starts = np.concatenate(out) if out else np.zeros((0,), np.int64)
    return np.stack([starts, starts + seq_len], axis=1).astype(np.int64)
