"""The overlay view: the camera image with every person's mesh drawn where the camera saw it.

All people are rendered in one pass by Open3D through the frame's pinhole camera
(:mod:`realtime.frame_camera`), so nearer people hide farther ones; the render is blended onto the
frame (semi-transparent) and each person's box and id are drawn on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .offscreen import MeshItem, SnapshotRenderer
from ..frame_camera import FOCAL_PX
from .palette import bgr255, track_colour

__all__ = ["PersonMesh", "OverlayRenderer"]


@dataclass
class PersonMesh:
    """One tracked person in one frame: vertices ``(V, 3)`` in camera axes (before translation), the
    translation in the frame camera and the overlay's (``realtime.placement``), and the box."""

    track_id: int
    vertices: np.ndarray
    transl: np.ndarray
    render_transl: np.ndarray
    box: np.ndarray


class OverlayRenderer:
    """``draw(frame_bgr, people, faces)`` → the frame with the meshes blended in (BGR uint8).

    Create and use it on one thread (it owns an OpenGL context). ``alpha`` is the meshes' opacity.
    """

    def __init__(self, width: int, height: int, alpha: float = 0.7) -> None:
        self.width, self.height, self.alpha = int(width), int(height), float(alpha)
        self.focal = FOCAL_PX  # with Open3D's principal point (placement.render_principal): what render_transl assumes
        self.renderer = SnapshotRenderer(self.width, self.height, background=(0.0, 0.0, 0.0), show_ground=False)

    def draw(self, frame_bgr: np.ndarray, people: Sequence[PersonMesh], faces: np.ndarray) -> np.ndarray:
        h, w = frame_bgr.shape[:2]
        if (w, h) != (self.width, self.height):
            raise ValueError(f"frame is {w}×{h}, the overlay renderer was made for {self.width}×{self.height}")
        out = frame_bgr.copy()
        if people:
            trans = np.stack([p.render_transl for p in people])
            items = [MeshItem(p.vertices + t, faces, track_colour(p.track_id)) for p, t in zip(people, trans)]
            target = (0.0, 0.0, float(np.mean(trans[:, 2])))
            rgb = self.renderer.render(items, view=((0.0, 0.0, 0.0), target, (0.0, -1.0, 0.0)), focal=self.focal)
            mask = rgb.max(axis=2) > 0
            bgr = rgb[..., ::-1].astype(np.float32)
            blended = (1.0 - self.alpha) * out[mask].astype(np.float32) + self.alpha * bgr[mask]
            out[mask] = np.clip(blended, 0, 255).astype(np.uint8)
        for p in people:
            colour = bgr255(p.track_id)
            x0, y0, x1, y1 = (int(round(v)) for v in p.box)
            cv2.rectangle(out, (x0, y0), (x1, y1), colour, 2)
            cv2.putText(out, f"#{p.track_id}", (x0, max(18, y0 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, 2, cv2.LINE_AA)
        return out

    def close(self) -> None:
        self.renderer.close()
