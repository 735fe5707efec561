"""One track of a results folder (``realtime.recording``) as skeletal motion: times, local joint rotations,
root positions and the rest skeleton of the body with the track's β — what the BVH and glTF writers need.

Conventions (``realtime.skeleton``): the y-up world (x = the body's left in the rest pose, y up, z toward
the camera), metres. The root rotation is the network's, turned from camera axes into that world; the
other joints' rotations are local (in the parent's frame). Root positions: the pelvis goes where the live
app placed the person (``CAMERA_TO_WORLD · (J_pelvis + T)``, ``T`` the track file's ``transl``:
``realtime.placement``, the frame camera). Results written before the track files carried ``transl``: with
the frame size known (argument, or the recorded ``*.mp4`` in the folder) ``T`` is rebuilt from the boxes
with the default crop scale; without it the body stays in place with the pelvis at its rest position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..recording import read_track
from ..skeleton import CAMERA_TO_WORLD, DEFAULT_FOV_DEG, SMPL_PARENTS, camera_translations, load_rest_body, theta_rotations

__all__ = ["TrackMotion", "list_tracks", "load_track_motion"]

DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class TrackMotion:
    """``N`` frames of one track. ``frames (N,)`` frame indices, ``times (N,)`` seconds from the first,
    ``rotations (N, 24, 3, 3)`` local (root in the world), ``root_positions (N, 3)`` pelvis in the world,
    ``rest_joints (24, 3)`` world rest joints of the body with ``betas``; ``fps`` the frame rate;
    ``located``: whether root positions come from the camera (else: in place)."""

    track_id: int
    frames: np.ndarray
    times: np.ndarray
    fps: float
    rotations: np.ndarray
    root_positions: np.ndarray
    betas: np.ndarray
    rest_joints: np.ndarray
    parents: tuple[int, ...]
    located: bool

    @property
    def offsets(self) -> np.ndarray:
        """``(24, 3)`` each joint's rest offset from its parent (the root's: its rest position)."""
        out = self.rest_joints.copy()
        for j, p in enumerate(self.parents):
            if p >= 0:
                out[j] = self.rest_joints[j] - self.rest_joints[p]
        return out

    def uniform(self) -> "TrackMotion":
        """One sample per frame index from the first to the last; frames the track missed hold the previous pose."""
        full = np.arange(int(self.frames[0]), int(self.frames[-1]) + 1)
        src = np.searchsorted(self.frames, full, side="right") - 1
        return replace(self, frames=full, times=(full - full[0]) / self.fps, rotations=self.rotations[src],
                       root_positions=self.root_positions[src])


def list_tracks(results_dir: str | Path) -> list[int]:
    """The track ids with a ``track_<id>.bin`` in the folder, sorted."""
    ids = []
    for p in Path(results_dir).glob("track_*.bin"):
        try:
            ids.append(int(p.stem.split("_", 1)[1]))
        except ValueError:
            continue
    return sorted(ids)


def _frame_size_from_video(folder: Path) -> Optional[tuple[int, int]]:
    for video in sorted(folder.glob("*.mp4")):
        try:
            import cv2

            cap = cv2.VideoCapture(str(video))
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            cap.release()
        except Exception:  # noqa: BLE001 - a broken video only means no frame size
            continue
        if w > 0 and h > 0:
            return w, h
    return None


def _track_boxes(folder: Path, track_id: int) -> dict[int, list[float]]:
    """Frame index → the track's box from ``index.jsonl`` (empty when the file is missing)."""
    boxes: dict[int, list[float]] = {}
    path = folder / "index.jsonl"
    if not path.is_file():
        return boxes
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line
        if track_id in rec.get("tracks", []):
            boxes[int(rec["frame"])] = rec["boxes"][rec["tracks"].index(track_id)]
    return boxes


def _timing(frames: np.ndarray, t: np.ndarray, fps: Optional[float]) -> tuple[np.ndarray, float]:
    if fps is None:
        steps = np.diff(frames)
        ok = steps > 0
        dt = float(np.median(np.diff(t)[ok] / steps[ok])) if ok.any() else 0.0
        fps = 1.0 / dt if dt > 1e-6 else DEFAULT_FPS
        times = t - t[0]
        if len(times) > 1 and np.all(np.diff(times) > 0):
            return times, fps
    return (frames - frames[0]) / fps, float(fps)


def load_track_motion(results_dir: str | Path, track_id: int, fps: Optional[float] = None,
                      frame_size: Optional[tuple[int, int]] = None, body_path: Optional[str] = None,
                      fov_deg: float = DEFAULT_FOV_DEG) -> TrackMotion:
    """Read ``track_<id>.bin`` of ``results_dir`` as :class:`TrackMotion`. ``fps``: sample times from frame
    indices at this rate (default: the capture timestamps). Raises ``FileNotFoundError`` / ``ValueError``
    with one line for a missing folder, a folder without results or an unknown track."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such results folder")
    if not (folder / "layout.json").is_file():
        raise FileNotFoundError(f"{folder}: not a results folder (no layout.json; write one with dtsvibe-live --out)")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    tracks = list_tracks(folder)
    if track_id not in tracks:
        have = ", ".join(map(str, tracks)) or "none"
        raise ValueError(f"{folder}: no track {track_id} (tracks here: {have})")
    rec = read_track(folder, track_id)
    if len(rec["frame"]) == 0 or "theta" not in rec:
        raise ValueError(f"{folder}: track {track_id} has no complete record")
    frames = np.round(rec["frame"].reshape(-1)).astype(np.int64)
    order = np.argsort(frames, kind="stable")
    frames = frames[order]
    theta = rec["theta"][order].astype(np.float64)
    betas = rec["betas"][order].astype(np.float64).mean(0) if "betas" in rec else np.zeros(0)
    times, fps = _timing(frames, rec["t_capture"].reshape(-1)[order].astype(np.float64), fps)

    body = load_rest_body(body_path)
    rest = body.joints(betas)
    rot = theta_rotations(theta)
    rot[:, 0] = CAMERA_TO_WORLD @ rot[:, 0]
    roots = np.repeat(rest[:1], len(frames), 0)
    if "transl" in rec:  # where the live app placed the person (realtime.placement), whatever its crop scale
        roots = (rest[0] + rec["transl"][order].astype(np.float64)) @ CAMERA_TO_WORLD.T
        return TrackMotion(track_id, frames, times, fps, rot, roots, betas, rest, SMPL_PARENTS, True)
    # Results written before the track files carried ``transl``: rebuild the crop squares from the boxes with
    # the default crop scale (right only if the run used it).
    size = frame_size or _frame_size_from_video(folder)
    boxes = _track_boxes(folder, track_id) if size else {}
    located = bool(size) and all(int(f) in boxes for f in frames)
    if located:
        from ..person_inputs import CROP_SCALE

        b = np.array([boxes[int(f)] for f in frames], np.float64)
        squares = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                            np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * CROP_SCALE], 1)
        cam = rec["cam"][order].astype(np.float64)
        t_cam = camera_translations(cam, squares, size, fov_deg)
        roots = (rest[0] + t_cam) @ CAMERA_TO_WORLD.T
    return TrackMotion(track_id, frames, times, fps, rot, roots, betas, rest, SMPL_PARENTS, located)
