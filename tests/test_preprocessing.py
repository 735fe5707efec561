"""One preprocessing module (``training.preprocessing``) for training and live: the normalisation a bundle's
manifest states is the one the live app applies."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from realtime.detection.landmarks import Landmarks
from realtime.detection.multi_person import PersonPose
from realtime.detection.tracker import Track
from realtime.person_inputs import PersonInputs
from training.preprocessing import IMAGENET_MEAN, IMAGENET_STD, imagenet_normalise


def _person() -> PersonPose:
    box = np.array([40.0, 20.0, 120.0, 200.0], np.float32)
    lm = Landmarks(xy=np.tile([80.0, 110.0], (33, 1)), z=np.zeros(33), visibility=np.ones(33), presence=np.ones(33),
                   score=0.9, roi=None, aux_xy=np.zeros((2, 2)))
    return PersonPose(Track(1, box, box.copy(), 0.9, 0), lm)


def _manifest(mean, std) -> SimpleNamespace:
    return SimpleNamespace(crop_size=32, streams=("rgb",), flow_provider=None, rgb_input="crops", rgb_mean=mean, rgb_std=std)


def test_live_crops_are_normalised_as_the_manifest_says():
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    imagenet = PersonInputs.for_manifest(_manifest(list(map(float, IMAGENET_MEAN)), list(map(float, IMAGENET_STD))))
    other = PersonInputs.for_manifest(_manifest([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]))
    a, b = imagenet.build(frame, [_person()]), other.build(frame, [_person()])
    np.testing.assert_array_equal(a.crops, b.crops)
    np.testing.assert_allclose(a.inputs["rgb"], imagenet_normalise(a.crops), atol=1e-6)
    np.testing.assert_allclose(b.inputs["rgb"], (b.crops.transpose(0, 3, 1, 2) / 255.0 - 0.5) / 0.25, atol=1e-5)
