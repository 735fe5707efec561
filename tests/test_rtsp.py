"""A real RTSP stream (GStreamer's RTSP server on 127.0.0.1, started by the test) that is stopped and
restarted mid-stream: the source reconnects and the live pipeline keeps its outputs going."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from realtime.sources import DEMO_CLIP, StreamSource

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).parent / "helpers" / "rtsp_server.py"


def _server_available() -> str | None:
    if not Path(SYSTEM_PYTHON).is_file():
        return f"{SYSTEM_PYTHON} is missing"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0');"
                            "from gi.repository import GstRtspServer"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "GStreamer's RTSP server is not installed (apt: python3-gi gir1.2-gst-rtsp-server-1.0; tools/setup.sh test)"
    return None


_WHY = _server_available()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int) -> None:
        self.port, self.proc = port, None

    def start(self, size: str | None = None) -> str:
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), str(DEMO_CLIP), str(self.port), "live", *([size] if size else [])],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("ready "), line
        return line.split()[1]

    def pause(self, seconds: float) -> None:
        """The server stalls without closing anything (SIGSTOP), then goes on (SIGCONT)."""
        self.proc.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def server():
    s = Server(_free_port())
    yield s
    s.stop()


def test_stream_reconnects_after_the_server_restarts(server):
    url = server.start()
    src = StreamSource(url, open_timeout_s=5, reconnect_min_s=0.2, reconnect_max_s=1.0)
    assert all(src.read() is not None for _ in range(10))
    server.stop()
    threading.Timer(1.0, server.start).start()
    for _ in range(300):  # frames already buffered by the client come first, then the reconnect
        assert src.read() is not None
        if src.reconnects:
            break
    assert src.reconnects == 1
    frames = [src.read() for _ in range(10)]
    src.close()
    assert all(f is not None for f in frames) and frames[-1].index - frames[0].index == 9


def test_live_pipeline_keeps_the_track_going_across_a_restart(server, tmp_path, monkeypatch):
    pytest.importorskip("mediapipe", reason="the live app's detector needs mediapipe")
    from realtime.graph import build_pipeline
    from realtime.config import load_live_config

    monkeypatch.setenv("DTSVIBE_CACHE", str(tmp_path / "cache"))
    url = server.start()
    cfg = load_live_config("default", [f"input.source={url}", "input.open_timeout_s=5", "input.reconnect_min_s=0.2",
                                       "input.reconnect_max_s=1", f"out_dir={tmp_path / 'out'}"])
    pipeline, _ = build_pipeline(cfg, max_frames=150, log=lambda m: None)  # about 6 s of the 24 fps stream
    pipeline.start()
    index = tmp_path / "out" / "index.jsonl"
    deadline = time.monotonic() + 120
    while (not index.is_file() or len(index.read_text().splitlines()) < 20) and time.monotonic() < deadline:
        time.sleep(0.2)
    server.stop()
    time.sleep(1.0)
    server.start()
    restarted = time.monotonic()
    assert pipeline.join(timeout=180)
    assert pipeline.error is None and pipeline.source.reconnects >= 1
    lines = [json.loads(x) for x in index.read_text().splitlines()]
    writer = pipeline.stages[-1].sinks[0]
    after = [x for x in lines if x["t_capture"] > restarted - writer.t0]  # t_capture counts from the first frame
    assert len(lines) - len(after) >= 20 and len(after) >= 10  # frames before and after (a live source drops what it must)
    # Outputs keep coming for the person. (Its id may change: the test server restarts its file from the
    # first frame, so the person jumps to where they stood then, which the tracker takes for someone new.)
    assert sum(bool(x["tracks"]) for x in after) >= 0.8 * len(after)
    assert all(len(x["tracks"]) <= 1 for x in lines)  # one person in the clip, one track at a time


def test_a_stream_that_stalls_without_closing_is_reopened(server):
    """The server freezes (its sockets stay open, nothing is sent): the read times out, the source reconnects
    once the server answers again, and frames keep coming; no read hangs."""
    url = server.start()
    src = StreamSource(url, open_timeout_s=1.5, reconnect_min_s=0.2, reconnect_max_s=0.5)
    assert all(src.read() is not None for _ in range(5))
    stall = threading.Thread(target=server.pause, args=(4.0,))
    stall.start()
    for _ in range(400):
        assert src.read() is not None
        if src.reconnects:
            break
    stall.join()
    assert src.reconnects >= 1
    assert all(src.read() is not None for _ in range(10))
    src.close()


def test_a_stream_that_changes_resolution_keeps_the_pipeline_going(server, tmp_path):
    """The camera comes back at another resolution: frames arrive at the new size, the pipeline keeps
    tracking and writing, and the recording keeps its first size with every frame in it."""
    pytest.importorskip("mediapipe", reason="the live app's detector needs mediapipe")
    import cv2

    from realtime.graph import build_pipeline
    from realtime.config import load_live_config

    url = server.start()
    cfg = load_live_config("default", [f"input.source={url}", "input.open_timeout_s=5", "input.reconnect_min_s=0.2",
                                       "input.reconnect_max_s=1", f"out_dir={tmp_path / 'out'}", "view.view=none",
                                       f"view.record={tmp_path / 'out' / 'input.mp4'}"])
    pipeline, _ = build_pipeline(cfg, max_frames=120, log=lambda m: None)
    sizes = []
    original = pipeline.source.read

    def read():
        frame = original()
        if frame is not None:
            sizes.append(frame.image.shape[:2])
            if len(sizes) == 40:
                server.stop()
                threading.Timer(0.5, server.start, kwargs={"size": "320x180"}).start()
        return frame

    pipeline.source.read = read
    pipeline.run()
    assert sizes[0] == (360, 640) and sizes[-1] == (180, 320) and pipeline.source.reconnects == 1
    lines = [json.loads(x) for x in (tmp_path / "out" / "index.jsonl").read_text().splitlines()]
    after = [x for x in lines if x["frame"] >= 60]
    assert after and sum(bool(x["tracks"]) for x in after) >= 0.8 * len(after)  # tracked at the new size too
    cap = cv2.VideoCapture(str(tmp_path / "out" / "input.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(lines) and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640
    cap.release()
