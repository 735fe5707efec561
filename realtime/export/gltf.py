"""glTF 2.0 binary (``.glb``) export of a track: a 24-joint skeleton, its animation and (optionally) the
skinned body mesh — written with numpy, struct and json only; :func:`read_glb` / :func:`read_accessor`
read such files back and :func:`validate_glb` checks their structure.

Scene: nodes 0–23 are the SMPL joints (names as ``realtime.skeleton.SMPL_JOINT_NAMES``, translation =
rest offset from the parent for the body with the track's β, the root at its rest position), node 24 the
mesh (shaped rest vertices, the body's faces, its 4 strongest skinning weights per vertex) bound to the
skin of the 24 joints (inverse bind matrices = the inverse rest joint translations; rest rotations are
identity). Animation ``track_<id>``: one rotation channel per joint (unit quaternions ``x, y, z, w``,
local, consecutive samples on the same hemisphere) and the pelvis translation (the track's root
positions), LINEAR, keyed at the track's frame times in seconds. glTF's axes: y up, metres, right-handed;
the rest body faces +z (glTF's "front"), as in ``realtime.skeleton``'s world.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..skeleton import DEFAULT_FOV_DEG, SMPL_JOINT_NAMES, load_rest_body, matrix_to_quat
from .motion import TrackMotion, load_track_motion

__all__ = ["export_glb", "read_accessor", "read_glb", "validate_glb", "write_glb"]

GLB_MAGIC, JSON_CHUNK, BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942
FLOAT, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
DTYPES = {FLOAT: np.float32, UNSIGNED_SHORT: np.uint16, UNSIGNED_INT: np.uint32, 5121: np.uint8, 5125: np.uint32}
NUM_JOINTS = 24


class _Builder:
    """Packs arrays into one binary buffer, one bufferView and accessor each."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(self, data: np.ndarray, kind: str, ctype: int, target: Optional[int] = None, bounds: bool = False) -> int:
        arr = np.ascontiguousarray(data, DTYPES[ctype]).reshape(len(data), -1)
        while len(self.blob) % 4:
            self.blob.append(0)
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": arr.nbytes}
        if target is not None:
            view["target"] = target
        self.blob += arr.tobytes()
        self.views.append(view)
        acc: dict[str, Any] = {"bufferView": len(self.views) - 1, "componentType": ctype, "count": len(arr), "type": kind}
        if bounds:
            cast = float if ctype == FLOAT else int
            acc["min"] = [cast(v) for v in arr.min(0)]
            acc["max"] = [cast(v) for v in arr.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _continuous(q: np.ndarray) -> np.ndarray:
    """``(N, J, 4)`` quaternions with each sample on the hemisphere of the previous one (clean LINEAR slerp)."""
    q = q.copy()
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t, flip] *= -1
    return q


def write_glb(motion: TrackMotion, path: str | Path, mesh: bool = True, body_path: Optional[str] = None) -> Path:
    """Write ``motion`` as a ``.glb`` (see the module docstring); ``mesh=False`` leaves the body mesh out."""
    b = _Builder()
    offsets = motion.offsets
    kids: dict[int, list[int]] = {j: [] for j in range(NUM_JOINTS)}
    for j, p in enumerate(motion.parents):
        if p >= 0:
            kids[p].append(j)
    nodes: list[dict[str, Any]] = []
    for j in range(NUM_JOINTS):
        node: dict[str, Any] = {"name": SMPL_JOINT_NAMES[j], "translation": [float(v) for v in offsets[j]]}
        if kids[j]:
            node["children"] = kids[j]
        nodes.append(node)

    times = b.add(motion.times.astype(np.float32)[:, None], "SCALAR", FLOAT, bounds=True)
    quats = _continuous(matrix_to_quat(motion.rotations))  # (N, 24, 4)
    samplers, channels = [], []
    for j in range(NUM_JOINTS):
        out = b.add(quats[:, j], "VEC4", FLOAT)
        samplers.append({"input": times, "output": out, "interpolation": "LINEAR"})
        channels.append({"sampler": j, "target": {"node": j, "path": "rotation"}})
    out = b.add(motion.root_positions, "VEC3", FLOAT)
    samplers.append({"input": times, "output": out, "interpolation": "LINEAR"})
    channels.append({"sampler": NUM_JOINTS, "target": {"node": 0, "path": "translation"}})

    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "dtsvibe-live realtime.export.gltf"},
        "scene": 0, "scenes": [{"name": f"track_{motion.track_id}", "nodes": [0]}], "nodes": nodes,
        "animations": [{"name": f"track_{motion.track_id}", "samplers": samplers, "channels": channels}],
    }
    if mesh:
        body = load_rest_body(body_path)
        verts = body.vertices(motion.betas)
        top = np.argsort(-body.weights, axis=1)[:, :4]
        w = np.take_along_axis(body.weights, top, 1).astype(np.float64)
        w = np.where(w > 0, w, 0.0)
        w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
        top = np.where(w > 0, top, 0)
        ibm = np.tile(np.eye(4), (NUM_JOINTS, 1, 1))
        ibm[:, :3, 3] = -motion.rest_joints
        attrs = {
            "POSITION": b.add(verts, "VEC3", FLOAT, ARRAY_BUFFER, bounds=True),
            "JOINTS_0": b.add(top, "VEC4", UNSIGNED_SHORT, ARRAY_BUFFER),
            "WEIGHTS_0": b.add(w, "VEC4", FLOAT, ARRAY_BUFFER),
        }
        indices = b.add(body.faces.reshape(-1, 1), "SCALAR", UNSIGNED_INT, ELEMENT_ARRAY_BUFFER, bounds=True)
        inverse_bind = b.add(ibm.transpose(0, 2, 1).reshape(NUM_JOINTS, 16), "MAT4", FLOAT)  # column-major
        gltf["meshes"] = [{"name": "body", "primitives": [{"attributes": attrs, "indices": indices, "mode": 4}]}]
        gltf["skins"] = [{"name": "smpl24", "joints": list(range(NUM_JOINTS)), "skeleton": 0, "inverseBindMatrices": inverse_bind}]
        nodes.append({"name": "body", "mesh": 0, "skin": 0})
        gltf["scenes"][0]["nodes"].append(NUM_JOINTS)
    gltf["accessors"], gltf["bufferViews"] = b.accessors, b.views
    gltf["buffers"] = [{"byteLength": len(b.blob)}]

    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    bin_ = bytes(b.blob) + b"\0" * (-len(b.blob) % 4)
    total = 12 + 8 + len(js) + 8 + len(bin_)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<III", GLB_MAGIC, 2, total))
        fh.write(struct.pack("<II", len(js), JSON_CHUNK) + js)
        fh.write(struct.pack("<II", len(bin_), BIN_CHUNK) + bin_)
    return path


def export_glb(results_dir: str | Path, track_id: int, path: str | Path, fps: Optional[float] = None, mesh: bool = True,
               frame_size: Optional[tuple[int, int]] = None, body_path: Optional[str] = None,
               fov_deg: float = DEFAULT_FOV_DEG) -> Path:
    """Track ``track_id`` of a results folder → ``.glb`` (see the module docstring)."""
    motion = load_track_motion(results_dir, track_id, fps=fps, frame_size=frame_size, body_path=body_path, fov_deg=fov_deg)
    return write_glb(motion, path, mesh=mesh, body_path=body_path)


def read_glb(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """A ``.glb`` file → ``(gltf JSON, binary chunk)``; raises ``ValueError`` on a malformed container."""
    data = Path(path).read_bytes()
    if len(data) < 20:
        raise ValueError(f"{path}: too short for a GLB file")
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC or version != 2 or length != len(data):
        raise ValueError(f"{path}: not a glTF 2.0 binary (magic {magic:#x}, version {version}, length {length} vs {len(data)})")
    gltf, blob, pos = None, b"", 12
    while pos < length:
        size, kind = struct.unpack_from("<II", data, pos)
        chunk = data[pos + 8 : pos + 8 + size]
        if size % 4 or len(chunk) != size:
            raise ValueError(f"{path}: chunk at {pos} of {size} bytes is misaligned or truncated")
        if kind == JSON_CHUNK:
            gltf = json.loads(chunk)
        elif kind == BIN_CHUNK:
            blob = chunk
        pos += 8 + size
    if gltf is None:
        raise ValueError(f"{path}: no JSON chunk")
    return gltf, blob


def read_accessor(gltf: dict[str, Any], blob: bytes, index: int) -> np.ndarray:
    """Accessor ``index`` as an array ``(count, components)`` (tightly packed views only, as written here)."""
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(DTYPES[acc["componentType"]])
    n = COMPONENTS[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    return np.frombuffer(blob, dtype, acc["count"] * n, start).reshape(acc["count"], n)


def validate_glb(path: str | Path) -> list[str]:
    """Structural problems of a ``.glb`` written here (empty list: none): views inside the buffer and aligned,
    accessor sizes, min/max equal to the data, animation inputs increasing, skin and node references."""
    gltf, blob = read_glb(path)
    problems = []
    if gltf.get("buffers", [{}])[0].get("byteLength", -1) > len(blob):
        problems.append("buffer 0 is longer than the BIN chunk")
    for i, v in enumerate(gltf.get("bufferViews", [])):
        if v.get("byteOffset", 0) % 4 or v.get("byteOffset", 0) + v["byteLength"] > len(blob):
            problems.append(f"bufferView {i} misaligned or outside the buffer")
    for i, acc in enumerate(gltf.get("accessors", [])):
        view = gltf["bufferViews"][acc["bufferView"]]
        need = acc["count"] * COMPONENTS[acc["type"]] * np.dtype(DTYPES[acc["componentType"]]).itemsize
        if need > view["byteLength"]:
            problems.append(f"accessor {i}: {acc['count']} elements do not fit its bufferView")
            continue
        data = read_accessor(gltf, blob, i)
        for key, fn in (("min", np.min), ("max", np.max)):
            if key in acc and not np.allclose(acc[key], fn(data, 0), rtol=0, atol=1e-6):
                problems.append(f"accessor {i}: {key} {acc[key]} differs from the data")
    n_nodes = len(gltf.get("nodes", []))
    for anim in gltf.get("animations", []):
        for s in anim["samplers"]:
            t = read_accessor(gltf, blob, s["input"])[:, 0]
            if "min" not in gltf["accessors"][s["input"]] or np.any(np.diff(t) <= 0):
                problems.append(f"animation {anim.get('name')}: sampler input without min/max or not increasing")
            if gltf["accessors"][s["output"]]["count"] != len(t):
                problems.append(f"animation {anim.get('name')}: sampler output count differs from its input")
        for c in anim["channels"]:
            if not 0 <= c["target"]["node"] < n_nodes:
                problems.append(f"animation {anim.get('name')}: channel targets a missing node")
    for skin in gltf.get("skins", []):
        if any(not 0 <= j < n_nodes for j in skin["joints"]):
            problems.append("skin joints reference missing nodes")
        if gltf["accessors"][skin["inverseBindMatrices"]]["count"] != len(skin["joints"]):
            problems.append("skin: inverse bind matrix count differs from its joints")
    return problems
