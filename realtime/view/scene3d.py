"""The 3D view: every tracked person's mesh on a ground grid, seen by a camera that follows them.

Meshes keep their Open3D geometry from frame to frame (vertices updated in place, normals recomputed;
see :class:`realtime.view.offscreen.SnapshotRenderer`). People stand where the frame camera saw them
(``realtime.placement``: a field of view like a webcam's, so their distances look natural). The camera looks at the people's centre, smoothed over time, from an azimuth
and elevation the user changes by dragging the mouse (``orbit``) and a distance (``zoom``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .offscreen import MeshItem, SnapshotRenderer
from ..frame_camera import to_world
from .overlay import PersonMesh
from .palette import track_colour

__all__ = ["Scene3D"]


class Scene3D:
    """``render(people, faces)`` → RGB uint8 ``(height, width, 3)``; ``None`` when nobody is in view.

    Args:
        smoothing: weight of the previous camera target and distance per frame (0 = jump at once).
    """

    def __init__(self, width: int, height: int, smoothing: float = 0.85) -> None:
        self.width, self.height = int(width), int(height)
        self.smoothing = float(smoothing)
        self.renderer = SnapshotRenderer(self.width, self.height, background=(0.97, 0.97, 0.98), show_ground=True)
        self.azimuth, self.elevation, self.zoom_factor = 0.0, 15.0, 1.0
        self._target: np.ndarray | None = None
        self._distance: float | None = None

    # -- user control --------------------------------------------------------------------------------
    def orbit(self, d_azimuth_deg: float, d_elevation_deg: float) -> None:
        self.azimuth = (self.azimuth + d_azimuth_deg) % 360.0
        self.elevation = float(np.clip(self.elevation + d_elevation_deg, -10.0, 80.0))

    def zoom(self, factor: float) -> None:
        self.zoom_factor = float(np.clip(self.zoom_factor * factor, 0.3, 5.0))

    # -- frames --------------------------------------------------------------------------------------
    def world_vertices(self, people: Sequence[PersonMesh]) -> list[np.ndarray]:
        """Each person's vertices in the view's world (metres, y up), placed as the frame camera saw them."""
        return [to_world(p.vertices + p.transl) for p in people]

    def render(self, people: Sequence[PersonMesh], faces: np.ndarray) -> np.ndarray | None:
        verts = self.world_vertices(people)
        if not verts:
            return None
        allv = np.concatenate(verts)
        lo, hi = allv.min(0), allv.max(0)
        centre = (lo + hi) / 2.0
        tan_v = math.tan(math.radians(self.renderer.fov_deg) / 2.0)
        tan_h = tan_v * self.width / self.height
        # Far enough to frame everyone with a margin, whatever the panel's aspect (at least a 1 m cube).
        dist = 1.3 * max((hi[1] - lo[1]) / 2.0 / tan_v, float(np.linalg.norm((hi - lo)[[0, 2]])) / 2.0 / tan_h, 0.5 / tan_v)
        if self._target is None:  # the first frame: start where the people are
            self._target, self._distance = centre, dist
        a = self.smoothing
        self._target = a * self._target + (1 - a) * centre
        self._distance = a * self._distance + (1 - a) * dist
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        direction = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
        eye = self._target + direction * self._distance * self.zoom_factor
        items = [MeshItem(v, faces, track_colour(p.track_id)) for v, p in zip(verts, people)]
        return self.renderer.render(items, view=(eye, self._target, (0.0, 1.0, 0.0)))

    def close(self) -> None:
        self.renderer.close()
