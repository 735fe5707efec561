"""Headless outputs of the live pipeline: per-track result files, a JSON-lines index, an annotated MP4.

``ResultWriter(out_dir)`` writes, for each track, ``track_<id>.bin``: fixed-size float32 records, one
per frame the track was seen, laid out as ``layout.json`` says (``frame``, ``t_capture``, ``t_output`` —
seconds since the first frame's capture —
then ``theta``, ``betas``, ``cam``, ``joints3d``, ``joints2d``, where the person stands — ``transl`` in the frame
camera, the crop ``square``, ``joints2d_px`` —, given the body's Human3.6M regressor ``joints3d_h36m17`` (the mesh's
17 Human3.6M joints, the points SPIN and VIBE score Human3.6M, MPI-INF-3DHP and 3DPW on; :func:`h36m_regressor`) and,
with ``vertices=True``, ``vertices``).
``index.jsonl`` gets one line per frame: its index, timestamps, the tracks in it and their boxes
(``x0, y0, x1, y1`` frame pixels, the tracker's smoothed box). Both files are
appended and flushed every frame, so a run killed mid-way leaves every frame written so far readable;
:func:`read_track` skips a torn last record. A new ``dtsvibe-live`` run first moves a previous run's files out of the
way (:func:`set_aside_previous_run`: ``previous/<time stamp>/``).

``VideoRecorder(path, fps)`` writes the input frames with each track's box, id and 2D joints drawn.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from training.paths import OutputPathError, check_writable  # one check for the live app and every tool

from .pipeline import Packet
from .view.palette import bgr255

__all__ = ["H36M_KEY", "PLACEMENT_KEYS", "RESULT_KEYS", "h36m_regressor", "OutputPathError", "ResultWriter", "VideoRecorder", "check_writable", "read_track",
           "set_aside_previous_run"]

RESULT_KEYS = ("theta", "betas", "cam", "joints3d", "joints2d")
#: Where the person stands (``realtime.placement``), after the model's outputs: the translation in the frame
#: camera (metres), the crop square (cx, cy, side; frame pixels) and the 2D joints in frame pixels.
PLACEMENT_KEYS = ("transl", "square", "joints2d_px")
HEADER = ("frame", "t_capture", "t_output")
#: The mesh's Human3.6M joints (17, 3), metres, before translation like ``joints3d`` (``training.baselines.JOINT_DEFINITIONS``).
H36M_KEY = "joints3d_h36m17"


def h36m_regressor(body_model: dict) -> Optional[np.ndarray]:
    """``(17, V)``: the Human3.6M joints of the body a bundle was built with (its manifest's ``body_model``) as a
    linear map of its mesh — the rows ``BodyModel.landmark_set_regressor("h36m17")`` holds, read with numpy (the
    live app runs without torch); None when that body has none (official SMPL without ``J_regressor_h36m.npy``)."""
    from training.body.joint_sets import joint_set
    from training.body.model_file import OPEN_BODY_PATH, BodyModelFileError, load_open_body, load_smpl

    try:
        if body_model.get("kind", "open") == "open":
            data = load_open_body(body_model.get("path") or OPEN_BODY_PATH)
        else:
            data = load_smpl(body_model["path"], body_model.get("gender", "neutral"))
    except (BodyModelFileError, OSError, KeyError, TypeError):
        return None
    rows = {name: i for i, name in enumerate(data.landmark_names)}
    names = joint_set("h36m17")
    if data.landmark_regressor is None or any(n not in rows for n in names):
        return None
    return np.asarray(data.landmark_regressor, np.float32)[[rows[n] for n in names]]


#: What one run writes into its ``--out`` folder (``record.mp4``: ``--record`` without a path).
RUN_FILES = ("index.jsonl", "layout.json", "track_*.bin", "record.mp4")


def set_aside_previous_run(out_dir: str | Path) -> Optional[Path]:
    """Before a new run writes into ``out_dir``: move a previous run's files (:data:`RUN_FILES`) into
    ``out_dir/previous/<time stamp>/`` and return that folder (None when there were none). The files are appended to
    while a run lasts (a kiosk's restarts continue one run); two runs' records must not mix — a reader could not tell
    them apart, and a different layout would make the earlier records unreadable — nor may a new run delete them."""
    folder = Path(out_dir)
    found = sorted({p for pattern in RUN_FILES for p in folder.glob(pattern) if p.is_file()})
    if not found:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(max(p.stat().st_mtime for p in found)))
    target = folder / "previous" / stamp
    n = 1
    while target.exists():
        n += 1
        target = folder / "previous" / f"{stamp}-{n}"
    target.mkdir(parents=True)
    for p in found:
        p.rename(target / p.name)
    return target


class ResultWriter:
    def __init__(self, out_dir: str | Path, vertices: bool = False, h36m: Optional[np.ndarray] = None) -> None:
        """``h36m``: the body's ``(17, V)`` Human3.6M regressor (:func:`h36m_regressor`): each record then holds
        ``joints3d_h36m17``."""
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.h36m = h36m
        self.keys = RESULT_KEYS + PLACEMENT_KEYS + ((H36M_KEY,) if h36m is not None else ()) + (("vertices",) if vertices else ())
        self.layout: Optional[dict] = None
        self.files: dict[int, object] = {}
        self.index = open(self.dir / "index.jsonl", "a", buffering=1)
        self.frames = 0
        self.t0: Optional[float] = None

    def _write_layout(self, results: dict[str, np.ndarray]) -> None:
        """``results``: every key of ``self.keys`` with its batch axis first."""
        fields, offset = [], 0
        for name in HEADER:
            fields.append({"name": name, "shape": [], "offset": offset})
            offset += 1
        for key in self.keys:
            shape = list(results[key].shape[1:])
            fields.append({"name": key, "shape": shape, "offset": offset})
            offset += int(np.prod(shape))
        self.layout = {"dtype": "float32", "record_floats": offset, "fields": fields, "time_origin": "first frame's capture"}
        (self.dir / "layout.json").write_text(json.dumps(self.layout, indent=1))

    def write(self, packet: Packet) -> None:
        f = packet.frame
        if self.t0 is None:
            self.t0 = f.t_capture
        t_cap = f.t_capture - self.t0
        t_out = (packet.t_output or f.t_capture) - self.t0
        tracks = []
        if packet.results is not None:
            values = packet.results.arrays()
            if self.h36m is not None:
                values[H36M_KEY] = np.einsum("kv,bvc->bkc", self.h36m, values["vertices"].astype(np.float32))
            if self.layout is None:
                self._write_layout(values)
            for i, tid in enumerate(packet.results.ids):
                head = np.array([f.index, t_cap, t_out], np.float32)
                body = [values[k][i].astype(np.float32).ravel() for k in self.keys]
                record = np.concatenate([head, *body])
                fh = self.files.get(tid)
                if fh is None:
                    fh = self.files[tid] = open(self.dir / f"track_{tid}.bin", "ab")
                fh.write(record.tobytes())
                fh.flush()
                tracks.append(int(tid))
        boxes = [[round(float(v), 1) for v in p.track.box] for p in packet.people if p.id in tracks]
        line = {"frame": f.index, "t_capture": round(t_cap, 4), "t_output": round(t_out, 4), "tracks": tracks, "boxes": boxes}
        if f.position_s is not None:
            line["position_s"] = round(f.position_s, 4)
        self.index.write(json.dumps(line) + "\n")
        self.frames += 1

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.index.close()


def read_track(out_dir: str | Path, track_id: int) -> dict[str, np.ndarray]:
    """A track's records as arrays ``{field: (N, …)}`` (a torn last record is ignored)."""
    out_dir = Path(out_dir)
    layout = json.loads((out_dir / "layout.json").read_text())
    n = layout["record_floats"]
    raw = np.fromfile(out_dir / f"track_{track_id}.bin", np.float32)
    raw = raw[: len(raw) // n * n].reshape(-1, n)
    return {f["name"]: raw[:, f["offset"] : f["offset"] + max(1, int(np.prod(f["shape"])))].reshape(-1, *f["shape"])
            for f in layout["fields"]}


class VideoRecorder:
    """The input frames with tracks drawn (box, id, 2D joints), as an MP4 (OpenCV's ``mp4v``)."""


    def __init__(self, path: str | Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps or 30.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer: Optional[cv2.VideoWriter] = None

    def write(self, packet: Packet) -> None:
        img = packet.frame.image.copy()
        if self.writer is None:
            h, w = img.shape[:2]
            self.size = (w, h)
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        rows = {tid: i for i, tid in enumerate(packet.results.ids)} if packet.results is not None else {}
        for person in packet.people:
            colour = bgr255(person.id)  # the same colour per id as the views
            x0, y0, x1, y1 = (int(v) for v in person.track.box)
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, 2)
            cv2.putText(img, f"#{person.id}", (x0, max(15, y0 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
            if person.id in rows:
                for x, y in packet.results.placement.joints2d_px[rows[person.id]][:25]:
                    cv2.circle(img, (int(x), int(y)), 3, colour, -1)
        if (img.shape[1], img.shape[0]) != self.size:  # the source changed resolution: keep the file's size
            img = cv2.resize(img, self.size)
        self.writer.write(img)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
