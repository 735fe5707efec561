"""``tools/side_views.py``: real clips seen from the side, ours over MediaPipe's world landmarks."""

from __future__ import annotations

import pytest

from realtime.sources import DEMO_CLIP
from tools.side_views import main

pytest.importorskip("mediapipe", reason="the live pipeline's tracker runs BlazePose")


def test_side_views_of_the_demo_clip(tmp_path, capsys):
    out = tmp_path / "side.png"
    assert main([str(DEMO_CLIP), "--frames", "2", "--max-frames", "12", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "demo.mp4: track" in printed and out.stat().st_size > 10_000


def test_missing_video_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "none.mp4"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "none.mp4" in err and not (tmp_path / "x.png").exists()
