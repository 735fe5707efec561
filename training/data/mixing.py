"""Batches that mix 2D-only and 3D data sets at fixed ratios (VIBE's hybrid training).

Each batch of ``batch_size`` items takes ``n_g`` items from group g (e.g. 2D, 3D): the ratios are
normalised over the groups that hold data, ``n_g = round(ratio_g · batch_size)`` with the rounding
fixed up by largest remainder so the counts always sum to ``batch_size`` (a group without data sets
gets 0 and the others fill the batch). Items are listed group by group (all 2D, then all 3D), so a
trainer can also slice them. Inside a group, items are drawn uniformly over all its data sets'
items by walking a random permutation (a new one each pass): every item is used once per pass.
Everything is determined by ``seed`` and the epoch (:meth:`MixedBatchSampler.set_epoch`).

Items of different data sets share one layout (missing labels zero-filled + masks, see
:class:`~training.data.video_dataset.VibeWindowDataset`), so :func:`collate` can stack them.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

__all__ = ["MixedBatchSampler", "MixedDataset", "batch_counts", "build_mixed_loader", "collate"]


def batch_counts(ratios: Sequence[float], batch_size: int, available: Optional[Sequence[bool]] = None) -> list[int]:
    """Items per group in one batch: ``round(r · batch_size)`` of the normalised ratios, summing to batch_size.

    Groups with ``available`` False (no data) or ratio 0 get 0. Raises if no group can give items.
    """
    r = np.asarray(ratios, np.float64)
    if np.any(r < 0):
        raise ValueError(f"mixing ratios must be ≥ 0, got {list(ratios)}")
    if available is not None:
        r = np.where(np.asarray(available, bool), r, 0.0)
    if r.sum() <= 0:
        raise ValueError(f"no data to draw from: ratios {list(ratios)} with available groups {available}")
    exact = r / r.sum() * batch_size
    counts = np.floor(exact + 0.5).astype(np.int64)  # round half up (not Python's half-to-even)
    while counts.sum() > batch_size:  # fix rounding: take from the largest over-shoot
        over = np.where(counts > 0, counts - exact, -np.inf)
        counts[int(np.argmax(over))] -= 1
    while counts.sum() < batch_size:  # give to the largest remainder among groups with data
        under = np.where(r > 0, exact - counts, -np.inf)
        counts[int(np.argmax(under))] += 1
    return [int(c) for c in counts]


class MixedDataset(ConcatDataset):
    """All data sets of all groups, concatenated (group 0's data sets first). ``group_of(i)`` gives the group."""

    def __init__(self, groups: Sequence[Sequence[Dataset]]) -> None:
        flat = [d for g in groups for d in g]
        if not flat:
            raise ValueError("no data sets given to mix (every group is empty)")
        super().__init__(flat)
        sizes = [sum(len(d) for d in g) for g in groups]
        #: Per group, the half-open range of global indices it owns.
        self.group_ranges: list[tuple[int, int]] = []
        start = 0
        for s in sizes:
            self.group_ranges.append((start, start + s))
            start += s

    def group_of(self, index: int) -> int:
        for g, (a, b) in enumerate(self.group_ranges):
            if a <= index < b:
                return g
        raise IndexError(f"index {index} out of range ({len(self)} items)")


class MixedBatchSampler(Sampler[list[int]]):
    """Yields ``num_batches`` lists of global indices (into a :class:`MixedDataset`) per epoch.

    group_ranges: per group ``[start, end)`` global index range; ratios: one per group.
    """

    def __init__(
        self,
        group_ranges: Sequence[tuple[int, int]],
        ratios: Sequence[float],
        batch_size: int,
        num_batches: int,
        seed: int = 0,
    ) -> None:
        if len(group_ranges) != len(ratios):
            raise ValueError(f"{len(group_ranges)} groups but {len(ratios)} ratios")
        if batch_size < 1 or num_batches < 1:
            raise ValueError(f"batch_size and num_batches must be ≥ 1, got {batch_size}, {num_batches}")
        self.group_ranges = [(int(a), int(b)) for a, b in group_ranges]
        self.counts = batch_counts(ratios, batch_size, [b > a for a, b in self.group_ranges])
        self.batch_size, self.num_batches, self.seed = batch_size, num_batches, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the draw for a new epoch (same seed + epoch → same batches)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        streams = [self._stream(rng, a, b) if n else None for (a, b), n in zip(self.group_ranges, self.counts)]
        for _ in range(self.num_batches):
            batch: list[int] = []
            for stream, n in zip(streams, self.counts):
                if stream is not None:
                    batch.extend(next(stream) for _ in range(n))
            yield batch

    @staticmethod
    def _stream(rng: np.random.Generator, start: int, end: int) -> Iterator[int]:
        """Endless indices in ``[start, end)``: one random permutation after another."""
        while True:
            for i in rng.permutation(end - start):
                yield start + int(i)


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack a list of item dicts: tensors → (B, ...) tensors, numbers → (B,) tensors, str → list.

    Items from different data sets may carry different labels (a 2D-only clip has no ``flow`` or
    ``kp2d_h36m17``). A key some items lack is filled for them with zeros (``""`` for strings) and,
    unless the items already carry ``has_<key>``, a ``(B,)`` bool ``has_<key>`` says who has it. A key
    present with different shapes in different items is an error.
    """
    if not items:
        raise ValueError("collate got an empty batch")
    keys = list(dict.fromkeys(k for it in items for k in it))
    partial = [k for k in keys if any(k not in it for it in items)]
    if partial:
        filled = []
        for it in items:
            it = dict(it)
            for k in partial:
                if k not in it:
                    like = next(o[k] for o in items if k in o)
                    it[k] = torch.zeros_like(like) if isinstance(like, torch.Tensor) else type(like)()
            filled.append(it)
        for k in partial:
            if f"has_{k}" not in keys:
                keys.append(f"has_{k}")
                for it, orig in zip(filled, items):
                    it[f"has_{k}"] = k in orig
        items = filled
    out: dict[str, Any] = {}
    for k in keys:
        vals = [it[k] for it in items]
        first = vals[0]
        if isinstance(first, torch.Tensor):
            try:
                out[k] = torch.stack(vals)
            except RuntimeError as exc:
                shapes = sorted({tuple(v.shape) for v in vals})
                raise ValueError(f"cannot stack '{k}': items have shapes {shapes}") from exc
        elif isinstance(first, np.ndarray):
            out[k] = torch.from_numpy(np.stack(vals))
        elif isinstance(first, (bool, int, float, np.number)):
            out[k] = torch.tensor(vals)
        else:
            out[k] = list(vals)
    return out


def build_mixed_loader(
    datasets_2d: Sequence[Dataset],
    datasets_3d: Sequence[Dataset],
    ratio_2d: float,
    ratio_3d: float,
    batch_size: int,
    num_batches: int,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader of mixed batches (2D items first); ``loader.batch_sampler.set_epoch(e)`` per epoch.

    ratio_2d / ratio_3d: ``TrainConfig.mix``; num_batches: ``PhaseConfig.iters_per_epoch``.
    """
    data = MixedDataset([list(datasets_2d), list(datasets_3d)])
    sampler = MixedBatchSampler(data.group_ranges, [ratio_2d, ratio_3d], batch_size, num_batches, seed)
    return DataLoader(
        data, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers, persistent_workers=num_workers > 0
    )
