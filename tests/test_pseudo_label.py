"""tools/pseudo_label.py: the MediaPipe → spin49 mapping and a small run on the shared clips."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
from tools import pseudo_label  # noqa: E402

from training.body.joint_sets import MEDIAPIPE_LANDMARKS, joint_set  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
if not MEDIA.is_dir():
    MEDIA = Path("/work/shared/media")


def test_mapping_onto_spin49():
    spin = joint_set("spin49")
    mp = {n: i for i, n in enumerate(MEDIAPIPE_LANDMARKS)}
    xy = np.arange(66, dtype=np.float32).reshape(33, 2)
    vis = np.linspace(0.2, 0.99, 33).astype(np.float32)
    j = pseudo_label.spin49_from_mediapipe(xy, vis)
    assert j.shape == (49, 3)
    neck = spin.index("smpl/neck")
    np.testing.assert_allclose(j[neck, :2], (xy[mp["left_shoulder"]] + xy[mp["right_shoulder"]]) / 2)
    assert j[neck, 2] == pytest.approx(min(vis[mp["left_shoulder"]], vis[mp["right_shoulder"]]))
    np.testing.assert_allclose(j[spin.index("smpl/pelvis"), :2], (xy[mp["left_hip"]] + xy[mp["right_hip"]]) / 2)
    np.testing.assert_allclose(j[spin.index("vertex/left_big_toe"), :2], xy[mp["left_foot_index"]])
    np.testing.assert_allclose(j[spin.index("smpl/right_wrist"), :2], xy[mp["right_wrist"]])
    # Names in both halves of spin49 are filled in both.
    both = [i for i, n in enumerate(spin) if n == "smpl/right_shoulder"]
    assert len(both) == 2 and np.allclose(j[both[0]], j[both[1]])
    for unknown in ("extra/head_top_lsp", "vertex/left_small_toe", "extra/neck_lsp", "extra/jaw_h36m"):
        assert np.all(j[spin.index(unknown)] == 0)
    assert (j[:, 2] > 0).sum() == 40  # 23 of OpenPose 25 (no small toes) + 17 of GT 24 (12 LSP limbs + face 5)


def test_errors_are_one_line(tmp_path, capsys):
    assert pseudo_label.main([str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file or folder" in err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    assert pseudo_label.main([str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    out = capsys.readouterr()
    assert "bad.mp4" in out.err and out.err.strip().count("\n") == 0
    assert "bad" in out.out  # the summary table still lists it


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    if not MEDIA.is_dir() or not list(MEDIA.glob("*.mp4")):
        pytest.skip(f"{MEDIA} not found (shared media absent)")
    pytest.importorskip("mediapipe")
    from realtime.detection import DetectionSetupError, PersonDetector

    try:
        PersonDetector()
    except DetectionSetupError as exc:
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("pseudo")
    rc = pseudo_label.main([str(MEDIA), "--out", str(out), "--max-frames", "3", "--stride", "4", "--no-progress"])
    assert rc == 0
    return out


def _read(path: Path) -> dict:
    try:
        from training.data.vibe_format import read_vibe_db
    except ImportError:
        import joblib

        return joblib.load(path)
    return read_vibe_db(path)


def test_db_files_on_the_shared_clips(labelled, capsys):
    videos = sorted(p.stem for p in MEDIA.glob("*.mp4"))
    for stem in videos:
        db = _read(labelled / f"{stem}_db.pt")
        n = len(db["frame_id"])
        assert {"vid_name", "frame_id", "joints2D", "bbox", "img_name", "valid"} <= set(db)
        assert db["joints2D"].shape == (n, 49, 3) and db["bbox"].shape == (n, 4) and db["valid"].shape == (n,)
        assert len(db["vid_name"]) == len(db["img_name"]) == n
        if stem in ("single_person_portrait", "taiji"):
            assert n == 3 and set(db["vid_name"]) == {f"{stem}_p0"}  # one person, every frame
        assert n >= 1
        assert db["kp2d_mediapipe33"].shape == (n, 33, 3)  # the keypoint stream's input, same pixels as joints2D
        # Rows kept have enough visible joints; bboxes are the tracker's VIBE squares (crop = side × 1.2) around them.
        vis = (db["joints2D"][:, :25, 2] > 0.5).sum(1)
        assert np.all(vis >= 6)
        np.testing.assert_array_equal(db["bbox"][:, 2], db["bbox"][:, 3])
        inside = []
        for j, (cx, cy, s, _) in zip(db["joints2D"], db["bbox"]):
            ok = j[:, 2] > 0.5
            offset = np.abs(j[ok, :2] - [cx, cy]).max(1)
            # The square is the tracker's smoothed box: in fast motion (a child jumping on a bed) a foot can leave
            # the crop by a few percent of its side, never by a quarter of it (that would be another person's box).
            assert np.all(offset <= 1.25 * (1.2 * s / 2) + 1)
            inside += list(offset <= 1.2 * s / 2 + 1)
        assert np.mean(inside) >= 0.9
        # Track ids: vid_name = "<stem>_p<id>", each person's frames increasing, stride 4 apart.
        for name in set(db["vid_name"]):
            assert re.fullmatch(re.escape(stem) + r"_p\d+", name)
            frames = db["frame_id"][db["vid_name"] == name]
            assert np.all(np.diff(frames) > 0) and np.all(frames % 4 == 0)
        for rel in set(db["img_name"]):
            assert (labelled / rel).is_file() and rel.startswith(f"frames/{stem}/")


def test_rows_with_too_few_visible_joints_are_dropped(tmp_path, capsys):
    clip = MEDIA / "single_person_portrait.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found (shared media absent)")
    pytest.importorskip("mediapipe")
    # 26 visible OpenPose joints are impossible (25 exist): every row must be dropped and counted.
    rc = pseudo_label.main([str(clip), "--out", str(tmp_path), "--max-frames", "2", "--min-visible", "26", "--no-progress"])
    table = capsys.readouterr().out
    assert rc == 0
    db = _read(tmp_path / "single_person_portrait_db.pt")
    assert len(db["frame_id"]) == 0
    row = [line for line in table.splitlines() if line.startswith("single_person_portrait")][0].split()
    assert row[1:5] == ["2", "0", "0", "2"]  # frames, tracks, kept, dropped


def test_crops_mode_stores_joints_in_crop_pixels(tmp_path, capsys):
    clip = MEDIA / "taiji.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found (shared media absent)")
    pytest.importorskip("mediapipe")
    rc = pseudo_label.main([str(clip), "--out", str(tmp_path), "--max-frames", "2", "--crops", "--crop-size", "128",
                            "--name", "clips", "--no-progress"])
    assert rc == 0
    db = _read(tmp_path / "taiji_db.pt")
    assert len(db["frame_id"]) == 2
    np.testing.assert_allclose(db["bbox"], [[64, 64, 128 / 1.2, 128 / 1.2]] * 2, rtol=1e-6)  # loaders crop side × 1.2
    lm = db["kp2d_mediapipe33"]
    assert lm.shape == (2, 33, 3) and np.all((lm[..., :2][lm[..., 2] > 0.5] >= 0) & (lm[..., :2][lm[..., 2] > 0.5] <= 128))
    merged = _read(tmp_path / "clips_train_db.pt")  # --name: one data set for dtsvibe-train
    assert set(merged) == set(db) and len(merged["frame_id"]) == 2
    ok = db["joints2D"][..., 2] > 0.5
    assert np.all((db["joints2D"][..., :2][ok] >= 0) & (db["joints2D"][..., :2][ok] <= 128))
    import cv2

    for rel in db["img_name"]:
        assert rel.startswith("crops/taiji_p0/") and cv2.imread(str(tmp_path / rel)).shape == (128, 128, 3)
