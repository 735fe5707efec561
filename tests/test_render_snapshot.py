"""Headless snapshots with Open3D's legacy Visualizer (realtime/view/offscreen.py).

These render for real (EGL offscreen with Mesa on machines without a display). They are skipped
only when open3d cannot be imported; a machine where open3d imports but cannot render fails
with the module's RuntimeError, which names the packages to install.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

try:
    import open3d as o3d
except ImportError as exc:  # not installed, or libusb-1.0-0 missing (then the message says so)
    pytest.skip(f"open3d is not importable ({exc}); pip install 'open3d>=0.19,<0.21' and "
                "apt-get install libusb-1.0-0 libegl1 libgl1", allow_module_level=True)

from realtime.view import offscreen as snapshot
from realtime.view.offscreen import HEADLESS_HELP, MeshItem, SnapshotRenderer, render_meshes, save_png

W, H = 120, 160
RED = (0.9, 0.1, 0.1)
GREY = (0.6, 0.6, 0.65)


def box(size, centre):
    m = o3d.geometry.TriangleMesh.create_box(*size)
    v = np.asarray(m.vertices) - np.asarray(size) / 2.0 + np.asarray(centre)
    return v, np.asarray(m.triangles).copy()


def body():
    """A 1.7 m grey 'torso' box standing on y=0, facing +z."""
    v, f = box((0.4, 1.7, 0.25), (0.0, 0.85, 0.0))
    return MeshItem(v, f, GREY)


def marker(centre, size=0.15):
    v, f = box((size, size, size), centre)
    return MeshItem(v, f, RED)


def red_mask(img):
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return (r > 90) & (g < 0.5 * r) & (b < 0.5 * r)


def centroid(mask):
    ys, xs = np.nonzero(mask)
    assert len(xs) > 0, "no pixels of the requested kind were rendered"
    return xs.mean(), ys.mean()


def test_image_size_dtype_and_content():
    img = render_meshes([body()], width=W, height=H, show_ground=False)
    assert img.shape == (H, W, 3)
    assert img.dtype == np.uint8
    non_bg = np.any(img != 255, axis=2)
    frac = non_bg.mean()
    assert 0.05 < frac < 0.9, frac
    # Framed automatically: the object is centred and fits, with a margin on every side.
    cx, cy = centroid(non_bg)
    assert abs(cx - W / 2) < 0.1 * W and abs(cy - H / 2) < 0.1 * H
    assert not non_bg[0].any() and not non_bg[-1].any()
    assert not non_bg[:, 0].any() and not non_bg[:, -1].any()
    # Smooth shading: a lit box is not one flat colour.
    assert len(np.unique(img[non_bg].reshape(-1, 3), axis=0)) > 1


def test_background_colour():
    img = render_meshes([body()], width=W, height=H, background=(0.0, 0.0, 0.0), show_ground=False)
    assert (img[0, 0] == 0).all() and (img[-1, -1] == 0).all()
    assert img.max() > 50


def test_view_orientation_conventions():
    """The body faces +z: a marker at +x is right of centre seen from the front, left from the
    back; a marker at +z (in front of the body) is left of centre seen from the side (+x)."""
    scene_x = [body(), marker((0.5, 1.2, 0.0))]
    scene_z = [body(), marker((0.0, 1.2, 0.5))]
    with SnapshotRenderer(W, H, show_ground=False) as r:
        front_x, _ = centroid(red_mask(r.render(scene_x, view="front")))
        back_x, _ = centroid(red_mask(r.render(scene_x, view="back")))
        side_x, side_y = centroid(red_mask(r.render(scene_z, view="side")))
    assert front_x > 0.6 * W
    assert back_x < 0.4 * W
    assert side_x < 0.4 * W
    assert side_y < 0.5 * H  # the marker is at 1.2 m on a 1.7 m body: upper half


def test_explicit_camera():
    scene = [body(), marker((0.5, 1.2, 0.0))]
    cam = ((0.0, 0.9, 6.0), (0.0, 0.9, 0.0), (0.0, 1.0, 0.0))  # eye, look_at, up
    img = render_meshes(scene, width=W, height=H, view=cam, show_ground=False)
    x, _ = centroid(red_mask(img))
    assert x > 0.55 * W
    # Upside-down camera: the marker swaps sides.
    cam_flipped = ((0.0, 0.9, 6.0), (0.0, 0.9, 0.0), (0.0, -1.0, 0.0))
    x2, _ = centroid(red_mask(render_meshes(scene, width=W, height=H, view=cam_flipped, show_ground=False)))
    assert x2 < 0.45 * W


def test_front_and_side_views_differ():
    scene = [body(), marker((0.5, 1.2, 0.0))]
    with SnapshotRenderer(W, H) as r:
        front = r.render(scene, view="front").astype(int)
        side = r.render(scene, view="side").astype(int)
        tq = r.render(scene, view="three_quarter").astype(int)
    assert np.abs(front - side).mean() > 5
    assert np.abs(front - tq).mean() > 5


def test_ground_is_drawn_below_the_mesh():
    item = body()
    with_ground = render_meshes([item], width=W, height=H, show_ground=True)
    without = render_meshes([item], width=W, height=H, show_ground=False)
    bottom = slice(int(0.9 * H), H)
    grey = lambda im: (np.abs(im.astype(int) - im.astype(int).mean(axis=2, keepdims=True)).max(axis=2) < 8) & (im.min(axis=2) < 240)  # noqa: E731
    # Light grey (not white, not coloured) pixels beside the feet with the ground, none without it.
    assert grey(with_ground[bottom, : W // 5]).mean() > 0.5
    assert not np.any(without[bottom, : W // 5] != 255)
    # Nothing of the ground above the camera's horizon level at the top of the image.
    assert not np.any(with_ground[:3] != 255)


def test_in_place_update_changes_frame_without_new_geometry():
    item_body, mk = body(), marker((0.5, 0.6, 0.0))
    with SnapshotRenderer(W, H) as r:
        a = r.render([item_body, mk], view="front")
        geoms = list(r._meshes)
        moved = MeshItem(mk.vertices + np.array([0.0, 0.8, 0.0]), mk.faces, mk.color)
        b = r.render([item_body, moved], view="front")
        assert all(g1 is g2 for g1, g2 in zip(geoms, r._meshes)), "geometry was re-created"
        np.testing.assert_allclose(np.asarray(r._meshes[1].vertices), moved.vertices)
        # Same vertices again: the frame comes back (deterministic rendering).
        c = r.render([item_body, mk], view="front")
    assert np.any(a != b)
    _, ya = centroid(red_mask(a))
    _, yb = centroid(red_mask(b))
    assert yb < ya - 0.2 * H  # moved up by 0.8 m
    assert np.array_equal(a, c)


def test_a_mesh_that_comes_close_stays_lit():
    """In place, a body first seen 14 m away and then 3.5 m away (someone walking up to the camera) is drawn
    as brightly as by a fresh renderer — not black with only its outline (the lights followed the old box)."""
    cam = ((0.0, 0.9, 0.0), (0.0, 0.9, -1.0), (0.0, 1.0, 0.0))
    far, near = (body() for _ in range(2))
    far = MeshItem(far.vertices + np.array([0.0, 0.0, -14.0]), far.faces, RED)
    near = MeshItem(near.vertices + np.array([0.0, 0.0, -3.5]), near.faces, RED)
    with SnapshotRenderer(W, H, show_ground=False) as r:
        r.render([far], view=cam)
        reused = r.render([near], view=cam)
    with SnapshotRenderer(W, H, show_ground=False) as r:
        fresh = r.render([near], view=cam)
    lit = red_mask(fresh)
    assert lit.mean() > 0.05
    assert red_mask(reused).sum() > 0.9 * lit.sum()


def test_topology_change_and_mesh_count_change():
    with SnapshotRenderer(W, H, show_ground=False) as r:
        one = r.render([body()])
        two = r.render([body(), marker((0.5, 1.2, 0.0))])
        v, f = box((0.3, 0.3, 0.3), (0.0, 1.0, 0.0))
        sphere = o3d.geometry.TriangleMesh.create_sphere(0.3)
        three = r.render([MeshItem(np.asarray(sphere.vertices), np.asarray(sphere.triangles), RED)])
        assert len(r._meshes) == 1
    assert not red_mask(one).any() and red_mask(two).any() and red_mask(three).mean() > 0.2


def test_close_and_errors():
    r = SnapshotRenderer(W, H)
    r.close()
    assert r.closed
    r.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        r.render([body()])
    with SnapshotRenderer(W, H) as r2:
        with pytest.raises(ValueError, match="unknown view"):
            r2.render([body()], view="top")
        with pytest.raises(ValueError, match="faces"):
            r2.render([MeshItem(np.zeros((3, 3)), np.array([[0, 1, 5]]))])
        with pytest.raises(ValueError, match="at least one"):
            r2.render([])
    assert r2.closed


def test_no_context_gives_one_line_install_hint(monkeypatch):
    class FakeVisualizer:
        def create_window(self, **kw):
            return False

    fake = types.SimpleNamespace(
        visualization=types.SimpleNamespace(Visualizer=FakeVisualizer),
        utility=o3d.utility,
    )
    monkeypatch.setattr(snapshot, "_import_open3d", lambda: fake)
    with pytest.raises(RuntimeError) as err:
        SnapshotRenderer(W, H)
    msg = str(err.value)
    assert msg == HEADLESS_HELP and "\n" not in msg
    assert "libegl1" in msg and "xvfb-run" in msg


def test_save_png_round_trip(tmp_path: Path):
    img = render_meshes([body(), marker((0.5, 1.2, 0.0))], width=W, height=H)
    out = tmp_path / "snap.png"
    save_png(img, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        import cv2

        back = cv2.imread(str(out), cv2.IMREAD_COLOR)[..., ::-1]
    except ImportError:
        from PIL import Image

        back = np.asarray(Image.open(out).convert("RGB"))
    assert np.array_equal(back, img)
    with pytest.raises(ValueError):
        save_png(img.astype(np.float32), tmp_path / "bad.png")


def test_module_does_not_import_torch():
    code = "import sys, realtime.view.offscreen; sys.exit('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
