"""VIBE db files, T-frame windows and VibeWindowDataset (features and crops), on tiny synthetic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.data import (
    VibeDbError,
    VibeWindowDataset,
    find_vibe_db,
    make_windows,
    read_vibe_db,
    segment_bounds,
    write_vibe_db,
)
from training.preprocessing import IMAGENET_MEAN, IMAGENET_STD

J = 49


def make_db(segments: list[tuple[str, int, int]], *, with_3d: bool = True, feat_dim: int = 8, seed: int = 0) -> dict:
    """A db dict: per (vid_name, first frame_id, length) segment, rows of consecutive frames."""
    rng = np.random.default_rng(seed)
    names, ids = [], []
    for name, first, length in segments:
        names += [name] * length
        ids += list(range(first, first + length))
    n = len(names)
    kp2d = rng.uniform(50, 150, size=(n, J, 3)).astype(np.float32)
    kp2d[..., 2] = 1.0
    db = {
        "vid_name": np.array(names),
        "frame_id": np.array(ids),
        "joints2D": kp2d,
        "bbox": np.tile(np.array([100.0, 100.0, 80.0, 80.0], np.float32), (n, 1)),
        "features": rng.normal(size=(n, feat_dim)).astype(np.float32),
        "img_name": np.array([f"{a}/{b:06d}.jpg" for a, b in zip(names, ids)]),
    }
    if with_3d:
        db["joints3D"] = rng.normal(size=(n, J, 3)).astype(np.float32)
        db["pose"] = rng.normal(scale=0.3, size=(n, 72)).astype(np.float32)
        db["shape"] = rng.normal(size=(n, 10)).astype(np.float32)
        db["valid"] = np.ones(n, np.int64)
    return db


# -- db files -----------------------------------------------------------------------------------------
def test_write_read_roundtrip(tmp_path: Path):
    db = make_db([("a", 0, 5), ("b", 3, 4)])
    db["vid_name"] = np.array([s.encode() for s in db["vid_name"]], dtype=object)  # bytes, as some VIBE dbs
    path = write_vibe_db(tmp_path / "sub" / "x_train_db.pt", db)
    out = read_vibe_db(path)
    assert out["vid_name"].dtype.kind == "U" and list(out["vid_name"][:6]) == ["a"] * 5 + ["b"]
    assert out["frame_id"].dtype == np.int64 and out["valid"].dtype == bool
    np.testing.assert_array_equal(out["joints2D"], db["joints2D"])
    np.testing.assert_array_equal(out["pose"], db["pose"])
    assert find_vibe_db(tmp_path / "sub", "x") == path


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.pop("joints2D"), "missing required key 'joints2D'"),
        (lambda d: d.pop("bbox"), "missing required key 'bbox'"),
        (lambda d: (d.pop("features"), d.pop("img_name")), "'img_name'.*'features'"),
        (lambda d: d.__setitem__("pose", d["pose"][:-1]), "key 'pose' has 8 rows but 'vid_name' has 9"),
        (lambda d: d.__setitem__("joints2D", d["joints2D"][:, :24]), r"key 'joints2D' has shape \(9, 24, 3\), expected \(N, 49, 3\)"),
        (lambda d: d.__setitem__("shape", d["shape"][:, :5]), "key 'shape'"),
        (lambda d: d.__setitem__("frame_id", d["frame_id"] + 0.5), "whole numbers"),
    ],
)
def test_read_errors_name_file_and_key(tmp_path: Path, change, match):
    import joblib

    db = make_db([("a", 0, 9)])
    change(db)
    path = tmp_path / "bad_db.pt"
    joblib.dump(db, path)  # bypass write_vibe_db's own validation
    with pytest.raises(VibeDbError, match=match) as info:
        read_vibe_db(path)
    assert str(path) in str(info.value)


def test_missing_files_and_folders(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_vibe_db(tmp_path / "nope_db.pt")
    with pytest.raises(FileNotFoundError, match="data folder"):
        find_vibe_db(tmp_path / "nowhere", "3dpw")
    with pytest.raises(FileNotFoundError, match="3dpw_train_db.pt"):
        find_vibe_db(tmp_path, "3dpw")
    (tmp_path / "junk_db.pt").write_text("not joblib")
    with pytest.raises(VibeDbError, match="not a joblib db file"):
        read_vibe_db(tmp_path / "junk_db.pt")
    with pytest.raises(VibeDbError, match="missing required key"):
        write_vibe_db(tmp_path / "w_db.pt", {"vid_name": np.array(["a"])})
    assert not (tmp_path / "w_db.pt").exists()


# -- windows ------------------------------------------------------------------------------------------
def test_segments_break_on_name_and_frame_gap():
    names = ["a"] * 5 + ["b"] * 3 + ["a"] * 2
    ids = [0, 1, 2, 4, 5, 0, 1, 2, 6, 7]  # gap in 'a' after 2; 'a' again later is a new segment
    np.testing.assert_array_equal(segment_bounds(names, ids), [[0, 3], [3, 5], [5, 8], [8, 10]])


@pytest.mark.parametrize("seq_len, stride", [(16, 16), (16, 8), (16, 1), (4, 3), (5, 7)])
def test_windows_count_and_boundaries(seq_len: int, stride: int):
    rng = np.random.default_rng(seq_len * 100 + stride)
    lengths = [int(x) for x in rng.integers(1, 60, size=12)] + [seq_len, seq_len - 1]
    names, ids = [], []
    for k, length in enumerate(lengths):
        first = int(rng.integers(0, 1000))
        names += [f"v{k % 3}"] * length  # same names recur: only the frame-id jump separates them
        ids += list(range(first, first + length))
        if k % 3 == 2:
            ids[-1] += 5  # a frame gap inside -> the last frame becomes its own 1-frame segment
    win = make_windows(names, ids, seq_len, stride)
    seg = segment_bounds(names, ids)
    assert (win[:, 1] - win[:, 0] == seq_len).all()
    expected = sum((e - s - seq_len) // stride + 1 for s, e in seg if e - s >= seq_len)
    assert len(win) == expected
    names_a, ids_a = np.array(names), np.array(ids)
    for s, e in win:
        assert (names_a[s:e] == names_a[s]).all()
        np.testing.assert_array_equal(np.diff(ids_a[s:e]), 1)
    # overlap = T - stride is the same thing
    np.testing.assert_array_equal(make_windows(names, ids, seq_len, overlap=seq_len - stride), win)


def test_window_count_formula_single_segment():
    for length in (16, 17, 31, 32, 33, 100):
        for stride in (1, 4, 8, 16):
            w = make_windows(["a"] * length, range(length), 16, stride)
            assert len(w) == (length - 16) // stride + 1
            np.testing.assert_array_equal(w[:, 0], np.arange(len(w)) * stride)
    assert len(make_windows(["a"] * 15, range(15), 16, 4)) == 0  # short segment dropped
    with pytest.raises(ValueError, match="stride must be"):
        make_windows(["a"] * 20, range(20), 16, overlap=16)
    with pytest.raises(ValueError, match="not both"):
        make_windows(["a"] * 20, range(20), 16, stride=4, overlap=4)


# -- the dataset: features mode, labels and masks --------------------------------------------------------
def test_features_mode_items_and_shapes(tmp_path: Path):
    db = make_db([("a", 0, 20), ("b", 0, 10)], feat_dim=2048)
    path = write_vibe_db(tmp_path / "3dpw_train_db.pt", db)
    ds = VibeWindowDataset(path, seq_len=8, stride=4)
    assert len(ds) == (20 - 8) // 4 + 1 + (10 - 8) // 4 + 1
    it = ds[len(ds) - 1]
    assert it["vid_name"] == "b"
    assert it["features"].shape == (8, 2048) and it["features"].dtype == torch.float32
    assert it["kp2d"].shape == (8, 49, 3) and it["kp3d"].shape == (8, 49, 3)
    assert it["pose"].shape == (8, 72) and it["betas"].shape == (8, 10) and it["bbox"].shape == (8, 4)
    np.testing.assert_array_equal(it["frame_ids"].numpy(), np.arange(8))
    np.testing.assert_allclose(it["features"].numpy(), db["features"][20:28])
    np.testing.assert_allclose(it["pose"].numpy(), db["pose"][20:28])
    for k in ("has_kp2d", "has_kp3d", "has_smpl", "valid"):
        assert it[k].dtype == torch.bool and it[k].shape == (8,) and bool(it[k].all())
    assert "rgb" not in it
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_masks_for_missing_and_invalid_labels():
    # 2D-only: no joints3D / pose / shape keys at all
    ds2 = VibeWindowDataset(make_db([("a", 0, 16)], with_3d=False), seq_len=16)
    it = ds2[0]
    assert not it["has_kp3d"].any() and not it["has_smpl"].any() and it["has_kp2d"].all()
    assert (it["kp3d"] == 0).all() and (it["pose"] == 0).all() and (it["betas"] == 0).all()
    # 3D set with invalid frames, a zero-filled joints3D frame and a zero SMPL frame (MPI-INF-3DHP style)
    db = make_db([("a", 0, 16)])
    db["valid"][[2, 3]] = 0
    db["joints3D"][5] = 0
    db["pose"][7] = 0
    db["shape"][7] = 0
    db["joints2D"][9, :, 2] = 0
    it = VibeWindowDataset(db, seq_len=16)[0]
    kp3d_ok = np.ones(16, bool)
    kp3d_ok[[2, 3, 5]] = False
    smpl_ok = np.ones(16, bool)
    smpl_ok[[2, 3, 7]] = False
    kp2d_ok = np.ones(16, bool)
    kp2d_ok[[2, 3, 9]] = False
    np.testing.assert_array_equal(it["has_kp3d"].numpy(), kp3d_ok)
    np.testing.assert_array_equal(it["has_smpl"].numpy(), smpl_ok)
    np.testing.assert_array_equal(it["has_kp2d"].numpy(), kp2d_ok)
    assert (it["kp3d"][2] == 0).all() and (it["pose"][3] == 0).all() and (it["kp2d"][2] == 0).all()
    np.testing.assert_allclose(it["kp3d"][0].numpy(), db["joints3D"][0])


def test_kp2d_normalisation_matches_the_crop():
    db = make_db([("a", 0, 4)], with_3d=False)
    db["bbox"][:] = [200.0, 120.0, 50.0, 80.0]  # not square: the crop side is 1.2 * 80 = 96
    side = 1.2 * 80.0
    kp = db["joints2D"]
    kp[:, 0, :2] = [200.0, 120.0]  # bbox centre
    kp[:, 1, :2] = [200.0 + side / 2, 120.0]  # crop's right edge
    kp[:, 2, :2] = [200.0 - side / 2, 120.0 + side / 2]  # bottom-left corner
    kp[:, 3, :2] = [200.0 + side / 4, 120.0 - side / 4]
    kp[:, 0, 2] = 0.7
    it = VibeWindowDataset(db, seq_len=4)[0]
    k = it["kp2d"][0].numpy()
    np.testing.assert_allclose(k[0], [0.0, 0.0, 0.7], atol=1e-6)
    np.testing.assert_allclose(k[1, :2], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(k[2, :2], [-1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(k[3, :2], [0.5, -0.5], atol=1e-6)
    k1 = VibeWindowDataset(db, seq_len=4, scale=1.0)[0]["kp2d"][0].numpy()
    np.testing.assert_allclose(k1[1, 0], 1.2, atol=1e-6)


def test_mode_errors(tmp_path: Path):
    db = make_db([("a", 0, 16)])
    del db["features"]
    with pytest.raises(ValueError, match="mode 'features' needs the key 'features'"):
        VibeWindowDataset(db, seq_len=16)
    db = make_db([("a", 0, 16)])
    del db["img_name"]
    with pytest.raises(ValueError, match="mode 'crops' needs the key 'img_name'"):
        VibeWindowDataset(db, seq_len=16, mode="crops")


# -- crops mode -------------------------------------------------------------------------------------------
def test_crops_mode_cuts_around_bbox_with_padding(tmp_path: Path):
    import cv2

    h, w, n, size = 120, 160, 4, 64
    db = make_db([("clip", 0, n)], with_3d=False)
    dots = [(10 + 12 * i, 12 + 11 * i) for i in range(n)]  # inside the crop [-5, 55] x [0, 60]
    for i, (px, py) in enumerate(dots):
        img = np.zeros((h, w, 3), np.uint8)
        img[py - 2 : py + 3, px - 2 : px + 3] = (0, 0, 255)  # BGR red 5x5 blob centred on (px, py)
        (tmp_path / "clip").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "clip" / f"{i:06d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
        db["joints2D"][i, 0] = [px + 0.5, py + 0.5, 1.0]  # the blob centre in continuous pixels (pixel i spans [i, i+1))
        db["bbox"][i] = [25.0, 30.0, 50.0, 50.0]  # near the top-left corner: the crop leaves the image
    ds = VibeWindowDataset(db, seq_len=n, mode="crops", crop_size=size, image_root=tmp_path)
    it = ds[0]
    rgb = it["rgb"]
    assert rgb.shape == (n, 3, size, size) and rgb.dtype == torch.float32
    black = (0.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(rgb[0, :, 0, 0].numpy(), black, atol=1e-5)  # padding outside the image
    for i in range(n):
        red = rgb[i, 0].numpy() * IMAGENET_STD[0] + IMAGENET_MEAN[0]
        green = rgb[i, 1].numpy() * IMAGENET_STD[1] + IMAGENET_MEAN[1]
        assert red.max() > 0.8 and green.max() < 0.3  # RGB order (not BGR)
        w = np.clip(red - 0.2, 0, None)  # the blob (JPEG ringing and the black ground left out)
        yy, xx = np.mgrid[:size, :size]
        seen = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()  # its centre, crop pixel indices
        u, v = it["kp2d"][i, 0, :2].numpy()
        # normalised keypoint -> crop pixel index: (u + 1) * S / 2 - 0.5
        np.testing.assert_allclose(seen, [(u + 1) * size / 2 - 0.5, (v + 1) * size / 2 - 0.5], atol=0.35)
    db["img_name"][2] = "clip/absent.jpg"
    with pytest.raises(FileNotFoundError, match="clip/absent.jpg"):
        VibeWindowDataset(db, seq_len=n, mode="crops", crop_size=size, image_root=tmp_path)[0]
