"""The synthetic video generator: determinism, shapes, exact flow, masks, labels, shards.

Small crops (64–128 px) and short clips (T = 4–5) keep this fast; everything renders through
Mesa's EGL (skipped with a reason where no headless GL context can be made).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("moderngl", reason="synthetic rendering needs moderngl (pip install moderngl)")

from training.synthetic.render import gl_available  # noqa: E402

if not gl_available():  # pragma: no cover - machine dependent
    pytest.skip("no headless OpenGL 3.3 context through EGL (install libegl1/libgl1/Mesa)", allow_module_level=True)

from training.body import BodyModel  # noqa: E402
from training.model.params import project_weak_perspective  # noqa: E402
from training.synthetic import (  # noqa: E402
    ArrayMotionSource,
    SyntheticConfig,
    SyntheticGenerator,
    SyntheticShardDataset,
    SyntheticVideoDataset,
    write_shards,
)
from training.synthetic.geometry import norm_to_pixel, project_crop  # noqa: E402

S = 96
T = 5


@pytest.fixture(scope="module")
def body() -> BodyModel:
    return BodyModel.open()


@pytest.fixture(scope="module")
def gen(body) -> SyntheticGenerator:
    return SyntheticGenerator(seed=7, config=SyntheticConfig(seq_len=T, crop_size=S), body=body)


@pytest.fixture(scope="module")
def geo(gen):
    """Clips with their rendered buffers and the labelled person's camera-space vertices."""
    return [gen.debug_geometry(i) for i in range(3)]


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    ax, ay = x - x0, y - y0
    return (img[..., y0, x0] * (1 - ax) * (1 - ay) + img[..., y0, x0 + 1] * ax * (1 - ay)
            + img[..., y0 + 1, x0] * (1 - ax) * ay + img[..., y0 + 1, x0 + 1] * ax * ay)


def _clean(clip: dict, t: int, p: np.ndarray, z: np.ndarray, tol: float) -> np.ndarray:
    """Points whose 4 bilinear neighbour pixels in frame t show the person at depth z ± tol."""
    ok = (p >= 0).all(1) & (p < S - 1).all(1)
    pc = np.clip(p, 0, S - 1.001)
    x0, y0 = np.floor(pc[:, 0]).astype(int), np.floor(pc[:, 1]).astype(int)
    for dy in (0, 1):
        for dx in (0, 1):
            ok &= clip["mask"][t][y0 + dy, x0 + dx] > 0
            ok &= np.abs(clip["depth"][t][y0 + dy, x0 + dx] - z) < tol
    return ok


def _trace_back(clip: dict, t: int, p: np.ndarray, size: int = S) -> np.ndarray:
    """Pixel p of frame t moved by frame t's backward flow (bilinear) → pixel in frame t-1."""
    pc = np.clip(p, 0, size - 1.001)
    return pc + _bilinear(clip["flow"][t].astype(np.float32), pc[:, 0], pc[:, 1]).T


# -- determinism ----------------------------------------------------------------------------------
def test_same_seed_same_clip_different_seed_different(gen, body):
    a = gen.clip(11)
    b = SyntheticGenerator(seed=7, config=SyntheticConfig(seq_len=T, crop_size=S), body=body).clip(11)
    for k, v in a.items():
        if isinstance(v, np.ndarray):
            assert v.dtype == b[k].dtype and np.array_equal(v, b[k]), k
    assert a["meta"] == b["meta"]
    c = SyntheticGenerator(seed=8, config=SyntheticConfig(seq_len=T, crop_size=S), body=body).clip(11)
    assert not np.array_equal(a["rgb"], c["rgb"])
    assert not np.array_equal(a["pose"], c["pose"])
    assert not np.array_equal(gen.clip(12)["rgb"], a["rgb"])


# -- shapes ---------------------------------------------------------------------------------------
def test_sample_keys_shapes_dtypes(body):
    ds = SyntheticVideoDataset(seed=1, length=2, seq_len=4, crop_size=64, body=body)
    assert len(ds) == 2
    s = ds[1]
    t, sz = 4, 64
    expected = {
        "rgb": (t, 3, sz, sz), "flow": (t, 2, sz, sz), "mask": (t, sz, sz), "pose": (t, 72), "betas": (t, 10),
        "cam": (t, 3), "kp3d": (t, 49, 3), "kp2d": (t, 49, 3), "kp2d_smpl24": (t, 24, 3), "kp2d_lsp14": (t, 14, 3),
        "kp2d_h36m17": (t, 17, 3), "kp2d_mediapipe33": (t, 33, 3), "has_kp3d": (t,), "has_smpl": (t,),
        "has_kp2d": (t,), "valid": (t,),
    }
    assert set(s) == set(expected)
    for k, shape in expected.items():
        assert tuple(s[k].shape) == shape, k
        assert s[k].dtype == (torch.bool if k.startswith("has_") or k == "valid" else torch.float32), k
    assert s["has_kp3d"].all() and s["has_smpl"].all() and s["has_kp2d"].all() and s["valid"].all()
    assert torch.count_nonzero(s["flow"][0]) == 0 and torch.count_nonzero(s["flow"][1:]) > 0
    assert -2.2 < float(s["rgb"].min()) and float(s["rgb"].max()) < 2.7  # ImageNet-normalised
    assert set(torch.unique(s["mask"]).tolist()) <= {0.0, 1.0} and s["mask"].sum() > 0
    vis = s["kp2d"][..., 2]
    assert set(torch.unique(vis).tolist()) <= {0.0, 1.0} and vis.mean() > 0.3
    with pytest.raises(IndexError):
        ds[2]


# -- exact flow -----------------------------------------------------------------------------------
def test_flow_moves_visible_vertices_onto_previous_frame(geo):
    n_checked = 0
    for g in geo:
        clip, verts = g["clip"], g["vertices"]
        px = norm_to_pixel(project_crop(verts, clip["crop_proj"]), S)
        for t in range(1, T):
            ok = _clean(clip, t, px[t], verts[t, :, 2], 0.01)
            err = np.linalg.norm(_trace_back(clip, t, px[t][ok]) - px[t - 1][ok], axis=1)
            assert err.size == 0 or err.max() < 0.5, (clip["meta"], t, err.max())
            n_checked += ok.sum()
    assert n_checked > 2000


def _flow_errors(gen, geo, name: str, surface: bool) -> np.ndarray:
    """|flow-traced position − labelled frame t−1 position| (px) of the generator-visible points of
    joint set ``name`` (its surface points or its other points), over frames t ≥ 1 of the clips."""
    idx = gen.set_index[name]
    sel = gen.pool_surface[idx] == surface
    errs = []
    for g in geo:
        clip = g["clip"]
        kp = clip[f"kp2d_{name}"]
        p = norm_to_pixel(kp[..., :2].astype(np.float64), S)
        for t in range(1, T):
            ok = sel & (kp[t, :, 2] > 0)  # the generator's own visibility flags, no filtering here
            errs.append(np.linalg.norm(_trace_back(clip, t, p[t][ok]) - p[t - 1][ok], axis=1))
    return np.concatenate(errs)


def test_flow_moves_visible_surface_landmarks_onto_previous_frame(gen, geo):
    """Every surface point (on the mesh: vertex/*, face/feet/thumb mp/*) the generator flags visible
    in frame t is moved by frame t's flow onto its frame t−1 position to within 0.5 px."""
    from training.synthetic.generator import KP_SETS

    checked = 0
    for name in KP_SETS:
        err = _flow_errors(gen, geo, name, surface=True)
        assert err.size == 0 or err.max() < 0.5, (name, err.max(), np.sort(err)[-5:])
        assert (err.size > 0) == bool(gen.pool_surface[gen.set_index[name]].any()), name
        checked += err.size
    assert checked >= 20, checked


def test_flow_surface_landmarks_beside_another_limb(body):
    """At 224 px, clip 2 of seed 7 has the left thumb against the torso, within the depth tolerance:
    the flow around it is the torso's (2.6 px off the thumb's motion). The generator flags it invisible
    because its neighbourhood shows faces that are not near the thumb on the body; every surface point
    it flags visible still moves onto its frame t−1 position within 0.5 px."""
    from training.synthetic.generator import KP_SETS

    size, frames = 224, 8
    g = SyntheticGenerator(seed=7, config=SyntheticConfig(seq_len=frames, crop_size=size), body=body)
    clip = g.clip(2)
    checked = 0
    for name in KP_SETS:
        kp = clip[f"kp2d_{name}"]
        surf = g.pool_surface[g.set_index[name]]
        p = norm_to_pixel(kp[..., :2].astype(np.float64), size)
        for t in range(1, frames):
            ok = surf & (kp[t, :, 2] > 0)
            err = np.linalg.norm(_trace_back(clip, t, p[t][ok], size) - p[t - 1][ok], axis=1)
            assert err.size == 0 or err.max() < 0.5, (name, t, err.max())
            checked += err.size
    assert checked >= 20


def test_flow_carries_visible_interior_joints_closely(gen, geo):
    """The documented limit: kinematic joints (and landmarks 0.5–9 cm inside the body) are not surface
    points, so the surface flow at their pixel does not carry them exactly: the surface in front of a
    joint moves differently when the limb rotates about it, and near the silhouette the bilinear sample
    mixes in background flow. Measured on the generator-visible ones at 96 px: median ≈ 0.06 px, 90th
    percentile ≈ 0.3 px, max ≈ 3–4 px (224 px: median 0.10, p90 0.47, max ≈ 5–9 px; see the generator's
    docstring). So no per-point bound: the median must stay < 0.25 px and the 90th percentile < 1 px,
    and the flow must beat standing still (zero flow) by a wide margin."""
    from training.synthetic.generator import KP_SETS

    for name in KP_SETS:
        err = _flow_errors(gen, geo, name, surface=False)
        assert err.size >= 50, (name, err.size)
        assert np.median(err) < 0.25 and np.percentile(err, 90) < 1.0, (name, np.median(err), np.percentile(err, 90))
    # the clips move: zero flow would leave the joints far from their previous positions
    err = _flow_errors(gen, geo, "smpl24", surface=False)
    still = []
    for g in geo:
        kp = g["clip"]["kp2d_smpl24"]
        p = norm_to_pixel(kp[..., :2].astype(np.float64), S)
        still.append(np.linalg.norm(p[1:] - p[:-1], axis=-1)[kp[1:, :, 2] > 0])
    assert np.median(err) < 0.25 * np.median(np.concatenate(still)), (np.median(err), np.median(np.concatenate(still)))


def _depth_of(g, gen, idx, t):
    """Camera depth of pool points idx at frame t, from the labels (kp3d-style: body + transl)."""
    clip = g["clip"]
    with torch.no_grad():
        out = gen.body(pose=torch.as_tensor(clip["pose"][t : t + 1]).reshape(1, 24, 3),
                       betas=torch.as_tensor(clip["betas"][t : t + 1]))
    pool = torch.cat([out.joints, out.landmarks], 1)[0].double().numpy() + clip["transl"][t]
    return pool[idx, 2]


# -- masks, 2D and 3D labels ----------------------------------------------------------------------
def test_mask_covers_projected_body(gen, geo):
    import cv2

    faces = gen.faces
    for g in geo:
        clip, verts = g["clip"], g["vertices"]
        px = norm_to_pixel(project_crop(verts, clip["crop_proj"]), S)
        for t in range(T):
            sil = np.zeros((S, S), np.uint8)
            tri = np.round(px[t][faces] * 16).astype(np.int32)  # OpenCV: integer = pixel centre; 4 bits subpixel
            cv2.fillPoly(sil, list(tri), 1, lineType=cv2.LINE_8, shift=4)
            grown = cv2.dilate(sil, np.ones((3, 3), np.uint8))
            mask = clip["mask"][t] > 0
            assert mask.sum() > 50
            assert (mask & (grown == 0)).sum() == 0  # the mask lies inside the projected body
            # visible vertices land on the mask
            ok = _clean(clip, t, px[t], verts[t, :, 2], 0.01)
            ip = np.clip(np.round(px[t][ok]).astype(int), 0, S - 1)
            assert mask[ip[:, 1], ip[:, 0]].all()
            if not clip["meta"]["occluders"] and not clip["meta"]["second_person"]:
                inner = cv2.erode(sil, np.ones((5, 5), np.uint8)) > 0
                assert mask[inner].mean() > 0.97, (clip["meta"], t, inner.sum(), (inner & ~mask).sum())


def test_2d_joints_are_the_rendered_geometry_and_weak_perspective_fits(gen, geo):
    for g in geo:
        clip = g["clip"]
        with torch.no_grad():
            out = gen.body(pose=torch.as_tensor(clip["pose"]).reshape(-1, 24, 3), betas=torch.as_tensor(clip["betas"]))
        for name in ("spin49", "smpl24", "lsp14", "h36m17", "mediapipe33"):
            pts = gen.body.joint_set(out, name).double().numpy()
            xy = project_crop(pts + clip["transl"][:, None].astype(np.float64), clip["crop_proj"])
            np.testing.assert_allclose(clip[f"kp2d_{name}"][..., :2], xy, atol=2e-4)
        # 3D joints: spin49 of body(pose, betas) without translation
        np.testing.assert_allclose(clip["kp3d"], gen.body.joint_set(out, "spin49").numpy(), atol=1e-4)
        # weak perspective ≈ perspective (the residual is the perspective effect: a few pixels at most)
        wp = project_weak_perspective(torch.as_tensor(clip["kp3d"]), torch.as_tensor(clip["cam"])).numpy()
        resid = np.abs(wp - clip["kp2d_spin49"][..., :2])
        assert resid.mean() < 0.03 and resid.max() < 0.15
        # body fills the 1.2× crop (a compact keyframed pose — crouching, sitting — has a smaller joint spread per crop)
        from training.synthetic.keyframed import KEYFRAMED_MOTIONS

        s_max = 2.5 if clip["meta"]["activity"] in KEYFRAMED_MOTIONS else 1.6
        assert (clip["cam"][:, 0] > 0.5).all() and (clip["cam"][:, 0] < s_max).all(), clip["meta"]["activity"]


def test_visibility_rule(gen, geo):
    """The module docstring's rule, recomputed from the rendered buffers: the plain depth test for all
    points; surface points also need a clean 2×2 bilinear neighbourhood (the labelled person at a
    consistent depth, on faces near the point, with one coherent flow)."""
    from training.synthetic.generator import SURFACE_FLOW_SPREAD

    stricter = 0
    for g in geo:
        clip = g["clip"]
        for name in ("mediapipe33", "spin49", "smpl24"):
            kp = clip[f"kp2d_{name}"]
            idx = gen.set_index[name]
            surf = gen.pool_surface[idx]
            tol = gen.pool_tol[idx]
            pf = norm_to_pixel(kp[..., :2].astype(np.float64), S)
            p = np.round(pf).astype(int)
            for t in range(T):
                z = _depth_of(g, gen, idx, t)
                inside = (p[t] >= 0).all(1) & (p[t] < S).all(1)
                pc = np.clip(p[t], 0, S - 1)
                d = clip["depth"][t][pc[:, 1], pc[:, 0]]
                d = np.where(d > 0, d, np.inf)
                plain = inside & (z <= d + tol)
                # surface points: each pixel of the bilinear neighbourhood
                ok = (pf[t] >= 0).all(1) & (pf[t] < S - 1).all(1)
                x0 = np.clip(np.floor(pf[t, :, 0]).astype(int), 0, S - 2)
                y0 = np.clip(np.floor(pf[t, :, 1]).astype(int), 0, S - 2)
                fl = []
                for dy in (0, 1):
                    for dx in (0, 1):
                        yy, xx = y0 + dy, x0 + dx
                        ok &= clip["mask"][t][yy, xx] > 0
                        ok &= np.abs(clip["depth"][t][yy, xx] - z) < tol
                        f = np.clip(clip["face"][t][yy, xx] - clip["body_face0"], 0, gen.faces.shape[0] - 1)
                        ok &= gen.near_faces[idx, f]
                        fl.append(clip["flow"][t][:, yy, xx].astype(np.float32))
                fl = np.stack(fl)  # (4, 2, K)
                ok &= ((fl.max(0) - fl.min(0)) <= SURFACE_FLOW_SPREAD).all(0)
                expect = plain & (~surf | ok)
                np.testing.assert_array_equal(kp[t, :, 2] > 0, expect, err_msg=f"{name} t={t}")
                stricter += (plain & surf & ~ok).sum()
    assert stricter > 0  # the stricter surface rule is active on these clips


def test_culling_is_exact(body):
    g = SyntheticGenerator(seed=3, config=SyntheticConfig(seq_len=4, crop_size=64), body=body)
    a = g.clip(0)
    g.cull = False
    b = g.clip(0)
    assert np.array_equal(a["mask"], b["mask"])
    assert (a["flow"] != b["flow"]).mean() < 1e-3  # at most a few edge pixels differ (ties)


# -- motion ---------------------------------------------------------------------------------------
def test_motion_source_hook_drives_the_body(body):
    rng = np.random.default_rng(0)
    seq = rng.normal(scale=0.15, size=(40, 72))
    seq[:, :3] = 0
    src = ArrayMotionSource([seq], fps=30.0)
    g = SyntheticGenerator(seed=0, config=SyntheticConfig(seq_len=4, crop_size=64), body=body, motion_source=src)
    clip = g.clip(0)
    body_pose = clip["pose"][:, 3:]
    # each frame's body pose is some window frame of the source (the root is re-expressed in the camera frame)
    for f in body_pose:
        assert np.abs(seq[:, 3:] - f).max(1).min() < 1e-5


def test_procedural_motion_is_smooth_and_arms_are_down():
    from training.body import SMPL_JOINTS
    from training.synthetic.geometry import rotvec_to_matrix
    from training.synthetic.motion import procedural_motion

    for k in range(12):
        pose, transl, act = procedural_motion(np.random.default_rng(k), 16, 30.0)
        assert pose.shape == (16, 72) and transl.shape == (16, 3) and np.isfinite(pose).all()
        m = rotvec_to_matrix(pose.reshape(16, 24, 3))
        step = np.linalg.norm(m[1:] - m[:-1], axis=(-2, -1)).max()
        assert step < 0.45, (act, step)  # no jumps: < ~18° per joint between frames at 30 fps
    # idle: the arms hang down (the upper arm points mostly along -y in the parent frame)
    pose, _, _ = procedural_motion(np.random.default_rng(1), 8, 30.0, activity="idle")
    r = rotvec_to_matrix(pose.reshape(8, 24, 3))
    arm = r[:, SMPL_JOINTS.index("left_shoulder")] @ np.array([1.0, 0, 0])
    assert (arm[:, 1] < -0.7).all()


# -- shards ---------------------------------------------------------------------------------------
def test_shard_round_trip_equals_on_the_fly(tmp_path, body):
    cfg = SyntheticConfig(seq_len=4, crop_size=64)
    write_shards(tmp_path, num_clips=3, shard_size=2, seed=5, config=cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "shard-00000.tar", "shard-00001.tar"]
    disk = SyntheticShardDataset(tmp_path)
    live = SyntheticVideoDataset(seed=5, length=3, config=SyntheticConfig(seq_len=4, crop_size=64), body=body)
    assert len(disk) == 3
    for i in range(3):
        a, b = disk[i], live[i]
        assert set(a) == set(b)
        for k in a:
            assert torch.equal(a[k], b[k]), (i, k)


def test_world_landmarks_of_older_shards_are_turned_into_the_image_axes_on_reading(gen):
    """Clips written before 2026-11-29 hold BlazePose's world landmarks in its turned region's axes; reading turns
    them by the region's angle (``mp_roi``), as the live app's landmarks now are. Clips written since say so and
    come back as written."""
    import io

    from training.synthetic.dataset import WORLD_AXES_KEY, decode_clip, encode_clip

    clip = dict(gen.clip(0))
    rng = np.random.default_rng(0)
    clip["mp_world"] = rng.normal(size=(T, 33, 3)).astype(np.float32)
    clip["mp_roi"] = np.zeros((T, 4), np.float32)
    clip["mp_roi"][:, 3] = np.pi / 2  # a quarter turn: (x, y) → (−y, x)
    png, npz = encode_clip(clip)
    np.testing.assert_array_equal(decode_clip(png, npz)["mp_world"], clip["mp_world"])
    z = np.load(io.BytesIO(npz))
    old = io.BytesIO()
    np.savez_compressed(old, **{k: z[k] for k in z.files if k != WORLD_AXES_KEY})  # as written before
    w = decode_clip(png, old.getvalue())["mp_world"]
    np.testing.assert_allclose(w, np.stack([-clip["mp_world"][..., 1], clip["mp_world"][..., 0], clip["mp_world"][..., 2]], -1), atol=1e-6)


def test_a_damaged_shard_is_named_with_its_fix_and_remade(tmp_path, capsys):
    """A shard cut short (a full disk, a copy stopped half-way): reading one of its clips raises ShardError naming the
    file and the fix, the other shard still reads, and running make_synthetic again with the same arguments remakes
    it; dtsvibe-train stops on it in one line."""
    from tool_loader import load_tool

    from training.cli import train_main
    from training.synthetic import ShardError

    argv = ["--out", str(tmp_path / "synthetic"), "--clips", "4", "--shard-size", "2", "--crop", "48", "--seq-len", "2"]
    make = load_tool("make_synthetic")
    assert make.main(argv) == 0
    shard = tmp_path / "synthetic" / "shard-00001.tar"
    whole = shard.read_bytes()
    shard.write_bytes(whole[: len(whole) // 3])
    ds = SyntheticShardDataset(tmp_path / "synthetic")
    assert ds[0]["rgb"].shape[0] == 2
    with pytest.raises(ShardError, match=r"shard-00001\.tar: clip 3 cannot be read .*run tools/make_synthetic\.py --out"):
        ds.clip(3)
    assert make.main(argv) == 0
    assert shard.read_bytes() == whole and SyntheticShardDataset(tmp_path / "synthetic")[3]["rgb"].shape[0] == 2
    (tmp_path / "synthetic" / "shard-00000.tar").write_bytes(b"")
    capsys.readouterr()  # make_synthetic's progress bars
    assert train_main(["--config", "smoke", "--out", str(tmp_path / "run"), f"data_root={tmp_path}", "datasets_2d=[]",
                       "datasets_3d=[synthetic]", "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard-00000.tar: clip 0 cannot be read" in err[0], err


def test_make_synthetic_cli(tmp_path):
    from tool_loader import load_tool

    mod = load_tool("make_synthetic")
    assert mod.main(["--out", str(tmp_path / "d"), "--clips", "2", "--shard-size", "1", "--crop", "48", "--seq-len", "2"]) == 0
    ds = SyntheticShardDataset(tmp_path / "d")
    assert len(ds) == 2 and ds[1]["rgb"].shape == (2, 3, 48, 48)


def test_amass_files_drive_the_generator(tmp_path, body):
    """AMASS .npz (SMPL-H layout, z-up, 120 fps) → slerp-resampled motion source → the clip's pose."""
    from training.synthetic.motion import amass_motion_source

    n = 240
    poses = np.zeros((n, 156))
    poses[:, 3 * 18 + 1] = np.linspace(0.0, 1.2, n)  # left elbow bends over the sequence
    poses[:, 66:] = 0.7  # hand joints: must be ignored
    np.savez(tmp_path / "walk_poses.npz", poses=poses, mocap_framerate=120.0, betas=np.zeros(16))
    source = amass_motion_source(tmp_path, fps=30.0)
    assert source.poses[0].shape == (60, 72)  # 120 → 30 fps keeps every 4th frame
    np.testing.assert_allclose(source.poses[0][:, 66:], 0.0)
    ds = SyntheticVideoDataset(seed=3, length=1, seq_len=4, crop_size=64, body=body, motion_source=source)
    pose = ds[0]["pose"].numpy()
    elbow = pose[:, 3 * 18 : 3 * 18 + 3]
    assert np.all(np.diff(np.linalg.norm(elbow, axis=1)) > 0.0)  # consecutive frames of the bend
    assert np.abs(pose[:, 66:]).max() == 0.0
