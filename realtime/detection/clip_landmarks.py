"""BlazePose on a generated clip, exactly as the live app runs it on a camera (MediaPipe in the loop).

The synthetic generator knows the true pose; the model must learn from what the live tracker will feed
it, mistakes included. :func:`landmarks_of_person` plays a clip's frames, in order, through a
:class:`MultiPersonPose` (build it with ``MultiPersonPose.from_tracking(live_config.tracking)``: the same
detector, regions, following and tracking as ``dtsvibe-live``) and keeps, per frame, everything the
landmark model said about the labelled person: the track whose box holds most of that person's visible
true keypoints. Numpy in, numpy out, no torch; ``tools/make_synthetic.py --blazepose`` stores the result
beside the exact labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from .landmarks import NUM_LANDMARKS, Landmarks
from .multi_person import MultiPersonPose
from .runtime import EMBEDDING_SIZE

__all__ = ["ClipLandmarks", "landmarks_of_person"]


@dataclass
class ClipLandmarks:
    """BlazePose's view of one person over a clip of ``T`` frames (frame pixels; zeros where not found).

    found ``(T,)`` bool; landmarks ``(T, 33, 5)``: x, y, z (pixels, z relative to the hips), visibility,
    presence; world ``(T, 33, 3)`` metres, hip-centred; score ``(T,)`` pose presence; roi ``(T, 4)`` the
    region the model saw: centre x, y, side (pixels), rotation (radians); heatmaps ``(T, 39, h, h)`` float16,
    the 64² landmark heatmaps average-pooled to ``h``²; segmentation ``(T, m, m)`` uint8, the person mask
    (sigmoid × 255) resized to ``m``². Heatmaps and mask lie in the region's square, not the frame's.
    embedding ``(T, 1152)`` float16, the network's last feature map, only when the landmark model outputs it
    (None otherwise, and not stored).
    """

    found: np.ndarray
    landmarks: np.ndarray
    world: np.ndarray
    score: np.ndarray
    roi: np.ndarray
    heatmaps: np.ndarray
    segmentation: np.ndarray
    embedding: Optional[np.ndarray] = None

    def arrays(self, prefix: str = "mp_") -> dict[str, np.ndarray]:
        """The fields as named arrays (``mp_found``, ``mp_landmarks`` …) for a shard."""
        return {prefix + k: v for k, v in vars(self).items() if v is not None}


def landmarks_of_person(
    frames_rgb: np.ndarray,
    person_xy: np.ndarray,
    pose: MultiPersonPose,
    heatmap_size: int = 16,
    mask_size: int = 64,
    min_inside: float = 0.5,
    embedding: bool = False,
) -> ClipLandmarks:
    """Run ``pose`` over ``frames_rgb`` ``(T, H, W, 3)`` uint8 RGB, in order, and keep the labelled person.

    ``person_xy`` ``(T, K, 3)``: the person's true keypoints in frame pixels and their visibility (0/1);
    a track counts as that person when it holds the largest share of them, at least ``min_inside``.
    ``pose`` should be fresh (its tracker starts empty), as at the start of a live stream. ``embedding``: keep
    the landmark model's feature map too (its estimator must run the ONNX copy that outputs it)."""
    if 64 % heatmap_size or heatmap_size < 1:
        raise ValueError(f"heatmap_size must divide 64, got {heatmap_size}")
    t = len(frames_rgb)
    out = ClipLandmarks(
        found=np.zeros(t, bool), landmarks=np.zeros((t, NUM_LANDMARKS, 5), np.float32),
        world=np.zeros((t, NUM_LANDMARKS, 3), np.float32), score=np.zeros(t, np.float32), roi=np.zeros((t, 4), np.float32),
        heatmaps=np.zeros((t, 39, heatmap_size, heatmap_size), np.float16), segmentation=np.zeros((t, mask_size, mask_size), np.uint8),
        embedding=np.zeros((t, EMBEDDING_SIZE), np.float16) if embedding else None,
    )
    for i, rgb in enumerate(frames_rgb):
        people = pose.process(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), i)
        lm = _labelled(people, person_xy[i], min_inside)
        if lm is not None:
            _store(out, i, lm, heatmap_size, mask_size)
    return out


def _labelled(people, xy: np.ndarray, min_inside: float) -> Optional[Landmarks]:
    """The landmarks of the track whose box holds the largest share of the visible points ``xy``."""
    pts = xy[xy[:, 2] > 0.5, :2]
    if not len(pts) or not people:
        return None
    shares = []
    for p in people:
        x0, y0, x1, y1 = p.track.box
        shares.append(np.mean((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)))
    best = int(np.argmax(shares))
    return people[best].landmarks if shares[best] >= min_inside else None


def _store(out: ClipLandmarks, i: int, lm: Landmarks, heatmap_size: int, mask_size: int) -> None:
    out.found[i] = True
    out.landmarks[i] = np.concatenate([lm.xy, lm.z[:, None], lm.visibility[:, None], lm.presence[:, None]], 1)
    out.score[i] = lm.score
    out.roi[i] = (lm.roi.cx, lm.roi.cy, lm.roi.size, lm.roi.angle)
    if lm.world is not None:
        out.world[i] = lm.world
    if out.embedding is not None:
        if lm.embedding is None:
            raise ValueError("embedding=True needs a landmark model that outputs it (runtime.landmark_onnx_with_embedding)")
        out.embedding[i] = lm.embedding.astype(np.float16)
    if lm.heatmaps is not None:
        k = 64 // heatmap_size
        pooled = lm.heatmaps.reshape(heatmap_size, k, heatmap_size, k, -1).mean((1, 3))  # (h, h, 39)
        out.heatmaps[i] = np.moveaxis(pooled, -1, 0).astype(np.float16)
    if lm.segmentation is not None:
        small = cv2.resize(lm.segmentation.astype(np.float32), (mask_size, mask_size), interpolation=cv2.INTER_AREA)
        out.segmentation[i] = np.round(127.5 * (1.0 + np.tanh(small / 2.0))).astype(np.uint8)  # sigmoid, no overflow
