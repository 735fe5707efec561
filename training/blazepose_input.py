"""BlazePose's outputs → the V-stream's per-frame input, for the lite default (``streams.rgb.backbone: blazepose``).

The paper's V-CNN is a network pretrained on real people (SPIN) whose features VIBE keeps frozen. The lite
default does the same with what ships here: MediaPipe's BlazePose GHUM landmark network, which the live
tracker already runs once per person per frame. Its outputs, gathered by :func:`frame_features` into one
``(33, 9)`` array per person and frame, are the V-stream's input:

=========  ========================================================================================
channel    meaning
=========  ========================================================================================
0, 1       x, y: the 33 image landmarks in the model crop's normalised coordinates [-1, 1] (as ``kp2d``)
2          z: depth relative to the hips, in the same units as x
3, 4       visibility, presence (0‥1)
5, 6, 7    the world landmarks: metres, origin between the hips, in the axes of BlazePose's region
           (its network's own output, :func:`world_in_region_axes`)
8          the pose score (0‥1), the same on every row
=========  ========================================================================================

A frame where BlazePose did not find the person is all zeros (score 0). Numpy only: the generator's
shards (``mp_*`` arrays, see ``tools/make_synthetic.py --blazepose``) and the live app
(``realtime.person_inputs``) both call :func:`frame_features`, so training and live inputs are made by
one function.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHANNELS", "IDENTITY", "NUM_LANDMARKS", "crop_landmarks", "frame_features", "shard_features", "world_in_image_axes",
           "world_in_region_axes"]

NUM_LANDMARKS = 33
CHANNELS = ("x", "y", "z", "visibility", "presence", "world_x", "world_y", "world_z", "score")


#: The frame → crop matrix of a frame that is the crop itself (the generator runs BlazePose on its crops).
IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)


def crop_landmarks(xy: np.ndarray, z: np.ndarray, matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """BlazePose's image landmarks in frame pixels, ``xy (…, 33, 2)`` and ``z (…, 33)`` (same pixel scale as x),
    → ``(…, 33, 3)`` in the crop's normalised coordinates, through the 2×3 frame → crop-pixel ``matrix`` (a
    uniform scale and a shift: ``training.preprocessing.crop_affine``; :data:`IDENTITY` when the frame is the
    crop). Continuous pixel coordinates (0 = the crop's left edge), as MediaPipe gives them and as
    ``realtime.person_inputs.FrameInputs.to_frame`` and the frame camera map back. (The shards of 2026-11-26
    were written with the generator's pixel-centre convention, ``training.synthetic.geometry.pixel_to_norm``:
    half a crop pixel, 0.008 crop units, away; the model's training noise and ``recrop`` cover it.)"""
    m = np.asarray(matrix, np.float64)
    px = np.asarray(xy, np.float64) @ m[:, :2].T + m[:, 2]
    norm = px / crop_size * 2.0 - 1.0
    depth = np.asarray(z, np.float64) * m[0, 0] * 2.0 / crop_size
    return np.concatenate([norm, depth[..., None]], -1).astype(np.float32)


def world_in_image_axes(world: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """BlazePose's world landmarks as its network gives them — in the axes of the upright region it was shown,
    ``world (…, 33, 3)`` — turned into the image's axes by the region's rotation ``angle (…)`` (radians,
    :class:`realtime.detection.blazepose.Roi`'s convention), as MediaPipe's own pose solution does
    (``WorldLandmarkProjectionCalculator``: x, y rotated, z kept). For a person whose region is turned — bent over,
    lying, a tilted camera — the network's raw world landmarks lie turned by that angle against the image."""
    world = np.asarray(world)
    a = np.asarray(angle, np.float64)[..., None]
    c, s = np.cos(a), np.sin(a)
    x, y = world[..., 0].astype(np.float64), world[..., 1].astype(np.float64)
    return np.stack([c * x - s * y, s * x + c * y, world[..., 2]], -1).astype(world.dtype)


def world_in_region_axes(world: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`world_in_image_axes`: world landmarks in the image's axes (MediaPipe's, and
    ``Landmarks.world``) → in the axes of the region BlazePose was shown, its network's own output. The V-stream
    reads them so: a body turned upright with the region, the input the lite default was trained on (on the
    held-out renders it beats the image's axes — ``training/checkpoints/README.md``, "World landmarks in the image's
    axes")."""
    return world_in_image_axes(world, -np.asarray(angle, np.float64))


def frame_features(
    xyz: np.ndarray, visibility: np.ndarray, presence: np.ndarray, world: np.ndarray, score: np.ndarray | float
) -> np.ndarray:
    """``xyz (…, 33, 3)`` crop-normalised, ``visibility``/``presence (…, 33)``, ``world (…, 33, 3)`` metres in the
    region's axes (:func:`world_in_region_axes`),
    ``score (…)`` → ``(…, 33, 9)`` float32 (see the module table)."""
    xyz = np.asarray(xyz, np.float32)
    lead = xyz.shape[:-2]
    score = np.broadcast_to(np.asarray(score, np.float32)[..., None, None], (*lead, NUM_LANDMARKS, 1))
    out = np.concatenate(
        [xyz, np.asarray(visibility, np.float32)[..., None], np.asarray(presence, np.float32)[..., None],
         np.asarray(world, np.float32), score], axis=-1)
    if out.shape[-2:] != (NUM_LANDMARKS, len(CHANNELS)):
        raise ValueError(f"BlazePose features must be (…, {NUM_LANDMARKS}, {len(CHANNELS)}), got {out.shape}")
    return np.nan_to_num(out, copy=False)


def shard_features(mp: dict[str, np.ndarray]) -> np.ndarray:
    """A generated clip's BlazePose arrays (``mp_landmarks (T, 33, 5)`` crop-normalised, ``mp_world`` in the image's
    axes, ``mp_roi (T, 4)`` whose last column is the region's angle, ``mp_score``, ``mp_found``) → ``(T, 33, 9)``, zeros
    where BlazePose missed the person."""
    lm = np.asarray(mp["mp_landmarks"], np.float32)
    world = np.asarray(mp["mp_world"], np.float32)
    if "mp_roi" in mp:
        world = world_in_region_axes(world, np.asarray(mp["mp_roi"])[..., 3])
    out = frame_features(lm[..., :3], lm[..., 3], lm[..., 4], world, mp["mp_score"])
    out[~np.asarray(mp["mp_found"], bool)] = 0.0
    return out
