"""The views: the frame camera's geometry, and the 3D view and overlay rendered headless through the real app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from realtime.person_inputs import FrameInputs
from training.preprocessing import crop_affine
from realtime.frame_camera import crop_squares, person_translations

cv2 = pytest.importorskip("cv2")

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
if not MEDIA.is_dir():  # a clone elsewhere (CI) on a machine that has the shared folder
    MEDIA = Path("/work/shared/media")


def test_the_frame_camera_reproduces_the_weak_perspective_projection():
    """A point at the person's depth lands, through the pinhole camera, exactly where the crop's weak-perspective
    camera and the crop square put it; points off that depth stay within the perspective's small effect."""
    rng = np.random.default_rng(0)
    size, principal, focal = 128, (319.5, 239.5), 5000.0
    squares = np.array([[200.0, 260.0, 300.0], [480.0, 200.0, 180.0]])
    mats = np.stack([crop_affine((cx, cy, side), size) for cx, cy, side in squares])
    assert np.allclose(crop_squares(mats, size), squares)
    cam = np.array([[0.9, 0.05, -0.1], [1.1, -0.2, 0.15]])
    trans = person_translations(cam, squares, principal, focal)
    inputs = FrameInputs([0, 1], {}, np.zeros((2, size, size, 3), np.uint8), mats)
    for i in range(2):
        flat = np.concatenate([rng.uniform(-0.8, 0.8, (20, 2)), np.zeros((20, 1))], 1)  # on the depth plane
        deep = flat + np.array([0, 0, 0.3])
        weak = inputs.to_frame(i, cam[i, 0] * (flat[:, :2] + cam[i, 1:]))
        for pts, tol in ((flat, 1e-4), (deep, 0.02 * squares[i, 2])):
            p = pts + trans[i]
            pinhole = focal * p[:, :2] / p[:, 2:] + np.array(principal)
            assert np.abs(pinhole - weak).max() < tol
    assert trans[0, 2] < trans[1, 2]  # the bigger crop is nearer the camera


def _run(tmp_path: Path, source: str, view: str, frames: int) -> Path:
    pytest.importorskip("mediapipe", reason="the live app's detector needs mediapipe")
    pytest.importorskip("open3d", reason="the views render with open3d")
    from realtime.cli import main

    out = tmp_path / "res"
    mp = pytest.MonkeyPatch()
    mp.setenv("DTSVIBE_CACHE", str(tmp_path / "cache"))
    mp.delenv("DISPLAY", raising=False)  # headless: Open3D renders offscreen (EGL), no window opens
    try:
        rc = main(["--source", source, "--no-realtime", "--max-frames", str(frames), "--out", str(out), "--view", view, "--record"])
    finally:
        mp.undo()
    assert rc == 0
    return out


def _frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    from itertools import islice

    from realtime.sources import open_source

    with open_source(str(path), realtime=False) as src:
        return [f.image for f in islice(iter(src.read, None), limit)]


def test_3d_view_draws_the_person_and_moves_with_them(tmp_path):
    from realtime.sources import DEMO_CLIP  # noqa: F401  (the demo source is this clip)

    out = _run(tmp_path, "demo", "3d", 12)
    shown = _frames(out / "record.mp4")
    assert len(shown) == 12 and shown[0].shape == (720, 1280, 3)  # view.width × view.height
    grey = np.abs(shown[-1].astype(int) - shown[-1].mean(axis=2, keepdims=True)).max(axis=2)
    mesh = grey > 60  # the body is a saturated colour; background and ground are grey
    ys, xs = np.nonzero(mesh)
    assert mesh.mean() > 0.02  # a body, not a speck
    # The camera follows the person: the body is around the middle of the view, upright (taller than wide).
    assert 0.3 * 1280 < xs.mean() < 0.7 * 1280 and 0.2 * 720 < ys.mean() < 0.8 * 720
    assert np.ptp(ys) > np.ptp(xs)
    diff = np.abs(shown[2].astype(int) - shown[-1].astype(int))[mesh]
    assert diff.mean() > 3  # the mesh changes between frames (the performer moves)


def test_overlay_draws_each_mesh_inside_its_box_on_a_real_clip(tmp_path):
    clip = MEDIA / "taiji.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found (shared media absent)")
    out = _run(tmp_path, str(clip), "overlay", 8)
    shown, original = _frames(out / "record.mp4"), _frames(clip, 8)
    index = [json.loads(x) for x in (out / "index.jsonl").read_text().splitlines()]
    assert len(shown) == 8 and shown[0].shape == original[0].shape
    checked = 0
    for img, src, line in zip(shown, original, index):
        if not line["tracks"]:
            continue
        changed = np.abs(img.astype(int) - src.astype(int)).max(axis=2) > 40
        changed[:140, :420] = False  # the HUD
        x0, y0, x1, y1 = (int(v) for v in line["boxes"][0])
        inside = np.zeros_like(changed)
        inside[max(y0 - 4, 0) : y1 + 5, max(x0 - 4, 0) : x1 + 5] = True
        box_area = (x1 - x0) * (y1 - y0)
        assert changed[inside].sum() > 0.15 * box_area  # the mesh covers much of the person's box
        assert changed[~inside].sum() < 0.02 * changed.size  # and almost nothing outside it
        checked += 1
    assert checked >= 6
