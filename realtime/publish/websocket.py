"""Bodies streamed as JSON over WebSocket: :class:`WebSocketPublisher` is a pipeline sink and a server.

Every client gets, on connecting, one ``hello`` message (joint names, parents, conventions), then one
``frame`` message per frame::

    {"type": "frame", "frame": 12, "t_capture": 0.4, "t_output": 0.47,
     "people": [{"id": 0, "pose_aa": [72], "pose_quat": [96], "betas": [10], "cam": [3],
                 "transl": [3] | null, "joints3d": [[x, y, z] × 49]}]}

* Times: seconds since the first frame's capture (as in the result files of ``realtime.recording``).
* ``pose_aa``: the 24 local joint rotations (each in its parent's frame, SMPL order) as axis × angle;
  ``pose_quat``: the same as unit quaternions ``(x, y, z, w)``. The root rotation, ``joints3d`` (the
  ``spin49`` joints) and ``transl`` are in the camera's axes (x right, y down, z away from the camera,
  metres): a joint is at ``joints3d + transl``. For y up, z toward the camera, multiply positions and
  the root rotation on the left by ``diag(1, -1, -1)``.
* ``transl``: from the weak-perspective ``cam (s, tx, ty)``: ``Z = 2·f / (s·side)`` for the person's
  crop side in frame pixels and ``f`` from a 60° horizontal field of view, ``X = tx + (cx − W/2)·Z/f``,
  ``Y = ty + (cy − H/2)·Z/f`` (``realtime.skeleton``); ``null`` when the frame carries no crop.

Each client has its own sender thread and a queue of ``queue_size`` messages: when a client reads too
slowly the oldest message is dropped, so the pipeline's output thread never waits on the network.
"""

from __future__ import annotations

import collections
import json
import logging
import socket
import threading
from typing import Any, Optional

import numpy as np

from ..pipeline import Packet
from ..skeleton import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    matrix_to_axis_angle,
    matrix_to_quat,
)

__all__ = ["WebSocketPublisher", "frame_message", "hello_message"]

logger = logging.getLogger(__name__)
DECIMALS = 6


def _list(x: np.ndarray) -> list:
    return np.round(np.asarray(x, np.float64), DECIMALS).tolist()


def hello_message() -> dict[str, Any]:
    """What a client gets first: the joint tree and the conventions of the ``frame`` messages."""
    return {
        "type": "hello", "version": 1, "joints": list(SMPL_JOINT_NAMES), "parents": list(SMPL_PARENTS),
        "axes": "camera: x right, y down, z away from the camera (metres); y-up world = diag(1,-1,-1) @ p",
        "pose": "local joint rotations in the parent's frame: pose_aa axis*angle (radians), pose_quat (x, y, z, w)",
        "joints3d": "spin49, relative to the body; add transl for camera coordinates",
        "time_origin": "first frame's capture (seconds)",
    }


def frame_message(packet: Packet, t0: float) -> dict[str, Any]:
    """One packet as the ``frame`` message (see the module docstring); ``t0``: the first frame's ``t_capture``."""
    f = packet.frame
    msg: dict[str, Any] = {"type": "frame", "frame": int(f.index), "t_capture": round(f.t_capture - t0, DECIMALS),
                           "t_output": round((packet.t_output or f.t_capture) - t0, DECIMALS), "people": []}
    res = packet.results
    if res is None:
        return msg
    rot = res.rotmat.reshape(-1, 24, 3, 3)
    aa, quat = matrix_to_axis_angle(rot), matrix_to_quat(rot)
    for i, tid in enumerate(res.ids):
        msg["people"].append({
            "id": tid, "pose_aa": _list(aa[i].ravel()), "pose_quat": _list(quat[i].ravel()),
            "betas": _list(res.betas[i]), "cam": _list(res.cam[i]), "transl": _list(res.placement.transl[i]),
            "joints3d": _list(res.joints3d[i]),
        })
    return msg


class _Client:
    """One connection's outbox: at most ``size`` messages, the oldest dropped first."""

    def __init__(self, size: int) -> None:
        self.box: collections.deque[str] = collections.deque(maxlen=size)
        self.cond = threading.Condition()
        self.dropped = 0
        self.conn: Any = None

    def push(self, msg: str) -> None:
        with self.cond:
            if len(self.box) == self.box.maxlen:
                self.dropped += 1
            self.box.append(msg)
            self.cond.notify()

    def pop(self, timeout: float) -> Optional[str]:
        with self.cond:
            if not self.box:
                self.cond.wait(timeout)
            return self.box.popleft() if self.box else None


class WebSocketPublisher:
    """A :class:`realtime.pipeline.Sink` serving ``ws://host:port``; ``port=0`` picks a free port (see ``.port``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, queue_size: int = 2) -> None:
        try:
            from websockets.sync.server import serve
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("ws:// publishing needs the 'websockets' package (pip install 'websockets>=13')") from e
        self.queue_size = max(1, int(queue_size))
        self._clients: set[_Client] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._t0: Optional[float] = None
        self.sent_frames = 0
        self._server = serve(self._handle, host, port, compression=None, close_timeout=0.5, max_queue=4)
        self.host, self.port = host, int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"ws-publish:{self.port}", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Messages dropped so far for the clients connected now (they read too slowly)."""
        with self._lock:
            return sum(c.dropped for c in self._clients)

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def _handle(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        client = _Client(self.queue_size)
        client.conn = conn
        try:
            peer = conn.remote_address
        except OSError:
            peer = "?"
        try:
            conn.send(json.dumps(hello_message()))
            with self._lock:
                self._clients.add(client)
            while not self._closing.is_set():
                msg = client.pop(0.2)
                if msg is not None:
                    conn.send(msg)
        except (ConnectionClosed, OSError) as e:
            logger.debug("ws client %s gone: %s", peer, e)
        finally:
            with self._lock:
                self._clients.discard(client)

    def write(self, packet: Packet) -> None:
        if self._t0 is None:
            self._t0 = packet.frame.t_capture
        with self._lock:
            clients = list(self._clients)
        if not clients:
            return
        msg = json.dumps(frame_message(packet, self._t0))
        for c in clients:
            c.push(msg)
        self.sent_frames += 1

    def close(self) -> None:
        """Stop serving; connections get a close frame, stuck ones are cut off (within about a second)."""
        if self._closing.is_set():
            return
        self._closing.set()
        stopper = threading.Thread(target=self._server.shutdown, name="ws-publish-close", daemon=True)
        stopper.start()
        stopper.join(0.5)
        if stopper.is_alive():  # a client that stopped reading holds its sender in sendall(): cut it off
            with self._lock:
                stuck = [c.conn for c in self._clients]
            for conn in stuck:
                try:
                    conn.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            stopper.join(0.4)
        self._thread.join(0.1)
        if stopper.is_alive():
            logger.warning("ws publisher: %d connection(s) still closing", self.clients)
