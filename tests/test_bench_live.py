"""``tools/bench_live.py``: one run through the live pipeline, and its count of BlazePose passes (the model issue:
BlazePose runs once per person per frame, the model reading that same pass)."""

from __future__ import annotations

import pytest

pytest.importorskip("mediapipe", reason="the live pipeline's tracker runs BlazePose")

from tools.bench_live import camera_clip, run  # noqa: E402


def test_one_blazepose_pass_per_person_and_frame(tmp_path):
    clip = camera_clip(tmp_path / "one.mp4", 1, 1.0)
    r = run(clip, None, realtime=False, warmup=0.0, threads=1)
    assert r["fps"] > 0 and "detect+track" in r["summary"] and "inference" in r["summary"]
    # every landmark pass over the person-frames the model got: one each, plus any candidate a detection frame
    # looked at that was not already followed
    assert 1.0 <= r["blazepose_passes"] < 1.2
