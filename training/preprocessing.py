"""Preprocessing shared by training, the generator and the live app (torch-free): the image normalisation
the image streams expect, square person crops around a bbox and the matching keypoint normalisation.

A bbox ``(cx, cy, w, h)`` (pixels) gives a square crop of side ``scale · max(w, h)`` centred on
``(cx, cy)`` (VIBE: square boxes, ``scale`` = 1.2). The crop is resampled to ``size × size``; parts
outside the image are padded with black. Keypoints are normalised to the crop's [-1, 1] coordinates:
``(x − cx) / (side / 2)``, so the bbox centre maps to 0 and the crop's left/right (top/bottom) edges
to −1/+1.

Pixel convention: image coordinates have pixel centres at integers (OpenCV's), so the crop's extent
``[cx − side/2, cx + side/2]`` maps onto the output's full extent ``[−0.5, size − 0.5]`` in output
pixel indices; normalised ``u`` sits at output index ``(u + 1) · size / 2 − 0.5``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "crop_square",
    "crop_affine",
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


def crop_affine(square: np.ndarray, size: int) -> np.ndarray:
    """The 2×3 image → crop map (OpenCV ``warpAffine`` convention) of one square ``(cx, cy, side)``."""
    cx, cy, side = (float(v) for v in square)
    if not side > 0:
        raise ValueError(f"crop side must be > 0, got bbox side {side} (a zero-size bbox in the data?)")
    s = size / side
    x0, y0 = cx - side / 2, cy - side / 2
    return np.array([[s, 0.0, -x0 * s - 0.5], [0.0, s, -y0 * s - 0.5]], np.float64)


def crop_image(image: np.ndarray, bbox: np.ndarray, size: int, scale: float = 1.2) -> np.ndarray:
    """Cut the square crop of ``bbox`` from ``image`` (H, W, C) → (size, size, C), black outside the image."""
    import cv2

    m = crop_affine(crop_square(bbox, scale), size)
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


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
