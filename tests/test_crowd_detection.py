"""The multi-person detection benchmark's parts: the generated crowds, the scoring and the far-people sweep."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.detection.detector import sweep_windows
from realtime.detection.scoring import score_frames


def test_scoring_counts_hits_per_band_false_positives_and_id_switches():
    truth = np.array([[[0, 0, 100, 300], [500, 0, 540, 45]]] * 4, np.float32)  # a big and a small person
    heights = np.array([[300 / 540, 45 / 540]] * 4)
    counts = np.array([[True, True], [True, True], [True, False], [True, True]])
    big, small, elsewhere = truth[0, 0], truth[0, 1], np.array([300, 300, 340, 360], np.float32)
    found = [
        [(0, big), (1, small)],  # both found
        [(0, big + 3), (2, small), (3, elsewhere)],  # the small one under a new id; one false positive
        [(0, big), (2, small)],  # the small one does not count here (hidden): neither hit nor false positive
        [(5, big)],  # the big one switches id, the small one is missed
    ]
    s = score_frames(truth, heights, counts, found)
    assert s.frames == 4 and s.false_positives == 1
    assert s.people["≥ 1/4"] == 4 and s.hits["≥ 1/4"] == 4
    assert s.people["1/12–1/9"] == 3 and s.hits["1/12–1/9"] == 2
    assert s.id_switches == 2 and s.person_frames == 7
    assert s.recall_at_least(1 / 6) == 1.0 and s.recall_at_least(1 / 12) == pytest.approx(6 / 7)
    assert (s + s).false_positives == 2 and (s + s).recall("1/12–1/9") == pytest.approx(2 / 3)


def test_a_narrow_box_on_the_person_is_found_a_short_or_offset_one_is_not():
    truth = np.array([[[100, 100, 200, 300]]], np.float32)  # arms out: a wide box
    args = (truth, np.array([[0.4]]), np.array([[True]]))
    assert score_frames(*args, [[(0, np.array([130, 105, 170, 295]))]]).hits["≥ 1/4"] == 1  # IoU 0.38, but on the body
    assert score_frames(*args, [[(0, np.array([130, 105, 170, 200]))]]).false_positives == 1  # half the height
    assert score_frames(*args, [[(0, np.array([170, 105, 230, 295]))]]).false_positives == 1  # half beside it


@pytest.mark.parametrize("shape", [(540, 960), (480, 640), (720, 720)])
def test_the_sweep_covers_the_frame_with_overlapping_squares(shape):
    h, w = shape
    for level in (2, 3):
        squares = sweep_windows(shape, [level])
        side = round(min(h, w) / level)
        covered = np.zeros(shape, bool)
        for x0, y0, x1, y1 in squares:
            assert x1 - x0 == y1 - y0 == side and 0 <= x0 and x1 <= w and 0 <= y0 and y1 <= h
            covered[y0:y1, x0:x1] = True
        assert covered.all()
        xs = sorted({s[0] for s in squares})
        assert all(b - a <= 0.75 * side + 1 for a, b in zip(xs, xs[1:]))  # neighbours share ≥ a quarter
    assert sweep_windows(shape, []) == [] and sweep_windows(shape, [1]) == []


def test_the_detector_runs_the_sweep_in_turns():
    from realtime.detection import PersonDetector

    det = PersonDetector(sweep=(2,), sweep_per_run=3)
    frame = np.zeros((540, 960, 3), np.uint8)
    squares = sweep_windows(frame.shape[:2], [2])
    assert det._sweep_turn(frame.shape[:2]) == squares  # the first call: the whole sweep at once
    seen = [w for _ in range(len(squares)) for w in det._sweep_turn(frame.shape[:2])]
    assert len(seen) == 3 * len(squares) and seen == squares * 3  # then every square, in order, again and again
    assert det.detect(frame) == []  # and a plain call runs with it


def test_generated_crowds_are_seeded_and_labelled():
    from training.synthetic import render
    from training.synthetic.crowd import CrowdConfig, CrowdGenerator

    if not render.gl_available():
        pytest.skip("no headless OpenGL (Mesa EGL) here: the generator cannot render")
    cfg = CrowdConfig(frame_size=(320, 180), seq_len=6, people=(3, 3))
    a, b = CrowdGenerator(5, cfg).clip(1), CrowdGenerator(5, cfg).clip(1)
    np.testing.assert_array_equal(a["frames"], b["frames"])
    assert a["frames"].shape == (6, 180, 320, 3) and a["boxes"].shape == (6, 3, 4)
    assert ((a["visible"] >= 0) & (a["visible"] <= 1)).all() and ((a["inside"] >= 0) & (a["inside"] <= 1)).all()
    # people are drawn where their boxes say: the frame differs from the background inside a visible person's box
    f = a["frames"][0].astype(int)
    shown = [np.clip(box, 0, [320, 180, 320, 180]).astype(int)
             for box, vis, ins in zip(a["boxes"][0], a["visible"][0], a["inside"][0]) if vis > 0.5 and ins > 0.9]
    assert shown  # someone is in full view in the first frame
    for x0, y0, x1, y1 in shown:
        assert f[y0:y1, x0:x1].std() > 5
    assert (a["height"] > 1 / 30).all() and (a["height"] < 0.6).all()


def test_the_motion_cue_picks_the_squares_where_someone_unknown_moved():
    from realtime.detection.detector import MotionWindows

    shape = (540, 960)
    squares = sweep_windows(shape, [2, 3])
    still = np.full((*shape, 3), 90, np.uint8)
    moved = still.copy()
    moved[300:360, 700:720] = 200  # a small walker appears at x 700-720, y 300-360
    cue = MotionWindows(max_windows=2)
    assert cue(still, [], squares) == []  # nothing to compare with yet
    picked = cue(moved, [], squares)
    assert picked and all(x0 <= 700 and 720 <= x1 and y0 <= 300 and 360 <= y1 for x0, y0, x1, y1 in picked[:1])
    cue = MotionWindows(max_windows=2)
    cue(still, [], squares)
    assert cue(moved, [np.array([660, 280, 760, 380])], squares) == []  # a known person's motion is theirs
    cue = MotionWindows(max_windows=2)
    cue(still, [], squares)
    assert cue(255 - still, [], squares) == []  # everything changed: the camera moved, no cue


def test_bench_detection_prints_and_writes_the_same_figures(tmp_path, capsys):
    from tools import bench_detection
    from training.synthetic import render

    if not render.gl_available():
        pytest.skip("no headless OpenGL (Mesa EGL) here: the crowd clips cannot be rendered")
    out = tmp_path / "out"
    assert bench_detection.main(["--clips", "1", "--frames", "4", "--candidates", "full", "motion-sweep23",
                                 "--cache", str(tmp_path / "cache"), "--out", str(out)]) == 0
    import json

    rows = json.loads((out / "detection.json").read_text())["rows"]
    md, printed = (out / "detection.md").read_text(), capsys.readouterr().out
    assert [r["candidate"] for r in rows] == ["full", "motion-sweep23"] and all(r["frames"] == 4 for r in rows)
    for r in rows:
        assert r["ms_per_frame"] > 0 and 0 <= r["fp_per_frame"]
        line = f"| {r['candidate']} | {r['ms_per_frame']:.0f} |"
        assert line in md and line in printed
    assert list((tmp_path / "cache").glob("crowd_*.npz"))  # the clips are kept for the next run
