"""Headless mesh snapshots with Open3D's legacy ``Visualizer``.

Numpy in, numpy out. The live app uses the same legacy ``open3d.visualization.Visualizer`` for
its on-screen window; this module opens it hidden (``create_window(visible=False)``) and reads
frames back with ``capture_screen_float_buffer``.

Headless machines: with no X display, Open3D 0.20 falls back on its own to an EGL offscreen
context (Mesa's software renderer, llvmpipe, when there is no GPU). No environment variable is
needed. The Debian packages it needs are ``libusb-1.0-0`` (to import open3d at all) and
``libegl1 libgl1`` (which pull in ``libegl-mesa0`` and ``libgl1-mesa-dri``). Under an X server
(a desktop, or ``xvfb-run``) it uses GLX instead.

Conventions: metres, +y up, the body faces +z. ``"front"`` looks from +z toward -z, ``"side"``
from +x, ``"back"`` from -z, ``"three_quarter"`` from the front-right (+x, +z).

Example::

    from realtime.view.offscreen import MeshItem, SnapshotRenderer, save_png

    with SnapshotRenderer(640, 800) as r:
        for verts in sequence:  # same topology every frame: updated in place
            img = r.render([MeshItem(verts, faces, (0.8, 0.6, 0.5))], view="front")
    save_png(img, "frame.png")

A renderer (its OpenGL context) belongs to the thread that created it: create and use it on the
same thread.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "MeshItem",
    "SnapshotRenderer",
    "render_meshes",
    "save_png",
    "VIEWS",
    "HEADLESS_HELP",
]

Color = Tuple[float, float, float]
Vec3 = Sequence[float]
#: An explicit camera: (eye, look_at, up), each a 3-vector in world coordinates.
CameraSpec = Tuple[Vec3, Vec3, Vec3]
ViewSpec = Union[str, CameraSpec]

#: Named views: unit direction from the scene centre toward the eye. The camera sits slightly
#: above the scene (ELEVATION_DEG) so that the ground is visible.
ELEVATION_DEG = 12.0
_VIEW_AZIMUTH = {"front": (0.0, 1.0), "back": (0.0, -1.0), "side": (1.0, 0.0),
                 "three_quarter": (math.sqrt(0.5), math.sqrt(0.5))}
VIEWS = tuple(_VIEW_AZIMUTH)

HEADLESS_HELP = (
    "Open3D could not open an offscreen OpenGL context (no X display and no working EGL): "
    "apt-get install libegl1 libgl1 (Mesa: libegl-mesa0 libgl1-mesa-dri), "
    "or run under xvfb-run -a with a valid DISPLAY"
)



def _no_context_help(o3d) -> str:
    """One line saying what to install or set when no OpenGL context could be made."""
    version = str(getattr(o3d, "__version__", ""))
    try:
        major_minor = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        major_minor = ()
    if major_minor and major_minor < (0, 20) and not os.environ.get("DISPLAY"):
        return (f"open3d {version} has no EGL fallback and needs an X display: "
                "pip install 'open3d>=0.20,<0.21', or run under xvfb-run -a")
    return HEADLESS_HELP


_GROUND_COLORS = (np.array([0.88, 0.88, 0.88]), np.array([0.80, 0.80, 0.80]))
_UP = np.array([0.0, 1.0, 0.0])


@dataclass
class MeshItem:
    """One triangle mesh: vertices (V, 3) in metres, faces (F, 3) vertex indices, RGB in [0, 1]."""

    vertices: np.ndarray
    faces: np.ndarray
    color: Color = (0.75, 0.75, 0.78)

    def checked(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        v = np.asarray(self.vertices, dtype=np.float64)
        f = np.asarray(self.faces)
        c = np.asarray(self.color, dtype=np.float64).reshape(-1)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
            raise ValueError(f"MeshItem.vertices must be (V, 3) with V > 0, got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"MeshItem.faces must be (F, 3) integers, got {f.shape} {f.dtype}")
        if len(f) and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError("MeshItem.faces index outside the vertex array")
        if c.shape != (3,):
            raise ValueError(f"MeshItem.color must be (r, g, b), got {self.color!r}")
        if not np.all(np.isfinite(v)):
            raise ValueError("MeshItem.vertices contain NaN or inf")
        return v, f.astype(np.int32, copy=False), np.clip(c, 0.0, 1.0)


_RUNTIME_DIR: list[str] = []


def _quiet_wayland_probe() -> None:
    """Headless runs print no Wayland error.

    Open3D's GLFW tries Wayland before it falls back to EGL, and libwayland prints
    ``error: XDG_RUNTIME_DIR is invalid or not set in the environment.`` on every run without a desktop
    session. Where no display is set and XDG_RUNTIME_DIR is missing or not a folder, it is pointed at a
    private empty folder (removed at exit): Wayland then finds no compositor there, silently."""
    if _RUNTIME_DIR or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    current = os.environ.get("XDG_RUNTIME_DIR", "")
    if current and os.path.isdir(current):
        return
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="dtsvibe-runtime-")  # mode 0700, as the XDG spec asks
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["XDG_RUNTIME_DIR"] = folder
    _RUNTIME_DIR.append(folder)


def _import_open3d():
    try:
        import open3d as o3d  # noqa: WPS433 (optional dependency, imported lazily)
    except ImportError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "libusb" in msg:
            raise RuntimeError(f"open3d failed to import ({msg}): apt-get install libusb-1.0-0") from exc
        if "libEGL" in msg or "libGL" in msg:
            raise RuntimeError(f"open3d failed to import ({msg}): apt-get install libegl1 libgl1") from exc
        raise RuntimeError(f"open3d is not usable ({msg}): pip install 'open3d>=0.19,<0.21'") from exc
    return o3d


def _normalize(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        raise ValueError("degenerate camera vector")
    return v / n


def _nice_step(x: float) -> float:
    """The 1-2-5 series value closest below x (for ground tile sizes)."""
    if x <= 0 or not math.isfinite(x):
        return 0.5
    e = math.floor(math.log10(x))
    for m in (5.0, 2.0, 1.0):
        if m * 10.0**e <= x:
            return m * 10.0**e
    return 10.0**e


def _look_at_extrinsic(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-to-camera 4x4 in Open3D/OpenCV camera axes (x right, y down, z forward)."""
    fwd = _normalize(target - eye)
    right = np.cross(fwd, up)
    if np.linalg.norm(right) < 1e-9:  # looking along `up`: pick any perpendicular
        right = np.cross(fwd, np.array([0.0, 0.0, 1.0]) if abs(fwd[2]) < 0.9 else np.array([1.0, 0.0, 0.0]))
    right = _normalize(right)
    down = np.cross(fwd, right)
    ext = np.eye(4)
    ext[:3, :3] = np.stack([right, down, fwd])
    ext[:3, 3] = -ext[:3, :3] @ eye
    return ext


class SnapshotRenderer:
    """One hidden Open3D window, reused for many frames.

    ``render(meshes, view)`` updates the existing geometries in place when the meshes keep their
    topology (same count, same vertex and face counts); only a change of topology re-creates a
    geometry. Use as a context manager, or call ``close()``.
    """

    def __init__(self, width: int = 640, height: int = 800, *, background: Color = (1.0, 1.0, 1.0),
                 show_ground: bool = True, fov_deg: float = 30.0, margin: float = 0.08) -> None:
        if width < 16 or height < 16:
            raise ValueError("width and height must be at least 16 pixels")
        if not 5.0 <= fov_deg <= 90.0:
            raise ValueError("fov_deg must be in [5, 90] (Open3D's legacy view limits)")
        self.width, self.height = int(width), int(height)
        self.background = tuple(float(c) for c in background)
        self.show_ground = bool(show_ground)
        self.fov_deg = float(fov_deg)
        self.margin = float(margin)
        self._o3d = _import_open3d()
        self._meshes: list = []        # open3d TriangleMesh, one per MeshItem
        self._colors: list = []
        self._ground = None
        self._ground_key = None        # (tile, n): geometry is rebuilt only when this changes
        _quiet_wayland_probe()
        self._vis = self._o3d.visualization.Visualizer()
        o3d = self._o3d
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            ok = self._vis.create_window(window_name="snapshot", width=self.width,
                                         height=self.height, visible=False)
        if not ok:
            self._vis = None
            raise RuntimeError(_no_context_help(o3d))
        self._open = True
        opt = self._vis.get_render_option()
        if opt is None:  # the window exists but no GL state: treat as no context
            self.close()
            raise RuntimeError(HEADLESS_HELP)
        opt.background_color = np.asarray(self.background, dtype=np.float64)
        opt.light_on = True
        opt.mesh_show_back_face = True
        opt.mesh_show_wireframe = False
        opt.show_coordinate_frame = False
        opt.mesh_shade_option = o3d.visualization.MeshShadeOption.Default  # smooth: vertex normals
        opt.mesh_color_option = o3d.visualization.MeshColorOption.Color   # per-vertex colours

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        vis, self._vis = getattr(self, "_vis", None), None
        if vis is not None and getattr(self, "_open", False):
            self._open = False
            try:
                vis.clear_geometries()
            finally:
                vis.destroy_window()
        self._meshes, self._colors, self._ground, self._ground_key = [], [], None, None

    @property
    def closed(self) -> bool:
        return self._vis is None

    def __enter__(self) -> "SnapshotRenderer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; prefer close() / the context manager
        try:
            self.close()
        except Exception:
            pass

    # -- scene -----------------------------------------------------------------------------

    def _sync_meshes(self, items: Sequence[MeshItem]) -> Tuple[np.ndarray, np.ndarray]:
        o3d, vis = self._o3d, self._vis
        checked = [it.checked() for it in items]
        if not checked:
            raise ValueError("render needs at least one MeshItem")
        # Drop surplus geometries.
        while len(self._meshes) > len(checked):
            vis.remove_geometry(self._meshes.pop(), reset_bounding_box=False)
            self._colors.pop()
        for i, (v, f, c) in enumerate(checked):
            if i < len(self._meshes):
                m = self._meshes[i]
                mv, mf = np.asarray(m.vertices), np.asarray(m.triangles)
                if mv.shape == v.shape and mf.shape == f.shape:
                    mv[...] = v                       # in place: no new geometry
                    if not np.array_equal(mf, f):
                        mf[...] = f
                    m.compute_vertex_normals()
                    if not np.array_equal(self._colors[i], c):
                        m.paint_uniform_color(c)
                        self._colors[i] = c
                    vis.update_geometry(m)
                    continue
                vis.remove_geometry(m, reset_bounding_box=False)
            m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(v), o3d.utility.Vector3iVector(f))
            m.compute_vertex_normals()
            m.paint_uniform_color(c)
            # reset_bounding_box=True: the view control needs a non-empty box (an empty one makes
            # the camera NaN); the view it resets is replaced by _set_camera on every frame.
            vis.add_geometry(m, reset_bounding_box=True)
            if i < len(self._meshes):
                self._meshes[i], self._colors[i] = m, c
            else:
                self._meshes.append(m)
                self._colors.append(c)
        # The legacy renderer places its lights from the view's bounding box, which in-place updates leave
        # where the first meshes were: a body that came much closer was then lit from behind (black, only
        # its outline showing). Refit the box to the meshes as they are now (_set_camera sets the view).
        vis.reset_view_point(True)
        allv = np.concatenate([c[0] for c in checked], axis=0)
        return allv.min(axis=0), allv.max(axis=0)

    def _sync_ground(self, lo: np.ndarray, hi: np.ndarray) -> float:
        """Checkerboard at the lowest vertex y; returns the ground's half extent (for clipping)."""
        size = float(np.max(hi - lo))
        tile = _nice_step(max(size, 1e-3) / 3.0)
        half = max(2.5 * float(np.linalg.norm(hi - lo)) / 2.0, 4 * tile)
        n = int(min(60, 2 * math.ceil(half / tile)))
        if not self.show_ground:
            return 0.0
        o3d, vis = self._o3d, self._vis
        centre = (lo + hi) / 2.0
        i0 = int(round(centre[0] / tile)) - n // 2       # tiles snap to a fixed world grid
        k0 = int(round(centre[2] / tile)) - n // 2
        y = float(lo[1]) - 1e-3 * max(size, 1e-3)      # just below the soles: no z-fighting
        ii, kk = np.meshgrid(np.arange(n) + i0, np.arange(n) + k0, indexing="ij")
        ii, kk = ii.ravel(), kk.ravel()
        x0, z0 = ii * tile, kk * tile
        x1, z1 = x0 + tile, z0 + tile
        verts = np.stack([
            np.stack([x0, np.full_like(x0, y), z0], 1), np.stack([x0, np.full_like(x0, y), z1], 1),
            np.stack([x1, np.full_like(x0, y), z1], 1), np.stack([x1, np.full_like(x0, y), z0], 1),
        ], axis=1).reshape(-1, 3)
        parity = ((ii + kk) % 2).astype(bool)
        cols = np.where(parity[:, None], _GROUND_COLORS[1], _GROUND_COLORS[0])
        cols = np.repeat(cols, 4, axis=0)
        key = (tile, n)
        if self._ground is not None and self._ground_key == key:
            np.asarray(self._ground.vertices)[...] = verts
            np.asarray(self._ground.vertex_colors)[...] = cols
            vis.update_geometry(self._ground)
        else:
            if self._ground is not None:
                vis.remove_geometry(self._ground, reset_bounding_box=False)
            base = np.arange(n * n)[:, None] * 4
            tris = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]], axis=0)  # normals +y
            g = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(verts), o3d.utility.Vector3iVector(tris))
            g.vertex_colors = o3d.utility.Vector3dVector(cols)
            g.vertex_normals = o3d.utility.Vector3dVector(np.tile(_UP, (len(verts), 1)))
            vis.add_geometry(g, reset_bounding_box=True)
            self._ground, self._ground_key = g, key
        return half * math.sqrt(2.0)

    # -- camera ----------------------------------------------------------------------------

    def _auto_camera(self, view: str, lo: np.ndarray, hi: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            ax, az = _VIEW_AZIMUTH[view]
        except KeyError:
            raise ValueError(f"unknown view {view!r}; use one of {VIEWS} or (eye, look_at, up)") from None
        el = math.radians(ELEVATION_DEG)
        d = np.array([ax * math.cos(el), math.sin(el), az * math.cos(el)])  # centre -> eye
        target = (lo + hi) / 2.0
        fwd = -d
        right = _normalize(np.cross(fwd, _UP))
        up = np.cross(right, fwd)
        tan_v = math.tan(math.radians(self.fov_deg) / 2.0) * (1.0 - self.margin)
        tan_h = tan_v * self.width / self.height
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        p = corners - target
        depth = p @ d  # toward the camera
        need = np.maximum(np.abs(p @ right) / tan_h, np.abs(p @ up) / tan_v) + depth
        dist = max(float(need.max()), 1e-3)
        return target + d * dist, target, _UP

    def _set_camera(self, eye: np.ndarray, target: np.ndarray, up: np.ndarray, reach: float,
                    focal: float | None = None) -> None:
        o3d = self._o3d
        params = o3d.camera.PinholeCameraParameters()
        f = focal or (self.height / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)
        params.intrinsic = o3d.camera.PinholeCameraIntrinsic(
            self.width, self.height, f, f, self.width / 2.0 - 0.5, self.height / 2.0 - 0.5)
        params.extrinsic = _look_at_extrinsic(eye, target, up)
        vc = self._vis.get_view_control()
        if not vc.convert_from_pinhole_camera_parameters(params, allow_arbitrary=True):
            raise RuntimeError("Open3D rejected the camera parameters")
        # Clip planes from our own scene extent (Open3D's come from geometry bounds at add time,
        # which go stale when vertices move in place).
        dist = float(np.linalg.norm(eye - target))
        vc.set_constant_z_near(max(1e-3, 0.01 * dist))
        vc.set_constant_z_far(dist + 2.0 * reach + 1.0)

    # -- frames ----------------------------------------------------------------------------

    def render(self, meshes: Sequence[MeshItem], view: ViewSpec = "front", focal: float | None = None) -> np.ndarray:
        """Draw ``meshes`` and return the frame as (height, width, 3) uint8 RGB.

        ``focal``: with an explicit view, the focal length in pixels (principal point at the image
        centre) instead of the one from ``fov_deg`` — e.g. to draw meshes exactly where a camera saw them.
        """
        if self._vis is None:
            raise RuntimeError("SnapshotRenderer is closed")
        lo, hi = self._sync_meshes(meshes)
        ground_reach = self._sync_ground(lo, hi)
        if isinstance(view, str):
            eye, target, up = self._auto_camera(view, lo, hi)
        else:
            try:
                eye, target, up = (np.asarray(a, dtype=np.float64).reshape(3) for a in view)
            except (TypeError, ValueError):
                raise ValueError("an explicit view is (eye, look_at, up), three 3-vectors") from None
        reach = max(float(np.linalg.norm(hi - lo)), ground_reach) + float(np.linalg.norm((lo + hi) / 2.0 - target))
        self._set_camera(eye, target, up, reach, None if isinstance(view, str) else focal)
        # One draw per frame: capture renders itself. poll_events()/update_renderer() before it
        # would draw a second time (poll_events redraws when geometry changed); the window is
        # hidden, so there are no events to handle.
        buf = self._vis.capture_screen_float_buffer(do_render=True)
        img = np.asarray(buf)
        if img.shape != (self.height, self.width, 3):
            raise RuntimeError(f"Open3D returned a {img.shape} frame, expected {(self.height, self.width, 3)}")
        return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_meshes(meshes: Sequence[MeshItem], *, width: int = 640, height: int = 800,
                  view: ViewSpec = "front", background: Color = (1.0, 1.0, 1.0),
                  show_ground: bool = True) -> np.ndarray:
    """One-off render (opens and closes a hidden window); use SnapshotRenderer for many frames."""
    with SnapshotRenderer(width, height, background=background, show_ground=show_ground) as r:
        return r.render(meshes, view=view)


def save_png(image: np.ndarray, path) -> str:
    """Write an (H, W, 3) uint8 RGB image (or (H, W) grey) as PNG; OpenCV if installed, else Pillow."""
    img = np.ascontiguousarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"save_png expects (H, W, 3) or (H, W) uint8, got {img.shape} {img.dtype}")
    path = str(path)
    try:
        import cv2  # noqa: WPS433
    except ImportError:
        cv2 = None
    if cv2 is not None:
        out = img[..., ::-1] if img.ndim == 3 else img
        if not cv2.imwrite(path, np.ascontiguousarray(out)):
            raise OSError(f"cv2.imwrite could not write {path}")
        return path
    try:
        from PIL import Image  # noqa: WPS433
    except ImportError as exc:
        raise RuntimeError("save_png needs opencv-python or Pillow: pip install pillow") from exc
    Image.fromarray(img).save(path, format="PNG")
    return path
