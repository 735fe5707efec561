"""Frame sources for the live app: webcam, RTSP/HTTP stream, video file, image folder, or the demo clip.

``open_source(spec, cfg)`` picks the kind from the spec (``"0"`` → webcam 0, ``rtsp://…``/``http://…``
→ network stream, a folder → its images in name order, ``"demo"`` → the clip the project ships, any other
path → a video file) and returns a :class:`FrameSource`:

* ``read()`` → the next :class:`Frame` (BGR image, index, capture time) or ``None`` at the end;
* files play at their own frame rate when ``realtime`` (a live-like source) or as fast as they decode;
* a frame that does not decode in the middle of a file or folder is logged and skipped;
* a network stream that drops is reopened with exponential back-off (``reconnect_min_s`` …
  ``reconnect_max_s``) until it answers again (``reconnects`` counts it); ``stop()`` ends the wait;
* anything that cannot be opened — a missing camera, a URL that never answers within
  ``open_timeout_s``, a file that is not a video — raises :class:`SourceError` with one line naming
  the source and what to do.

OpenCV's FFmpeg backend reads files and ``rtsp://``/``http://`` URLs; its open and read timeouts are set
from the config so that nothing blocks forever.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

__all__ = ["DEMO_CLIP", "Frame", "FrameSource", "SourceError", "open_source"]

logger = logging.getLogger(__name__)

#: The clip ``--source demo`` plays (shipped with the project; see its NOTICE).
DEMO_CLIP = Path(__file__).resolve().parent / "assets" / "demo.mp4"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
NETWORK_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
#: Consecutive undecodable frames after which a file is considered finished (or broken).
MAX_BAD_FRAMES = 25


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message is one line naming it and the fix."""


@dataclass
class Frame:
    index: int  # 0, 1, 2 … in the order delivered
    image: np.ndarray  # (H, W, 3) uint8 BGR
    t_capture: float  # time.monotonic() when the frame was read
    position_s: Optional[float] = None  # position in a file (seconds), when known


#: Undecodable frames named one by one in the log; later ones are only counted (``FrameSource.skipped``).
LISTED_SKIPS = 5


class FrameSource:
    """Base class: :meth:`read` frames until ``None``; :meth:`stop` (any thread) ends blocking waits."""

    kind = "source"
    live = True  # frames arrive whether or not we read them (cameras, streams, realtime files)

    def __init__(self, name: str) -> None:
        self.name = name
        self.index = 0
        self.skipped = 0  # undecodable frames skipped
        self.reconnects = 0
        self.fps: Optional[float] = None
        self._stop = threading.Event()
        self._start: Optional[float] = None  # monotonic time of position 0 (paced files)

    def read(self) -> Optional[Frame]:
        raise NotImplementedError

    def _skip(self, what: str) -> None:
        """Count an undecodable frame; name the first :data:`LISTED_SKIPS`, then say once that the rest are only
        counted (a file whose every frame is broken would otherwise print a line per frame before its error)."""
        self.skipped += 1
        if self.skipped <= LISTED_SKIPS:
            logger.warning("%s: %s does not decode; skipped", self.name, what)
        if self.skipped == LISTED_SKIPS:
            logger.warning("%s: further frames that do not decode are skipped and counted, not listed", self.name)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()

    def _pace(self, position_s: float) -> bool:
        """For files played like a live source: wait until ``position_s`` after the first frame.
        False when :meth:`stop` interrupted the wait."""
        now = time.monotonic()
        if self._start is None:
            self._start = now - position_s
        delay = self._start + position_s - now
        return not (delay > 0 and self._stop.wait(delay))

    def _frame(self, image: np.ndarray, position_s: Optional[float] = None) -> Frame:
        f = Frame(self.index, image, time.monotonic(), position_s)
        self.index += 1
        return f

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _capture(target, open_timeout_s: float, read_timeout_s: float) -> cv2.VideoCapture:
    """Open ``target`` with OpenCV's and FFmpeg's own log lines silenced: a source that cannot be opened gets the
    caller's one-line error, not their warnings about backends, device indices and containers above it (FFmpeg's
    come back with ``OPENCV_FFMPEG_LOGLEVEL=24`` in the environment, e.g. to see why a stream stalls)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when OpenCV first loads FFmpeg
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # LOG_LEVEL_SILENT
    try:
        if isinstance(target, int):
            return cv2.VideoCapture(target)
        return cv2.VideoCapture(str(target), cv2.CAP_FFMPEG, params)
    finally:
        cv2.setLogLevel(level)


class CameraSource(FrameSource):
    kind = "camera"

    def __init__(self, index: int, open_timeout_s: float = 10.0) -> None:
        super().__init__(f"camera {index}")
        self.cap = _capture(index, open_timeout_s, open_timeout_s)
        if not self.cap.isOpened():
            raise SourceError(f"camera {index} cannot be opened (no such device, or in use); check --source or plug a camera in")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or None
        self.misses = 0

    def read(self) -> Optional[Frame]:
        while not self._stop.is_set():
            ok, image = self.cap.read()
            if ok and image is not None:
                self.misses = 0
                return self._frame(image)
            self.misses += 1
            if self.misses > MAX_BAD_FRAMES:
                raise SourceError(f"{self.name} stopped delivering frames (unplugged?); restart with a working camera")
            time.sleep(0.01)
        return None

    def close(self) -> None:
        super().close()
        self.cap.release()


class VideoFileSource(FrameSource):
    kind = "file"

    def __init__(self, path: Path, realtime: bool = True, open_timeout_s: float = 10.0, loop: bool = False) -> None:
        super().__init__(str(path))
        self.loop = loop
        if not path.is_file():
            raise SourceError(f"video file {path} does not exist; check --source")
        self.cap = _capture(path, open_timeout_s, open_timeout_s)
        if not self.cap.isOpened():
            raise SourceError(f"{path} is not a readable video (OpenCV/FFmpeg cannot open it); convert it to MP4/H.264 or check the file")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.live = realtime
        self._decoded = 0

    def read(self) -> Optional[Frame]:
        bad = 0
        while not self._stop.is_set():
            ok, image = self.cap.read()
            if ok and image is not None:
                break
            position = self._failed_position(bad)
            if self.frames and position >= self.frames - 1 or bad >= MAX_BAD_FRAMES:
                if self.index == 0:
                    raise SourceError(f"{self.name}: no frame decodes; check that it is a video file")
                if self.loop:  # play it again (kiosks, soak tests): indices and timestamps go on
                    self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    bad = 0
                    continue
                return None
            bad += 1
            self._skip(f"frame {position}")
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, position + 1)
        else:
            return None
        position_s = self._decoded / self.fps
        self._decoded += 1 + bad
        if self.live and not self._pace(position_s):  # play at the file's own rate
            return None
        return self._frame(image, position_s)

    def _failed_position(self, bad: int) -> int:
        """The index of the frame that just failed to decode: OpenCV's, unless it lies outside what the file can hold
        (a file cut short before its index reports garbage, and seeking there starts the file over), then our own
        count of the frames read and skipped so far."""
        ours = self._decoded + bad
        reported = int(self.cap.get(cv2.CAP_PROP_POS_FRAMES))
        return reported if 0 <= reported <= max(self.frames, ours + 1) else ours

    def close(self) -> None:
        super().close()
        self.cap.release()


class ImageFolderSource(FrameSource):
    kind = "folder"

    def __init__(self, folder: Path, realtime: bool = False, fps: float = 30.0) -> None:
        super().__init__(str(folder))
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); check --source")
        self.fps, self.live, self._next = fps, realtime, 0

    def read(self) -> Optional[Frame]:
        while self._next < len(self.files) and not self._stop.is_set():
            path = self.files[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self._skip(path.name)
                continue
            position_s = (self._next - 1) / self.fps
            if self.live and not self._pace(position_s):
                return None
            return self._frame(image, position_s)
        return None


class StreamSource(FrameSource):
    """An RTSP/HTTP stream that reconnects with back-off when it drops."""

    kind = "stream"

    def __init__(self, url: str, open_timeout_s: float = 10.0, reconnect_min_s: float = 0.5, reconnect_max_s: float = 10.0) -> None:
        super().__init__(url)
        self.url, self.open_timeout_s = url, open_timeout_s
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.cap = self._open()
        if self.cap is None:
            raise SourceError(f"stream {url} did not answer within {open_timeout_s:g} s; check the URL and that the server is up")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or None

    def _open(self) -> Optional[cv2.VideoCapture]:
        cap = _capture(self.url, self.open_timeout_s, self.open_timeout_s)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def read(self) -> Optional[Frame]:
        wait = self.reconnect_min_s
        while not self._stop.is_set():
            if self.cap is not None:
                ok, image = self.cap.read()
                if ok and image is not None:
                    return self._frame(image)
                logger.warning("%s: the stream dropped; reconnecting", self.url)
                self.cap.release()
                self.cap = None
            if self._stop.wait(wait):
                break
            self.cap = self._open()
            if self.cap is not None:
                self.reconnects += 1
                logger.info("%s: reconnected (%d)", self.url, self.reconnects)
                wait = self.reconnect_min_s
            else:
                wait = min(wait * 2, self.reconnect_max_s)
        return None

    def close(self) -> None:
        super().close()
        if self.cap is not None:
            self.cap.release()


def open_source(spec: str, realtime: bool = True, open_timeout_s: float = 10.0, reconnect_min_s: float = 0.5,
                reconnect_max_s: float = 10.0, loop: bool = False) -> FrameSource:
    """The :class:`FrameSource` for ``spec`` (see the module docstring); :class:`SourceError` when it cannot open.
    ``loop``: video files start again at their end."""
    spec = str(spec).strip()
    if spec == "demo":
        if not DEMO_CLIP.is_file():
            raise SourceError(f"the demo clip {DEMO_CLIP} is missing from this installation; reinstall or pass --source FILE")
        return VideoFileSource(DEMO_CLIP, realtime, open_timeout_s, loop)
    if spec.isdigit():
        return CameraSource(int(spec), open_timeout_s)
    if spec.lower().startswith(NETWORK_PREFIXES):
        return StreamSource(spec, open_timeout_s, reconnect_min_s, reconnect_max_s)
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, realtime)
    return VideoFileSource(path, realtime, open_timeout_s, loop)
