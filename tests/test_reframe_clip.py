"""``tools/reframe_clip.py``: a clip cut to one box of its frames (the framed-clip evaluation's inputs)."""

from __future__ import annotations

import cv2
import numpy as np

from tools.reframe_clip import Camera, main


def _clip(path, frames=6, size=(120, 80)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    for _ in range(frames):
        f = np.zeros((size[1], size[0], 3), np.uint8)
        f[: size[1] // 2] = 200  # top half bright, bottom half dark
        w.write(f)
    w.release()


def test_keeps_the_box_of_every_frame(tmp_path, capsys):
    _clip(tmp_path / "in.mp4")
    assert main([str(tmp_path / "in.mp4"), str(tmp_path / "out" / "top.mp4"), "--keep", "0", "0.5", "0.25", "1"]) == 0
    cap = cv2.VideoCapture(str(tmp_path / "out" / "top.mp4"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 6 and frames[0].shape[:2] == (40, 90)
    assert frames[0].mean() > 150  # the bright top half only
    assert main([str(tmp_path / "in.mp4"), str(tmp_path / "two.mp4"), "--keep", "0", "1", "0", "1", "--max-frames", "2"]) == 0
    assert "2 frames" in capsys.readouterr().out


def test_bad_input_is_one_line(tmp_path, capsys):
    _clip(tmp_path / "in.mp4")
    for argv, words in (([str(tmp_path / "in.mp4"), str(tmp_path / "o.mp4"), "--keep", "0.6", "0.4", "0", "1"], "TOP < BOTTOM"),
                        ([str(tmp_path / "none.mp4"), str(tmp_path / "o.mp4"), "--keep", "0", "1", "0", "1"], "none.mp4")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and words in err
    assert not (tmp_path / "o.mp4").exists()


def test_cover_paints_a_desk_over_part_of_the_kept_box(tmp_path):
    """``--cover``: the legs hidden behind a desk inside the frame (the cut puts them outside it)."""
    _clip(tmp_path / "in.mp4")
    assert main([str(tmp_path / "in.mp4"), str(tmp_path / "desk.mp4"), "--cover", "0.5", "1", "0", "1"]) == 0
    ok, f = cv2.VideoCapture(str(tmp_path / "desk.mp4")).read()
    assert ok and f.shape[:2] == (80, 120)  # no --keep: the whole frame
    top, desk = f[5:35].astype(float), f[45:].astype(float)
    assert top.mean() > 150  # the bright top half untouched
    assert abs(desk[..., 2].mean() - desk[..., 0].mean()) > 40  # the lower half now a brown board, not grey
    assert main([str(tmp_path / "in.mp4"), str(tmp_path / "bad.mp4"), "--cover", "0.5", "0.2", "0", "1"]) == 2


def _frames(path):
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


def test_another_camera_mirrors_shrinks_darkens_and_tilts(tmp_path):
    """The camera options (``docs/eval_clips/cameras``) each change the frames as named, and only as named."""
    src = tmp_path / "in.mp4"
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (120, 80))
    for _ in range(3):
        f = np.zeros((80, 120, 3), np.uint8)
        f[:, :60] = 200  # left half bright
        w.write(f)
    w.release()
    runs = {"mirror": ["--mirror"], "small": ["--width", "60"], "dark": ["--gain", "0.3", "--noise", "5"],
            "roll": ["--roll", "90"], "blur": ["--blur", "4"]}
    out = {}
    for name, extra in runs.items():
        assert main([str(src), str(tmp_path / f"{name}.mp4"), *extra]) == 0
        out[name] = _frames(tmp_path / f"{name}.mp4")[0].astype(float)
    assert out["mirror"][:, 70:].mean() > 150 and out["mirror"][:, :50].mean() < 50  # the bright half now on the right
    assert out["small"].shape[:2] == (40, 60) and out["small"][:, :25].mean() > 150
    assert 40 < out["dark"][:, :50].mean() < 90  # darker (the grain itself: below, before the codec smooths it)
    assert out["roll"][-15:, 25:95].mean() > 150 and out["roll"][:15, 25:95].mean() < 50  # counter-clockwise: left half down
    edge = out["blur"][:, 50:70].mean(axis=(0, 2))
    assert 30 < edge[10] < 170  # the sharp edge now a ramp
    assert main([str(src), str(tmp_path / "bad.mp4"), "--gain", "0"]) == 2
    assert not (tmp_path / "bad.mp4").exists()


def test_sensor_noise_is_seeded():
    frame = np.full((20, 30, 3), 100, np.uint8)
    noisy = [Camera(noise=6, seed=s).apply(frame, np.random.default_rng(s)) for s in (1, 1, 2)]
    assert 4 < noisy[0].astype(float).std() < 8 and np.array_equal(noisy[0], noisy[1]) and not np.array_equal(noisy[0], noisy[2])
    assert np.array_equal(Camera().apply(frame, np.random.default_rng(0)), frame)  # the defaults change nothing
