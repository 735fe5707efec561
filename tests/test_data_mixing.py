"""Mixing 2D-only and 3D data sets in one batch at fixed ratios, and collating mixed items."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from training.config.schema import TrainConfig
from training.data import (
    MixedBatchSampler,
    MixedDataset,
    VibeWindowDataset,
    batch_counts,
    build_mixed_loader,
    collate,
)


def make_db(name: str, n: int, with_3d: bool) -> dict:
    """A one-video db of ``n`` frames with 8-d features; 3D labels only if ``with_3d``."""
    rng = np.random.default_rng(n)
    db = {
        "vid_name": np.array([name] * n),
        "frame_id": np.arange(n),
        "joints2D": np.concatenate([rng.uniform(0, 100, (n, 49, 2)), np.ones((n, 49, 1))], -1),
        "bbox": np.tile([50.0, 50.0, 40.0, 40.0], (n, 1)),
        "features": rng.normal(size=(n, 8)),
    }
    if with_3d:
        db.update(joints3D=rng.normal(size=(n, 49, 3)), pose=rng.normal(size=(n, 72)), shape=rng.normal(size=(n, 10)))
    return db


class Toy(Dataset):
    """Items ``{"src": id, "i": index, "x": (2,) tensor}``."""

    def __init__(self, src: int, n: int) -> None:
        self.src, self.n = src, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"src": self.src, "i": i, "x": torch.tensor([self.src, i], dtype=torch.float32)}


def test_batch_counts():
    assert batch_counts([0.6, 0.4], 32) == [19, 13]
    assert batch_counts([3, 2], 32) == [19, 13]  # ratios are normalised
    assert sum(batch_counts([0.5, 0.5], 5)) == 5
    assert batch_counts([1 / 3, 1 / 3, 1 / 3], 10) in ([4, 3, 3], [3, 4, 3], [3, 3, 4])
    assert batch_counts([0.6, 0.4], 32, available=[False, True]) == [0, 32]
    assert batch_counts([0.0, 1.0], 8) == [0, 8]
    with pytest.raises(ValueError, match="no data"):
        batch_counts([0.6, 0.4], 8, available=[False, False])
    with pytest.raises(ValueError, match="≥ 0"):
        batch_counts([-1, 2], 8)


def test_per_batch_composition_and_order():
    cfg = TrainConfig()  # ratio_2d 0.6, ratio_3d 0.4
    d2 = [Toy(0, 7), Toy(1, 50)]
    d3 = [Toy(2, 11)]
    loader = build_mixed_loader(d2, d3, cfg.mix.ratio_2d, cfg.mix.ratio_3d, batch_size=10, num_batches=12, seed=5)
    batches = list(loader)
    assert len(batches) == 12
    seen_3d = []
    for b in batches:
        src = b["src"].tolist()
        assert len(src) == 10
        assert all(s in (0, 1) for s in src[:6]) and all(s == 2 for s in src[6:])  # 6 from 2D first, then 4 from 3D
        assert b["x"].shape == (10, 2)
        seen_3d += b["i"][6:].tolist()
    # every 3D item is used once per pass before any repeats (11 items, 48 draws)
    assert sorted(seen_3d[:11]) == list(range(11)) and sorted(seen_3d[11:22]) == list(range(11))


def test_empty_group_is_filled_by_the_other():
    loader = build_mixed_loader([], [Toy(2, 5)], 0.6, 0.4, batch_size=4, num_batches=3)
    for b in loader:
        assert b["src"].tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="no data sets"):
        build_mixed_loader([], [], 0.5, 0.5, batch_size=4, num_batches=1)


def test_deterministic_with_seed_and_epoch():
    data = MixedDataset([[Toy(0, 30)], [Toy(1, 30)]])
    assert data.group_ranges == [(0, 30), (30, 60)] and data.group_of(31) == 1
    a = list(MixedBatchSampler(data.group_ranges, [0.5, 0.5], 8, 5, seed=1))
    b = list(MixedBatchSampler(data.group_ranges, [0.5, 0.5], 8, 5, seed=1))
    c = list(MixedBatchSampler(data.group_ranges, [0.5, 0.5], 8, 5, seed=2))
    s = MixedBatchSampler(data.group_ranges, [0.5, 0.5], 8, 5, seed=1)
    s.set_epoch(1)
    assert a == b and a != c and list(s) != a
    assert all(i < 30 for batch in a for i in batch[:4]) and all(i >= 30 for batch in a for i in batch[4:])


def test_collate_mixes_2d_and_3d_windows():
    ds2 = VibeWindowDataset(make_db("p", 16, with_3d=False), seq_len=8)
    ds3 = VibeWindowDataset(make_db("w", 16, with_3d=True), seq_len=8)
    batch = collate([ds2[0], ds3[1], ds2[1]])
    assert batch["kp2d"].shape == (3, 8, 49, 3) and batch["features"].shape == (3, 8, 8)
    assert batch["has_kp3d"].shape == (3, 8) and batch["has_kp3d"].dtype == torch.bool
    assert batch["has_kp3d"].any(1).tolist() == [False, True, False]
    assert batch["has_smpl"].any(1).tolist() == [False, True, False]
    assert batch["vid_name"] == ["p", "w", "p"]
    assert torch.equal(batch["frame_ids"][1], torch.arange(8, 16))
    # Items that lack a key (a 2D clip has no generated flow) get zeros and a has_<key> mask.
    flow = torch.randn(8, 2, 4, 4)
    mixed = collate([{**ds2[0], "flow": flow}, ds2[1]])
    assert torch.equal(mixed["flow"][0], flow) and not mixed["flow"][1].any()
    assert mixed["has_flow"].tolist() == [True, False] and mixed["vid_name"] == ["p", "p"]
    with pytest.raises(ValueError, match="cannot stack 'x'"):
        collate([{"x": torch.zeros(2)}, {"x": torch.zeros(3)}])
