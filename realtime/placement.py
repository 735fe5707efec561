"""Where each person stands, worked out once per frame right after the model; every sink reads it.

The model answers in a person's crop: a weak-perspective camera ``(s, tx, ty)`` and 2D joints in the
crop's normalised coordinates. Placed on the frame (:class:`FramePlacement`):

* ``squares (B, 3)``: each crop square ``(cx, cy, side)`` in frame pixels, from the crop matrices the crops
  were actually cut with (so ``tracking.crop_scale`` is whatever the run used);
* ``joints2d_px (B, 49, 2)``: the 2D joints in frame pixels;
* ``transl (B, 3)``: each body's translation in **the frame camera** (camera axes, metres: x right, y down,
  z forward), a pinhole camera with a webcam-like field of view (``fov_deg``, 60° by default) and the
  principal point at the frame's centre (``realtime.frame_camera.person_translations``): the 3D view, the
  publishers (WebSocket, VMC) and the track files (hence the BVH/glTF exports) all place people with it;
* ``render_transl (B, 3)``: the same people for the overlay's renderer, whose near-orthographic camera
  (``realtime.frame_camera.FOCAL_PX``) reproduces the weak perspective the model was fitted in, so the mesh
  lands on the person pixel for pixel. It is a rendering device for the overlay only, not a second placement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .frame_camera import FOCAL_PX, crop_squares, person_translations
from .skeleton import DEFAULT_FOV_DEG, frame_focal

__all__ = ["FramePlacement", "render_principal", "place_people"]


def render_principal(width: int, height: int) -> tuple[float, float]:
    """Where Open3D's offscreen renderer puts the principal point of a ``width × height`` image (pixel centres)."""
    return (width / 2.0 - 0.5, height / 2.0 - 0.5)


@dataclass
class FramePlacement:
    """One frame's people on the frame (module docstring); row ``i`` is the results' ``ids[i]``."""

    squares: np.ndarray
    joints2d_px: np.ndarray
    transl: np.ndarray
    render_transl: np.ndarray


def place_people(results: Mapping[str, np.ndarray], matrices: np.ndarray, crop_size: int, frame_size: tuple[int, int],
                 fov_deg: float = DEFAULT_FOV_DEG) -> FramePlacement:
    """The placement of the people in ``results`` (the model's outputs by name, batch B: ``cam``, ``joints2d``)
    cut from a ``frame_size`` ``(width, height)`` frame with crop ``matrices (B, 2, 3)`` (frame → crop pixels)
    of ``crop_size``."""
    w, h = frame_size
    principal = (w / 2.0, h / 2.0)  # in the crops' pixel convention (pixel edges: the frame spans 0 … w)
    squares = crop_squares(matrices, crop_size)
    cam = np.asarray(results["cam"], np.float64)
    j = np.asarray(results["joints2d"], np.float64)[..., :2]  # crop-normalised [-1, 1] → frame pixels
    joints2d_px = squares[:, None, :2] + j * squares[:, None, 2:3] / 2.0
    return FramePlacement(squares=squares, joints2d_px=joints2d_px,
                          transl=person_translations(cam, squares, principal, frame_focal(w, fov_deg)),
                          render_transl=person_translations(cam, squares, render_principal(w, h), FOCAL_PX))
