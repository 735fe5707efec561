"""Exporting a track of a results folder: the numpy skeleton against the torch body layer, BVH written and
read back, glTF binary written, validated and read back, and the command line's errors."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fake_packets import FRAME_H, FRAME_W, make_packets
from realtime.export import export_bvh, export_glb, load_track_motion, read_accessor, read_bvh, read_glb, validate_glb
from realtime.recording import ResultWriter, read_track
from realtime.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, load_rest_body, rot6d_to_matrix

C = np.diag([1.0, -1.0, -1.0])
N_FRAMES = 10
GAP = {4, 5}  # frames track 3 misses


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("results")
    packets = make_packets(N_FRAMES, ids=(0, 3), seed=7, absent={3: GAP})
    writer = ResultWriter(out)
    for p in packets:
        writer.write(p)
    writer.close()
    return out, packets


def _expected_rotations(out: Path, track: int) -> np.ndarray:
    """Local rotations from the written Θ (independent Gram–Schmidt), the root turned into the y-up world."""
    theta = read_track(out, track)["theta"].astype(np.float64)
    r = theta[:, :144].reshape(-1, 24, 2, 3)
    a = r[..., 0, :] / np.linalg.norm(r[..., 0, :], axis=-1, keepdims=True)
    b = r[..., 1, :] - (a * r[..., 1, :]).sum(-1, keepdims=True) * a
    b /= np.linalg.norm(b, axis=-1, keepdims=True)
    rot = np.stack([a, b, np.cross(a, b)], -1)
    rot[:, 0] = C @ rot[:, 0]
    return rot


def _rest_joints(out: Path, track: int) -> np.ndarray:
    betas = read_track(out, track)["betas"].astype(np.float64).mean(0)
    body = load_rest_body()
    v = body.v_template.astype(np.float64) + body.shapedirs[..., :10].astype(np.float64) @ betas
    return body.j_regressor.astype(np.float64) @ v


# -- the numpy skeleton against training's torch code -------------------------------------------------------

def test_rot6d_and_rest_joints_match_the_torch_body_layer():
    torch = pytest.importorskip("torch", reason="the reference implementations are torch code (train extra)")
    from training.body import SMPL_JOINTS, BodyModel
    from training.body.rotations import rot6d_to_matrix as torch_rot6d

    assert SMPL_JOINT_NAMES == tuple(SMPL_JOINTS)
    x = np.random.default_rng(0).normal(size=(50, 6))  # not orthonormal: Gram–Schmidt does the work
    assert np.allclose(rot6d_to_matrix(x), torch_rot6d(torch.tensor(x)).numpy(), atol=1e-12)
    betas = np.random.default_rng(1).normal(size=(1, 10))
    body = BodyModel.open(num_betas=10)
    with torch.no_grad():
        joints = body(betas=torch.tensor(betas, dtype=torch.float32)).joints[0].numpy()  # rest pose
    assert np.allclose(load_rest_body().joints(betas[0]), joints, atol=1e-5)
    assert tuple(int(p) for p in body.parents) == SMPL_PARENTS


# -- BVH ----------------------------------------------------------------------------------------------------

def test_bvh_round_trip_keeps_rotations_and_skeleton(results, tmp_path):
    out, _ = results
    path = export_bvh(out, 0, tmp_path / "t0.bvh", fps=25)
    bvh = read_bvh(path)
    assert sorted(bvh.names) == sorted(SMPL_JOINT_NAMES) and bvh.frame_time == pytest.approx(1 / 25)
    idx = [bvh.names.index(n) for n in SMPL_JOINT_NAMES]
    parents = [bvh.parents[i] for i in idx]
    assert [bvh.names[p] if p >= 0 else None for p in parents] == [SMPL_JOINT_NAMES[p] if p >= 0 else None for p in SMPL_PARENTS]
    assert bvh.channels[idx[0]][:3] == ["Xposition", "Yposition", "Zposition"] and bvh.channels[idx[1]] == ["Zrotation", "Xrotation", "Yrotation"]
    rest = _rest_joints(out, 0)
    offsets = np.array([rest[j] - (rest[p] if p >= 0 else rest[j]) for j, p in enumerate(SMPL_PARENTS)])
    assert np.allclose(bvh.offsets[idx] / 100, offsets, atol=1e-7)  # centimetres; the root's OFFSET is 0
    expected = _expected_rotations(out, 0)
    assert bvh.rotations.shape == (N_FRAMES, 24, 3, 3)
    assert np.abs(bvh.rotations[:, idx] - expected).max() < 1e-4
    transl = read_track(out, 0)["transl"].astype(np.float64)  # where the live app placed the person
    assert np.allclose(bvh.root_positions / 100, (rest[0] + transl) @ C.T, atol=1e-5)


def _without_placement(out: Path, dst: Path) -> Path:
    """A copy of a results folder as written before the track files carried the placement."""
    import json
    import shutil

    from realtime.recording import PLACEMENT_KEYS

    dst.mkdir()
    shutil.copy(out / "index.jsonl", dst / "index.jsonl")
    layout = json.loads((out / "layout.json").read_text())
    keep = [f for f in layout["fields"] if f["name"] not in PLACEMENT_KEYS]
    offset, fields = 0, []
    for f in keep:
        fields.append({**f, "offset": offset})
        offset += max(1, int(np.prod(f["shape"])))
    (dst / "layout.json").write_text(json.dumps({**layout, "fields": fields, "record_floats": offset}))
    for path in out.glob("track_*.bin"):
        rec = read_track(out, int(path.stem.split("_")[1]))
        rows = np.concatenate([rec[f["name"]].reshape(len(rec["frame"]), -1) for f in keep], 1).astype(np.float32)
        rows.tofile(dst / path.name)
    return dst


def test_results_without_placement_stay_in_place_without_a_frame_size(results, tmp_path):
    out, _ = results
    old = _without_placement(out, tmp_path / "old")
    bvh = read_bvh(export_bvh(old, 0, tmp_path / "t0.bvh", fps=25))
    assert np.allclose(bvh.root_positions / 100, _rest_joints(out, 0)[0], atol=1e-7)  # in place, pelvis at rest
    assert not load_track_motion(old, 0).located


@pytest.mark.parametrize("placed", [True, False], ids=["placement", "older-results-from-boxes"])
def test_bvh_fills_missed_frames_and_places_the_root(results, tmp_path, placed):
    out, packets = results
    folder = out if placed else _without_placement(out, tmp_path / "old")
    bvh = read_bvh(export_bvh(folder, 3, tmp_path / "t3.bvh", units="m", frame_size=(FRAME_W, FRAME_H)))
    assert len(bvh.rotations) == N_FRAMES  # frames 0…9, the two it missed hold frame 3's pose
    idx = [bvh.names.index(n) for n in SMPL_JOINT_NAMES]
    expected = _expected_rotations(out, 3)  # 8 records: frames 0-3, 6-9
    assert np.abs(bvh.rotations[:, idx][[0, 1, 2, 3, 4, 5, 6]] - expected[[0, 1, 2, 3, 3, 3, 4]]).max() < 1e-4
    # With the frame size, the pelvis stands where the camera saw it: C (J0 + T), T from cam and the crop.
    rec, rest = read_track(out, 3), _rest_joints(out, 3)
    f = (FRAME_W / 2) / math.tan(math.radians(30))
    for k, frame in enumerate(rec["frame"].astype(int)):
        s, tx, ty = rec["cam"][k].astype(np.float64)
        p = packets[frame]
        x0, y0, x1, y1 = p.people[p.ids.index(3)].track.box.astype(np.float64)
        z = 2 * f / (s * max(x1 - x0, y1 - y0) * 1.2)
        t = np.array([tx + ((x0 + x1) / 2 - FRAME_W / 2) * z / f, ty + ((y0 + y1) / 2 - FRAME_H / 2) * z / f, z])
        assert np.allclose(bvh.root_positions[frame], C @ (rest[0] + t), atol=5e-3)  # boxes are stored to 0.1 px


# -- glTF binary ----------------------------------------------------------------------------------------------

def test_glb_round_trip(results, tmp_path):
    out, _ = results
    path = export_glb(out, 3, tmp_path / "t3.glb")
    assert validate_glb(path) == []
    gltf, blob = read_glb(path)
    assert gltf["asset"]["version"] == "2.0"
    nodes = gltf["nodes"]
    assert [n["name"] for n in nodes[:24]] == list(SMPL_JOINT_NAMES) and nodes[24] == {"name": "body", "mesh": 0, "skin": 0}
    rest = _rest_joints(out, 3)
    for j, p in enumerate(SMPL_PARENTS):
        assert np.allclose(nodes[j]["translation"], rest[j] - (rest[p] if p >= 0 else 0), atol=1e-6)
        if p >= 0:
            assert j in nodes[p]["children"]
    rec = read_track(out, 3)
    anim = gltf["animations"][0]
    times = read_accessor(gltf, blob, anim["samplers"][0]["input"])[:, 0]
    t_expected = rec["t_capture"] - rec["t_capture"][0]
    assert len(times) == 8 and np.allclose(times, t_expected, atol=1e-6)
    acc = gltf["accessors"][anim["samplers"][0]["input"]]
    assert acc["min"][0] == pytest.approx(0.0) and acc["max"][0] == pytest.approx(float(t_expected[-1]), abs=1e-6)
    expected = _expected_rotations(out, 3)
    by_node = {c["target"]["node"]: c["sampler"] for c in anim["channels"] if c["target"]["path"] == "rotation"}
    assert sorted(by_node) == list(range(24))
    for j in range(24):
        q = read_accessor(gltf, blob, anim["samplers"][by_node[j]]["output"])
        assert q.shape == (8, 4) and np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-6)
        assert np.all((q[1:] * q[:-1]).sum(1) >= 0)  # one hemisphere from sample to sample
        assert np.abs(Rotation.from_quat(q).as_matrix() - expected[:, j]).max() < 1e-5
    (tr,) = [c for c in anim["channels"] if c["target"]["path"] == "translation"]
    assert tr["target"]["node"] == 0
    transl = read_track(out, 3)["transl"].astype(np.float64)  # the root goes where the live app placed the person
    assert np.allclose(read_accessor(gltf, blob, anim["samplers"][tr["sampler"]]["output"]), (rest[0] + transl) @ C.T, atol=1e-5)
    # The skinned mesh: shaped rest vertices, 4 weights per vertex summing to 1, inverse binds undo the rest joints.
    body = load_rest_body()
    prim = gltf["meshes"][0]["primitives"][0]
    pos = read_accessor(gltf, blob, prim["attributes"]["POSITION"])
    assert pos.shape == body.v_template.shape
    assert np.allclose(gltf["accessors"][prim["attributes"]["POSITION"]]["min"], pos.min(0))
    weights = read_accessor(gltf, blob, prim["attributes"]["WEIGHTS_0"])
    assert np.allclose(weights.sum(1), 1, atol=1e-6)
    assert read_accessor(gltf, blob, prim["attributes"]["JOINTS_0"]).max() < 24
    assert np.array_equal(read_accessor(gltf, blob, prim["indices"]).reshape(-1, 3), body.faces)
    ibm = read_accessor(gltf, blob, gltf["skins"][0]["inverseBindMatrices"]).reshape(24, 4, 4).transpose(0, 2, 1)
    assert np.allclose(ibm[:, :3, 3], -rest, atol=1e-6) and np.allclose(ibm[:, :3, :3], np.eye(3))


def test_glb_skeleton_poses_like_the_body_layer(results, tmp_path):
    """The file's node hierarchy, posed with frame k's samples, puts the joints where training's body layer
    puts them for the same Θ (turned into the y-up world, pelvis-relative)."""
    torch = pytest.importorskip("torch", reason="the reference is training's torch body layer")
    from training.body import BodyModel

    out, _ = results
    gltf, blob = read_glb(export_glb(out, 0, tmp_path / "t0.glb", mesh=False))
    anim = gltf["animations"][0]
    rot = {c["target"]["node"]: read_accessor(gltf, blob, anim["samplers"][c["sampler"]]["output"])
           for c in anim["channels"] if c["target"]["path"] == "rotation"}
    rec = read_track(out, 0)
    betas = rec["betas"].astype(np.float64).mean(0)
    body = BodyModel.open(num_betas=10)
    for k in (0, 5):
        world = [None] * 24
        for j, p in enumerate(SMPL_PARENTS):
            local = np.eye(4)
            local[:3, :3] = Rotation.from_quat(rot[j][k]).as_matrix()
            local[:3, 3] = gltf["nodes"][j]["translation"]
            world[j] = local if p < 0 else world[p] @ local
        joints = np.array([w[:3, 3] for w in world])
        with torch.no_grad():
            ref = body(pose=torch.tensor(rec["theta"][k : k + 1, :144].reshape(1, 24, 6), dtype=torch.float32),
                       betas=torch.tensor(betas[None], dtype=torch.float32)).joints[0].double().numpy()
        assert np.abs((joints - joints[0]) - (ref - ref[0]) @ C.T).max() < 1e-4


def _pack_glb(gltf: dict, blob: bytes) -> bytes:
    js = json.dumps(gltf).encode()
    js += b" " * (-len(js) % 4)
    return (struct.pack("<III", 0x46546C67, 2, 28 + len(js) + len(blob)) + struct.pack("<II", len(js), 0x4E4F534A) + js
            + struct.pack("<II", len(blob), 0x004E4942) + blob)


def test_glb_validation_catches_broken_files(results, tmp_path):
    out, _ = results
    path = export_glb(out, 0, tmp_path / "t0.glb", mesh=False, fps=10)
    gltf, blob = read_glb(path)
    assert "meshes" not in gltf and validate_glb(path) == []
    times = read_accessor(gltf, blob, 0)[:, 0]
    assert np.allclose(times, np.arange(N_FRAMES) / 10)
    bad = tmp_path / "bad.glb"
    gltf["accessors"][0]["max"] = [99.0]
    gltf["accessors"][1]["count"] = N_FRAMES + 1
    bad.write_bytes(_pack_glb(gltf, blob))
    problems = validate_glb(bad)
    assert any("accessor 0: max" in p for p in problems) and any("accessor 1:" in p for p in problems)
    bad.write_bytes(path.read_bytes()[:-4])  # truncated
    with pytest.raises(ValueError, match="not a glTF 2.0 binary"):
        read_glb(bad)


# -- the command line -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli():
    from tool_loader import load_tool

    return load_tool("export_track").main


def test_cli_writes_both_files(cli, results, tmp_path, capsys):
    out, _ = results
    assert cli([str(out), "--track", "0", "--bvh", str(tmp_path / "a.bvh"), "--glb", str(tmp_path / "a.glb"), "--fps", "30"]) == 0
    assert read_bvh(tmp_path / "a.bvh").rotations.shape == (N_FRAMES, 24, 3, 3) and validate_glb(tmp_path / "a.glb") == []
    assert capsys.readouterr().out.count("wrote") == 2


@pytest.mark.parametrize("case, message", [
    ("missing", "no such results folder"),
    ("empty", "not a results folder"),
    ("unknown", "no track 7 (tracks here: 0, 3)"),
])
def test_cli_errors_are_one_line(cli, results, tmp_path, capsys, case, message):
    out, _ = results
    folder = {"missing": tmp_path / "nope", "empty": tmp_path, "unknown": out}[case]
    assert cli([str(folder), "--track", "7", "--bvh", str(tmp_path / "x.bvh")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and str(folder) in err
    assert not (tmp_path / "x.bvh").exists()


def test_motion_timing_from_timestamps(results):
    out, _ = results
    m = load_track_motion(out, 0)
    assert m.fps == pytest.approx(30, rel=0.1) and m.located
    assert np.allclose(m.times, read_track(out, 0)["t_capture"] - read_track(out, 0)["t_capture"][0], atol=1e-6)
