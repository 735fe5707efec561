"""BVH (Biovision hierarchy) export of a track, and a reader to import such files back.

The file: ``HIERARCHY`` with the 24 SMPL joints named as in ``realtime.skeleton.SMPL_JOINT_NAMES``; the
root ``pelvis`` has ``OFFSET 0 0 0`` and 6 channels (``Xposition Yposition Zposition Zrotation Xrotation
Yrotation``: the pelvis position in the world each frame), every other joint its rest offset from its
parent (the body with the track's β) and 3 channels ``Zrotation Xrotation Yrotation``; leaves end in an
``End Site`` half the last bone long. ``MOTION``: one line per frame index from the track's first to last
frame (frames it missed hold the previous pose), ``Frame Time`` = 1 / fps. Rotations are local (parent's
frame), degrees, applied as ``R = Rz · Rx · Ry``. Axes: y up, the rest body facing +z; ``units="cm"``
(default, what most BVH tools assume) or ``"m"``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from scipy.spatial.transform import Rotation

from ..skeleton import DEFAULT_FOV_DEG, SMPL_JOINT_NAMES
from .motion import TrackMotion, load_track_motion

__all__ = ["BVHData", "export_bvh", "read_bvh", "write_bvh"]

UNITS = {"cm": 100.0, "m": 1.0}


def _children(parents: tuple[int, ...]) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            kids[p].append(j)
    return kids


def _euler_zxy(rot: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` → ``(..., 3)`` degrees ``(z, x, y)`` with ``R = Rz(z) Rx(x) Ry(y)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gimbal lock: still an exact decomposition, one angle set to 0
        e = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True)
    return e.reshape(*rot.shape[:-2], 3)


def write_bvh(motion: TrackMotion, path: str | Path, units: str = "cm") -> Path:
    """Write ``motion`` (see :class:`~realtime.export.motion.TrackMotion`) as BVH; returns the path."""
    if units not in UNITS:
        raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    scale = UNITS[units]
    m = motion.uniform()
    offsets = m.offsets * scale
    kids = _children(m.parents)
    order: list[int] = []
    lines = ["HIERARCHY"]

    def joint(j: int, depth: int) -> None:
        pad = "  " * depth
        order.append(j)
        if m.parents[j] < 0:
            head = [f"ROOT {SMPL_JOINT_NAMES[j]}", "{", "  OFFSET 0.000000 0.000000 0.000000",
                    "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"]
        else:
            o = offsets[j]
            head = [f"JOINT {SMPL_JOINT_NAMES[j]}", "{", f"  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}",
                    "  CHANNELS 3 Zrotation Xrotation Yrotation"]
        lines.extend(pad + h for h in head)
        for k in kids[j]:
            joint(k, depth + 1)
        if not kids[j]:
            e = 0.5 * offsets[j]
            lines.extend(pad + h for h in ["  End Site", "  {", f"    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}", "  }"])
        lines.append(pad + "}")

    joint(0, 0)
    euler = _euler_zxy(m.rotations[:, order])  # (N, 24, 3) in file order
    values = np.concatenate([m.root_positions * scale, euler.reshape(len(m.frames), -1)], 1)
    lines += ["MOTION", f"Frames: {len(m.frames)}", f"Frame Time: {1.0 / m.fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def export_bvh(results_dir: str | Path, track_id: int, path: str | Path, fps: Optional[float] = None,
               units: str = "cm", frame_size: Optional[tuple[int, int]] = None, body_path: Optional[str] = None,
               fov_deg: float = DEFAULT_FOV_DEG) -> Path:
    """Track ``track_id`` of a results folder → BVH file (see the module docstring)."""
    motion = load_track_motion(results_dir, track_id, fps=fps, frame_size=frame_size, body_path=body_path, fov_deg=fov_deg)
    return write_bvh(motion, path, units)


@dataclass
class BVHData:
    """A BVH file read back: ``names``, ``parents`` (index into names, −1 for the root), ``offsets (J, 3)``,
    ``channels`` per joint, ``frame_time``, ``rotations (N, J, 3, 3)`` local, ``root_positions (N, 3)``
    (zeros when the root has no position channels); file units."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    frame_time: float
    rotations: np.ndarray
    root_positions: np.ndarray


def read_bvh(path: str | Path) -> BVHData:
    """Read a BVH file back (any rotation channel order; position channels only on the root) through the
    project's one BVH reader (:mod:`training.bvh`)."""
    from training.bvh import local_transforms
    from training.bvh import read_bvh as read_skeleton_and_motion

    skel, motion = read_skeleton_and_motion(path)
    rotations, positions = local_transforms(skel, motion)
    return BVHData(list(skel.names), list(skel.parents), skel.offsets.copy(), [list(c) for c in skel.channels],
                   motion.frame_time, rotations, positions[:, 0] - skel.offsets[0])
