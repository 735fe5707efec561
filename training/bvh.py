"""The project's one BVH reader, and forward kinematics (numpy + scipy, no torch: the live app's exporters use it).

BVH is a text format: a ``HIERARCHY`` of joints (name, ``OFFSET`` from the parent, ``CHANNELS``),
then ``MOTION`` with ``Frames:``, ``Frame Time:`` and one line of channel values per frame. Rotation
channels are Euler angles in degrees applied in the listed order as intrinsic rotations, so
``Zrotation Yrotation Xrotation`` gives the local rotation ``Rz · Ry · Rx`` (column vectors, in the
parent's frame). ``End Site`` blocks are kept as the end point of their joint.

    skel, motion = read_bvh("02_03.bvh")
    rot, pos = forward_kinematics(skel, motion)   # (F, J, 3, 3) global rotations, (F, J, 3) positions
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["BvhSkeleton", "BvhMotion", "parse_bvh", "read_bvh", "local_transforms", "forward_kinematics"]


@dataclass
class BvhSkeleton:
    """Joints in file order (each parent before its children)."""

    names: list[str]
    parents: list[int]  # -1 for the root
    offsets: np.ndarray  # (J, 3) from the parent joint, in the parent's frame
    channels: list[list[str]]  # per joint, e.g. ["Zrotation", "Yrotation", "Xrotation"]
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint → (3,) End Site offset

    def index(self, name: str) -> int:
        return self.names.index(name)


@dataclass
class BvhMotion:
    values: np.ndarray  # (F, C) channel values, C = total number of channels
    frame_time: float  # seconds per frame

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time


def parse_bvh(text: str) -> tuple[BvhSkeleton, BvhMotion]:
    """Parse BVH text → (skeleton, motion); a ``ValueError`` names what is malformed."""
    head, sep, motion_text = text.partition("MOTION")
    if not sep or "HIERARCHY" not in head:
        raise ValueError("not a BVH file: HIERARCHY and MOTION sections expected")
    tokens = head.split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []  # joint indices of the open blocks (-2 = an End Site block)
    pending_parent = -1
    i = tokens.index("HIERARCHY") + 1
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
            pending_parent = len(names) - 1
            i += 2
        elif tok == "End":  # "End Site"
            pending_parent = -2
            i += 2
        elif tok == "{":
            stack.append(pending_parent)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            off = [float(v) for v in tokens[i + 1 : i + 4]]
            if stack[-1] == -2:
                end_sites[stack[-2]] = np.asarray(off)
            else:
                offsets[stack[-1]] = off
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels[stack[-1]] = tokens[i + 2 : i + 2 + n]
            i += 2 + n
        else:
            raise ValueError(f"unexpected BVH token {tok!r}")
    lines = [ln for ln in motion_text.strip().splitlines() if ln.strip()]
    n_frames = int(lines[0].split(":")[1])
    frame_time = float(lines[1].split(":")[1])
    values = np.array([[float(v) for v in ln.split()] for ln in lines[2:]], np.float64)
    n_ch = sum(len(c) for c in channels)
    if values.shape != (n_frames, n_ch):
        raise ValueError(f"BVH motion has shape {values.shape}; header says {n_frames} frames × {n_ch} channels")
    skel = BvhSkeleton(names, parents, np.asarray(offsets, np.float64), channels, end_sites)
    return skel, BvhMotion(values, frame_time)


def read_bvh(path: str | Path) -> tuple[BvhSkeleton, BvhMotion]:
    """Read a BVH file → (skeleton, motion)."""
    return parse_bvh(Path(path).read_text())


def local_transforms(skel: BvhSkeleton, motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Each joint's rotation (F, J, 3, 3) and position (F, J, 3) in its parent's frame: the channels applied
    to the offsets (a position channel adds to the offset)."""
    f, j = len(motion.values), len(skel.names)
    rot = np.zeros((f, j, 3, 3))
    pos = np.zeros((f, j, 3))
    col = 0
    for k in range(j):
        chans = skel.channels[k]
        vals = motion.values[:, col : col + len(chans)]
        col += len(chans)
        pos[:, k] = skel.offsets[k]
        axes, angles = "", []
        for c, name in enumerate(chans):
            kind = name[1:].lower()
            if kind == "position":
                pos[:, k, "XYZ".index(name[0].upper())] += vals[:, c]
            elif kind == "rotation":
                axes += name[0].upper()
                angles.append(vals[:, c])
            else:
                raise ValueError(f"unknown BVH channel {name!r}")
        rot[:, k] = (Rotation.from_euler(axes, np.stack(angles, -1), degrees=True).as_matrix() if axes
                     else np.broadcast_to(np.eye(3), (f, 3, 3)))
    return rot, pos


def forward_kinematics(skel: BvhSkeleton, motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Global joint rotations (F, J, 3, 3) and positions (F, J, 3) in the file's units and axes."""
    local_rot, local_pos = local_transforms(skel, motion)
    rot = np.zeros_like(local_rot)
    pos = np.zeros_like(local_pos)
    for k, p in enumerate(skel.parents):
        if p < 0:
            rot[:, k], pos[:, k] = local_rot[:, k], local_pos[:, k]
        else:
            rot[:, k] = rot[:, p] @ local_rot[:, k]
            pos[:, k] = pos[:, p] + np.einsum("fij,fj->fi", rot[:, p], local_pos[:, k])
    return rot, pos
