"""Preprocessing shared by training, the generator and the live app (torch-free): the image normalisation
the image streams expect, square person crops around a bbox and the matching keypoint normalisation.

A bbox ``(cx, cy, w, h)`` (pixels) gives a square crop of side ``scale · max(w, h)`` centred on
``(cx, cy)`` (VIBE: square boxes, ``scale`` = 1.2). The crop is resampled to ``size × size``; parts
outside the image are padded with black. Keypoints are normalised to the crop's [-1, 1] coordinates:
``(x − cx) / (side / 2)``, so the bbox centre maps to 0 and the crop's left/right (top/bottom) edges
to −1/+1.

Pixel convention (MediaPipe's): continuous coordinates, 0 = the image's left/top edge, pixel ``i`` covers
``[i, i + 1)``. :func:`crop_affine` maps points in those coordinates from the frame to the crop (normalised
``u`` sits at crop coordinate ``(u + 1) · size / 2``); :func:`warp_matrix` turns such a map into the one
``cv2.warpAffine`` takes (pixel centres at integers). :func:`cut_crop` is the one crop of the project:
training's :func:`crop_image` and the live app's person inputs both call it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "crop_square",
    "crop_affine",
    "warp_matrix",
    "cut_crop",
    "crop_image",
    "normalise_keypoints",
    "imagenet_normalise",
]

#: ImageNet statistics of RGB values in [0, 1].
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def crop_square(bbox: np.ndarray, scale: float = 1.2) -> np.ndarray:
    """``(..., 4)`` bboxes ``(cx, cy, w, h)`` → ``(..., 3)`` squares ``(cx, cy, side)``, side = scale·max(w, h)."""
    bbox = np.asarray(bbox, np.float64)
    side = scale * np.maximum(bbox[..., 2], bbox[..., 3])
    return np.stack([bbox[..., 0], bbox[..., 1], side], axis=-1)


def crop_affine(square, size: int) -> np.ndarray:
    """The 2×3 map of points from frame to crop coordinates (continuous pixels) of one square
    ``(cx, cy, side)``: ``size / side · (x − cx) + size / 2``."""
    cx, cy, side = (float(v) for v in square)
    if not side > 0:
        raise ValueError(f"crop side must be > 0, got bbox side {side} (a zero-size bbox in the data?)")
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]], np.float64)


def warp_matrix(points_map: np.ndarray) -> np.ndarray:
    """A 2×3 point map in continuous pixel coordinates → the same map for ``cv2.warpAffine``, whose pixel
    ``i`` is the point ``i + 0.5``: ``t' = t + (A·[½, ½] − ½)``."""
    m = np.array(points_map, np.float64)
    m[:, 2] += 0.5 * m[:, :2].sum(1) - 0.5
    return m


def cut_crop(image: np.ndarray, square, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``size × size`` crop of ``square (cx, cy, side)`` from ``image (H, W, C)`` (bilinear, black
    outside the image) and its point map (:func:`crop_affine`, float32)."""
    import cv2

    m = crop_affine(square, size)
    crop = cv2.warpAffine(image, warp_matrix(m), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, m.astype(np.float32)


def crop_image(image: np.ndarray, bbox: np.ndarray, size: int, scale: float = 1.2) -> np.ndarray:
    """Cut the square crop of ``bbox (cx, cy, w, h)`` from ``image`` (H, W, C) → (size, size, C)."""
    return cut_crop(image, crop_square(bbox, scale), size)[0]


def normalise_keypoints(kp: np.ndarray, bbox: np.ndarray, scale: float = 1.2) -> np.ndarray:
    """Pixel keypoints → crop coordinates in [-1, 1] (confidence kept).

    kp: (T, J, 2 or 3) pixels (+ confidence); bbox: (T, 4) ``(cx, cy, w, h)``. Returns the same shape.
    """
    kp = np.asarray(kp, np.float32)
    sq = crop_square(bbox, scale)  # (T, 3)
    out = kp.copy()
    half = (sq[:, 2] / 2.0)[:, None]
    out[..., 0] = (kp[..., 0] - sq[:, None, 0]) / half
    out[..., 1] = (kp[..., 1] - sq[:, None, 1]) / half
    return out


def imagenet_normalise(rgb_uint8: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB → (..., 3, H, W) float32, normalised with ``mean``/``std`` of RGB in [0, 1]
    (ImageNet's unless a bundle's manifest says otherwise)."""
    x = (rgb_uint8.astype(np.float32) * (1.0 / 255.0) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))
