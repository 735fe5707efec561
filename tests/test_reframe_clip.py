"""``tools/reframe_clip.py``: a clip cut to one box of its frames (the framed-clip evaluation's inputs)."""

from __future__ import annotations

import cv2
import numpy as np

from tools.reframe_clip import main


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
