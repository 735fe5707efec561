"""A frame's tracked people → the ``frame_encoder`` inputs, prepared exactly as the training data was.

For each person (a :class:`~realtime.detection.PersonPose`):

* ``rgb``: the VIBE crop — a square of side 1.2 × the longer side of the track's box, centred on it
  (:func:`~realtime.detection.crop_box`), cut by ``training.preprocessing.cut_crop`` (the crop training uses)
  at the model's crop size, ImageNet-normalised; or, when
  the model's V-CNN is BlazePose (``rgb_input="blazepose"``), the tracker's BlazePose outputs for the person
  in that crop's coordinates, ``(33, 9)``, made by ``training.blazepose_input.frame_features`` as the
  training shards are (no second landmark run: the tracker's pass is the V-CNN's);
* ``flow``: the backward flow from this crop to the same track's previous crop (each cut with its own
  box, as ``training.batches.provider_flow_fn`` does on training clips), zero on a track's first frame;
* ``keypoints``: MediaPipe's 33 landmarks in the crop's normalised coordinates ``[-1, 1]`` with their
  visibility, ``z = 0`` (as the training data carries none).

No torch: numpy and OpenCV; the flow providers come from ``training.flow`` and the BlazePose features
from ``training.blazepose_input`` (both torch-free).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np

from training.blazepose_input import CHANNELS, NUM_LANDMARKS, crop_landmarks, frame_features, world_in_region_axes
from training.landmark_smoothing import LandmarkSmoother
from training.preprocessing import IMAGENET_MEAN, IMAGENET_STD, cut_crop, imagenet_normalise

from .detection import PersonPose, crop_box

__all__ = ["CROP_SCALE", "FrameInputs", "PersonInputs"]

#: VIBE's crop: the person box's longer side × this.
CROP_SCALE = 1.2


@dataclass
class FrameInputs:
    """One frame's people: ``ids`` (track ids), ``inputs`` (``rgb (B, 3, S, S)``, ``flow (B, 2, S, S)``,
    ``keypoints (B, 33, 4)``; only the streams asked for), the uint8 RGB ``crops (B, S, S, 3)``, and the
    crop ``matrices (B, 2, 3)`` (frame → crop points, ``training.preprocessing.crop_affine``) to map predictions back onto the frame."""

    ids: list[int]
    inputs: dict[str, np.ndarray]
    crops: np.ndarray
    matrices: np.ndarray

    def to_frame(self, i: int, points_norm: np.ndarray) -> np.ndarray:
        """Person ``i``'s points in normalised crop coordinates ``(..., 2)`` → frame pixels."""
        size = self.crops.shape[1]
        crop_px = (np.asarray(points_norm, np.float64) + 1.0) * size / 2.0
        m = self.matrices[i].astype(np.float64)
        a, t = m[:, :2], m[:, 2]
        return (crop_px - t) @ np.linalg.inv(a).T


class PersonInputs:
    """Builds :class:`FrameInputs` frame after frame; remembers each track's last crop for the flow."""

    def __init__(self, crop_size: int, streams: Sequence[str] = ("rgb", "flow", "keypoints"),
                 flow_provider: Optional[str] = "dis", scale: float = CROP_SCALE, rgb_input: str = "crops",
                 smoothing: Optional[tuple[float, ...]] = None, rgb_mean: Sequence[float] = tuple(IMAGENET_MEAN),
                 rgb_std: Sequence[float] = tuple(IMAGENET_STD)) -> None:
        if rgb_input not in ("crops", "blazepose"):
            raise ValueError(f"rgb_input must be 'crops' or 'blazepose', got {rgb_input!r}")
        self.crop_size, self.streams, self.scale, self.rgb_input = crop_size, tuple(streams), scale, rgb_input
        self.rgb_mean, self.rgb_std = tuple(rgb_mean), tuple(rgb_std)  # the bundle's (manifest), ImageNet's by default
        #: Filters on the landmarks, per track ((min_cutoff Hz, beta[, release_cutoff Hz]): ``LandmarkSmoother``;
        #: None or all cutoffs 0 = raw landmarks and confidences)
        on = smoothing is not None and (smoothing[0] > 0 or (len(smoothing) > 2 and smoothing[2] > 0))
        self.smoother = LandmarkSmoother(*smoothing) if on else None
        self.provider = None
        if "flow" in self.streams:
            from training.flow import make_provider

            self.provider = make_provider(flow_provider or "dis")
        self.previous: dict[int, np.ndarray] = {}

    @classmethod
    def for_manifest(cls, manifest, flow_provider: Optional[str] = None, scale: float = CROP_SCALE,
                     smoothing: Optional[tuple[float, float]] = None) -> "PersonInputs":
        """The builder a bundle's ``frame_encoder`` needs (:class:`engines.manifest.Manifest`: crop size,
        streams, flow provider, what the ``rgb`` input holds); ``smoothing``: see ``__init__``."""
        return cls(manifest.crop_size, manifest.streams, flow_provider or manifest.flow_provider, scale, manifest.rgb_input,
                   smoothing, manifest.rgb_mean, manifest.rgb_std)

    def build(self, frame_bgr: np.ndarray, people: Sequence[PersonPose], time_s: Optional[float] = None) -> FrameInputs:
        """The inputs for these people in this frame; ``time_s`` (seconds) paces the landmark smoothing."""
        s = self.crop_size
        ids, crops, mats, kps, flows, blaze = [], [], [], [], [], []
        rgb_frame = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        for person in people:
            cx, cy, side = crop_box(person.track.box, self.scale)
            crop, m = cut_crop(rgb_frame, (cx, cy, side), s)
            lm = person.landmarks
            # the world landmarks in BlazePose's region's axes, as the V-stream was trained on them (filtered there too)
            world = None if lm.world is None else world_in_region_axes(lm.world, lm.roi.angle)
            image = np.concatenate([lm.xy, lm.z[:, None]], 1)
            visibility, presence = lm.visibility, lm.presence
            if self.smoother is not None:
                image, world = self.smoother.smooth(person.id, image, world, side, time_s)
                visibility, presence = self.smoother.hold(person.id, visibility, presence, time_s)
            xyz = crop_landmarks(image[:, :2], image[:, 2], m, s)
            kps.append(np.concatenate([xyz[:, :2], np.zeros((len(xyz), 1), np.float32), visibility[:, None].astype(np.float32)], 1))
            if self.rgb_input == "blazepose":
                world = world if world is not None else np.zeros((len(xyz), 3), np.float32)
                blaze.append(frame_features(xyz, visibility, presence, world, lm.score))
            prev = self.previous.get(person.id)
            if self.provider is not None:
                flows.append(self.provider.flow(prev, crop) if prev is not None else np.zeros((2, s, s), np.float32))
            self.previous[person.id] = crop
            ids.append(person.id)
            crops.append(crop)
            mats.append(m)
        crops_arr = np.stack(crops) if crops else np.zeros((0, s, s, 3), np.uint8)
        inputs: dict[str, np.ndarray] = {}
        if "rgb" in self.streams and self.rgb_input == "blazepose":
            inputs["rgb"] = np.stack(blaze) if blaze else np.zeros((0, NUM_LANDMARKS, len(CHANNELS)), np.float32)
        elif "rgb" in self.streams:
            inputs["rgb"] = imagenet_normalise(crops_arr, self.rgb_mean, self.rgb_std)
        if "flow" in self.streams:
            inputs["flow"] = np.stack(flows).astype(np.float32) if flows else np.zeros((0, 2, s, s), np.float32)
        if "keypoints" in self.streams:
            inputs["keypoints"] = np.stack(kps) if kps else np.zeros((0, 33, 4), np.float32)
        return FrameInputs(ids, inputs, crops_arr, np.stack(mats) if mats else np.zeros((0, 2, 3), np.float32))

    def forget(self, track_id: int) -> None:
        """A track ended or was lost: its next frame starts with zero flow and unsmoothed landmarks."""
        self.previous.pop(track_id, None)
        if self.smoother is not None:
            self.smoother.forget(track_id)
