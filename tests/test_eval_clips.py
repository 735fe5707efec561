"""tools/eval_clips.py's figures: PCK against MediaPipe, spread and jitter ratios (on made-up tracks)."""

from __future__ import annotations

import numpy as np
from tool_loader import load_tool


def _tool():
    return load_tool("eval_clips")


def _track(rng, frames: int, ours_from_mp) -> dict:
    mp2d = rng.uniform(100, 400, (frames, 33, 2))
    mp3d = rng.normal(0, 0.3, (frames, 12, 3))
    ours2d, ours3d = ours_from_mp(mp2d, mp3d)
    return {"ours2d": list(ours2d), "ours3d": list(ours3d), "mp2d": list(mp2d), "mpvis": list(np.ones((frames, 12), bool)),
            "mp3d": list(mp3d), "frame": list(range(frames)), "ours_face": list(mp2d[:, _tool().MP_FACE]),
            "mp_face_vis": list(np.ones((frames, 5), bool))}


def test_a_body_that_copies_mediapipe_scores_one():
    tool = _tool()
    rng = np.random.default_rng(0)
    same = _track(rng, 30, lambda m2, m3: (m2[:, tool.MEDIAPIPE], m3))
    s = tool.scores({0: same})
    assert s["face"] == 0.0 and s["pck"] == 1.0 and abs(s["spread_ratio"] - 1) < 1e-9 and abs(s["jitter_ratio"] - 1) < 1e-9
    assert abs(s["spread_seen_ratio"] - 1) < 1e-9
    assert s["frames"] == 30 and s["tracks"] == 1


def test_the_seen_spread_leaves_out_joints_mediapipe_does_not_see():
    """Legs below the frame: ours hang still, MediaPipe's guesses move. The spread over all 12 joints is below 1;
    over the joints MediaPipe sees (the arms, and the legs on no frame) it is 1."""
    tool = _tool()
    rng = np.random.default_rng(3)
    track = _track(rng, 30, lambda m2, m3: (m2[:, tool.MEDIAPIPE], m3.copy()))
    legs = slice(6, 12)
    track["ours3d"] = [o.copy() for o in track["ours3d"]]
    for o in track["ours3d"]:
        o[legs] = 0.0
    track["mpvis"] = [v.copy() for v in track["mpvis"]]
    for v in track["mpvis"]:
        v[legs] = False
    s = tool.scores({0: track})
    assert s["spread_ratio"] < 0.7 and abs(s["spread_seen_ratio"] - 1) < 1e-9


def test_a_body_stuck_in_one_pose_and_far_away_scores_low():
    tool = _tool()
    rng = np.random.default_rng(1)
    stuck = _track(rng, 30, lambda m2, m3: (m2[:, tool.MEDIAPIPE] + 1000.0, np.repeat(m3[:1], len(m3), 0)))
    stuck["ours_face"] = [f + 1000.0 for f in stuck["ours_face"]]
    s = tool.scores({0: stuck, 1: _track(rng, 5, lambda m2, m3: (m2[:, tool.MEDIAPIPE], m3))})  # the short track is left out
    assert s["pck"] == 0.0 and s["spread_ratio"] < 1e-9 and s["jitter_ratio"] < 1e-9 and s["tracks"] == 1
    assert s["face"] > 1.0  # the face went with the body, 1000 px off
    assert tool.scores({})["pck"] is None


def test_jitter_counts_consecutive_frames_only_not_jumps_across_a_lost_stretch():
    tool = _tool()
    rng = np.random.default_rng(2)
    track = _track(rng, 30, lambda m2, m3: (m2[:, tool.MEDIAPIPE], m3))
    track["mp3d"] = list(0.01 * np.arange(30.0)[:, None, None] ** 2 + np.zeros((30, 12, 3)))  # even acceleration
    track["ours3d"] = [m + (1.0 if k >= 15 else 0.0) for k, m in enumerate(track["mp3d"])]  # ours comes back 1 m off
    track["frame"] = list(range(15)) + list(range(40, 55))  # lost for 25 frames in the middle
    assert abs(tool.scores({0: track})["jitter_ratio"] - 1) < 1e-9
    track["frame"] = list(range(30))  # the same jump between two consecutive frames is jitter
    assert tool.scores({0: track})["jitter_ratio"] > 1.5


def test_a_clip_that_does_not_decode_is_left_out_and_the_others_written(tmp_path, capsys):
    """One broken clip among several: the others are scored and written, the broken one named (status 1); a missing
    clip is refused before any clip runs."""
    import json

    import pytest

    pytest.importorskip("mediapipe", reason="the live app's detector needs mediapipe")
    from realtime.sources import DEMO_CLIP

    cut = tmp_path / "cut.mp4"
    cut.write_bytes(DEMO_CLIP.read_bytes()[:5000])
    out = tmp_path / "out"
    assert _tool().main([str(cut), str(DEMO_CLIP), "--max-frames", "3", "--no-sheets", "--out", str(out)]) == 1
    data = json.loads((out / "eval_clips.json").read_text())
    assert [r["clip"] for r in data["rows"]] == [DEMO_CLIP.name] and data["left_out"] == ["cut.mp4"]
    assert "no frame decodes" in capsys.readouterr().err
    assert _tool().main([str(DEMO_CLIP), str(tmp_path / "none.mp4"), "--no-sheets", "--out", str(tmp_path / "o2")]) == 2
    assert not (tmp_path / "o2" / "eval_clips.json").exists()
