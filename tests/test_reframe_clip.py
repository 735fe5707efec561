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
