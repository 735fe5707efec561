"""The live pipeline: queues and their policies, clean stops and errors, the writer's files, and
``dtsvibe-live`` end to end on the demo clip (ONNX Runtime, the embedded default bundle)."""

from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest

from realtime.recording import read_track
from realtime.pipeline import BoundedQueue, LivePipeline, Packet, Stage
from realtime.sources import Frame, FrameSource
from realtime.stats import PipelineStats


class CountingSource(FrameSource):
    """``n`` tiny frames, as fast as asked (``live=False``) or one per ``period`` s (``live=True``)."""

    def __init__(self, n: int, live: bool = False, period: float = 0.0) -> None:
        super().__init__("counting")
        self.n, self.live, self.period = n, live, period

    def read(self):
        if self.index >= self.n or self._stop.is_set():
            return None
        if self.period:
            self._stop.wait(self.period)
        return self._frame(np.zeros((4, 4, 3), np.uint8))


class Slow(Stage):
    name = "slow"

    def __init__(self, seconds: float, fail_at: int = -1) -> None:
        self.seconds, self.fail_at, self.seen = seconds, fail_at, []
        self.finished = False

    def process(self, packet: Packet) -> Packet:
        if packet.frame.index == self.fail_at:
            raise RuntimeError(f"stage failed at frame {self.fail_at}")
        time.sleep(self.seconds)
        self.seen.append(packet.frame.index)
        return packet

    def finish(self) -> None:
        self.finished = True


def test_bounded_queue_policies():
    drops = []
    q = BoundedQueue(2, "drop_oldest", drops.append)
    for i in range(5):
        q.put(i)
    assert [q.get(), q.get()] == [3, 4] and sum(drops) == 3
    with pytest.raises(ValueError, match="policy"):
        BoundedQueue(2, "drop_newest")


def test_files_lose_no_frame_when_blocking():
    stage = Slow(0.002)
    pipe = LivePipeline(CountingSource(60), [Slow(0.0), stage], queue_size=2, capture_policy="block")
    pipe.run()
    assert stage.seen == list(range(60)) and stage.finished
    assert pipe.stats.summary()["capture"]["dropped"] == 0 and pipe.frames_out == 60


def test_live_sources_never_wait_for_slow_stages_and_count_drops():
    stage = Slow(0.03)
    pipe = LivePipeline(CountingSource(80, live=True, period=0.002), [stage], queue_size=2, capture_policy="drop_oldest")
    pipe.run()
    dropped = pipe.stats.summary()["capture"]["dropped"]
    assert dropped > 0 and len(stage.seen) + dropped + 2 >= 80 and stage.seen == sorted(stage.seen)


def test_stop_ends_every_thread_and_flushes():
    stage = Slow(0.001)
    pipe = LivePipeline(CountingSource(10**9, live=True, period=0.001), [stage], queue_size=2).start()
    time.sleep(0.3)
    pipe.stop()
    assert pipe.join(timeout=5.0) and stage.finished
    assert not any(t.is_alive() for t in pipe.threads) and pipe.error is None


def test_a_failing_stage_stops_the_pipeline_and_reports_the_error():
    first, second = Slow(0.0, fail_at=7), Slow(0.0)
    pipe = LivePipeline(CountingSource(10**9, live=False), [first, second], queue_size=2, capture_policy="block")
    with pytest.raises(RuntimeError, match="stage failed at frame 7"):
        pipe.run()
    assert first.finished and second.finished and not any(t.is_alive() for t in pipe.threads)


def test_stats_table_lists_every_stage():
    s = PipelineStats()
    for ms in (1.0, 2.0, 3.0, 10.0):
        s.add("inference", ms)
    s.drop("capture", 2)
    table = s.table()
    assert "inference" in table and "capture" in table and "fps end to end" in table
    assert s.summary()["inference"]["p50_ms"] == pytest.approx(2.5)


# -- end to end -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    pytest.importorskip("mediapipe", reason="the live app's detector needs mediapipe")
    from realtime.cli import main
    from training.paths import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.fail(f"the embedded default checkpoint {DEFAULT_CHECKPOINT} is missing")
    out = tmp_path_factory.mktemp("live")
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("DTSVIBE_CACHE", str(cache))
    try:
        rc = main(["--source", "demo", "--no-realtime", "--max-frames", "24", "--out", str(out / "res"), "--record"])
    finally:
        mp.undo()
    return rc, out / "res"


def test_demo_runs_end_to_end_and_writes_readable_results(live_run, capsys):
    rc, res = live_run
    assert rc == 0
    lines = [json.loads(x) for x in (res / "index.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(24))
    assert all(x["t_output"] >= x["t_capture"] for x in lines)
    seen = [x for x in lines if 0 in x["tracks"]]
    assert len(seen) >= 20  # the demo's one person is tracked (id 0) in (almost) every frame
    track = read_track(res, 0)
    assert track["theta"].shape == (len(seen), 157) and track["joints3d"].shape == (len(seen), 49, 3)
    assert track["frame"].astype(int).tolist() == [x["frame"] for x in seen]
    assert np.isfinite(track["theta"]).all() and track["joints2d"].std(0).max() > 0
    cap = cv2.VideoCapture(str(res / "record.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    cap.release()


def test_track_files_carry_the_meshs_human36m_joints(live_run, tmp_path):
    """Each record holds ``joints3d_h36m17``: the mesh's Human3.6M joints (what SPIN/VIBE score Human3.6M on), the
    regressor applied to the record's own mesh; beside the LSP joints its knees are the same points, its hips others."""
    from fake_packets import make_packets
    from realtime.recording import H36M_KEY, ResultWriter, h36m_regressor
    from training.body.joint_sets import H36M_LANDMARKS

    _, res = live_run
    track = read_track(res, 0)
    h36m, spin49 = track[H36M_KEY], track["joints3d"]
    assert h36m.shape == (len(spin49), 17, 3) and np.isfinite(h36m).all()
    lsp = spin49[:, 25:39]  # r ankle, r knee, r hip, l hip, l knee, l ankle, …
    knee = np.linalg.norm(h36m[:, H36M_LANDMARKS.index("right_knee")] - lsp[:, 1], axis=-1)
    hip = np.linalg.norm(h36m[:, H36M_LANDMARKS.index("right_hip")] - lsp[:, 2], axis=-1)
    assert knee.max() < 0.01 and hip.min() > 0.02
    # the writer applies the regressor to each person's mesh (fake packets: a made-up regressor of their vertices)
    packets = make_packets(3, ids=(0, 2), seed=1)
    v = packets[0].results.vertices.shape[1]
    reg = np.random.default_rng(0).normal(size=(17, v)).astype(np.float32)
    writer = ResultWriter(tmp_path, h36m=reg)
    for p in packets:
        writer.write(p)
    writer.close()
    got = read_track(tmp_path, 2)[H36M_KEY]
    want = np.stack([np.einsum("kv,vc->kc", reg, p.results.vertices[p.results.ids.index(2)]) for p in packets])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # read with numpy (the live app runs without torch): the torch body's own rows
    from training.body import BodyModel

    reg = h36m_regressor({"kind": "open", "path": None, "gender": "neutral", "num_betas": 10})
    np.testing.assert_array_equal(reg, BodyModel.open().landmark_set_regressor("h36m17").numpy())
    assert h36m_regressor({"kind": "smpl", "path": str(tmp_path / "no_smpl"), "gender": "neutral", "num_betas": 10}) is None


def test_a_torn_last_record_is_ignored(live_run, tmp_path):
    import shutil

    _, res = live_run
    copy = tmp_path / "res"
    shutil.copytree(res, copy)
    whole = read_track(copy, 0)
    with open(copy / "track_0.bin", "ab") as f:
        f.write(b"\x00" * 37)  # a run killed in the middle of a write
    again = read_track(copy, 0)
    assert all(np.array_equal(whole[k], again[k]) for k in whole)


def test_a_second_run_into_the_same_out_keeps_the_first_apart(live_run, tmp_path, capsys):
    """The README's command run twice: the second run's results are where the first's were, the first's moved to
    previous/<time stamp>/ whole and readable — neither lost nor mixed into the new files."""
    import shutil

    from realtime.cli import main

    rc, first = live_run
    assert rc == 0
    out = tmp_path / "res"
    shutil.copytree(first, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["--source", "demo", "--no-realtime", "--max-frames", "5", "--view", "none", "--out", str(out)]) == 0
    (kept,) = (out / "previous").iterdir()
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before
    assert [json.loads(x)["frame"] for x in (out / "index.jsonl").read_text().splitlines()] == list(range(5))
    assert read_track(kept, 0)["theta"].shape[0] >= 20 and read_track(out, 0)["theta"].shape[0] <= 5
    assert f"moved to {kept}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--source", "/nonexistent/clip.mp4"], "does not exist"),
    (["--source", "demo", "tracking.max_persns=2"], "unknown key"),
    (["--source", "demo", "--record"], "--record needs a path"),
    (["--source", "demo", "--bundle", "/nonexistent/bundle"], "no such engine bundle folder"),
    (["--source", "demo", "--bundle", "{tmp}"], "manifest"),  # a folder that is not a bundle
    (["--source", "demo", "--publish", "http://x"], "unknown scheme"),
    (["--source", "demo", "--view", "both", "view.width=0"], "view.width"),
    (["--source", "demo", "--record", "{tmp}/run.avi"], "not an .mp4 file name"),  # OpenCV wrote nothing, silently
])
def test_bad_input_fails_with_one_line(argv, message, capsys, tmp_path):
    from realtime.cli import main

    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_max_frames_must_be_a_positive_count(value, capsys):
    """A run of no frames is refused by the parser (it used to run the whole setup and print an empty table)."""
    from realtime.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--source", "demo", "--max-frames", value])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("dtsvibe-live: error: argument --max-frames: expected")


def test_a_source_that_fails_once_running_ends_with_its_error_line(capsys, tmp_path):
    """A file that opens but whose frames never decode: exit status 1, the one-line error last on stderr, and no
    empty statistics table (nothing ran)."""
    from realtime.cli import main
    from realtime.sources import DEMO_CLIP

    clip = tmp_path / "cut.mp4"
    clip.write_bytes(DEMO_CLIP.read_bytes()[:5000])
    assert main(["--source", str(clip), "--no-realtime", "--view", "none"]) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1] == f"dtsvibe-live: error: {clip}: no frame decodes; check that it is a video file"
    assert "frames in" not in out


def test_live_threads_do_not_outlive_a_run():
    before = threading.active_count()
    LivePipeline(CountingSource(5), [Slow(0.0)], capture_policy="block").run()
    assert threading.active_count() <= before


def test_two_people_keep_their_ids(tmp_path):
    """Two people side by side (two moments of the demo clip, one mirrored): two tracks, ids 0 and 1 from
    start to end, each staying on its side of the frame."""
    pytest.importorskip("mediapipe", reason="the live app's detector needs mediapipe")
    from realtime.cli import main
    from realtime.sources import DEMO_CLIP

    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = [cap.read()[1] for _ in range(160)]
    cap.release()
    clip = tmp_path / "two.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 24, (640, 360))
    for t in range(40):
        writer.write(np.concatenate([frames[t][:, 140:460], cv2.flip(frames[t + 100], 1)[:, 180:500]], axis=1))
    writer.release()
    mp = pytest.MonkeyPatch()
    mp.setenv("DTSVIBE_CACHE", str(tmp_path / "cache"))
    try:
        assert main(["--source", str(clip), "--no-realtime", "--out", str(tmp_path / "res")]) == 0
    finally:
        mp.undo()
    lines = [json.loads(x) for x in (tmp_path / "res" / "index.jsonl").read_text().splitlines()]
    assert len(lines) == 40 and {t for x in lines for t in x["tracks"]} == {0, 1}
    assert sum(x["tracks"] == [0, 1] or x["tracks"] == [1, 0] for x in lines) >= 36
    side = {}
    for x in lines:
        for tid, box in zip(x["tracks"], x["boxes"]):
            side.setdefault(tid, set()).add((box[0] + box[2]) / 2 > 320)
    assert all(len(s) == 1 for s in side.values()) and side[0] != side[1]


# -- kiosk --------------------------------------------------------------------------------------------------
class Hang(Stage):
    """Hangs forever on frame ``at`` of the first pipeline only (a stuck driver call)."""

    name = "hang"

    def __init__(self, at: int, hang: bool) -> None:
        self.at, self.hang, self.seen = at, hang, []

    def process(self, packet: Packet) -> Packet:
        if self.hang and packet.frame.index == self.at:
            threading.Event().wait()  # never returns
        self.seen.append(packet.frame.index)
        return packet


def test_the_kiosk_watchdog_restarts_a_stalled_pipeline():
    from realtime.kiosk import Supervisor

    built: list[Hang] = []

    def build():
        stage = Hang(at=3, hang=not built)
        built.append(stage)
        return LivePipeline(CountingSource(10), [stage], capture_policy="block")  # no frame dropped, whatever the load

    sup = Supervisor(build, stall_s=0.5, backoff_s=(0.05, 0.1), max_restarts=2, log=lambda m: None)
    t0 = time.monotonic()
    sup.run()
    assert time.monotonic() - t0 < 10
    assert sup.reasons[0] == "watchdog: 'hang' made no progress for 0.5 s"
    assert built[0].seen == [0, 1, 2] and built[1].seen == list(range(10))  # the second ran the source to its end
    assert sup.reasons[1].startswith("source ended")  # a kiosk plays a file again and again


def test_the_kiosk_retries_a_source_that_cannot_open_yet():
    from realtime.kiosk import Supervisor

    attempts = []

    def build():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("camera 0 cannot be opened")
        return LivePipeline(CountingSource(3), [Slow(0.0)], capture_policy="block")

    sup = Supervisor(build, stall_s=5, backoff_s=(0.05, 0.2), max_restarts=3, log=lambda m: None)
    sup.run()
    assert sup.reasons[:2] == ["cannot start (camera 0 cannot be opened)"] * 2
    assert sup.reasons[2].startswith("source ended after 3 frames")
    assert attempts[2] - attempts[1] >= attempts[1] - attempts[0] >= 0.04  # back-off, doubling
