"""One preprocessing module (``training.preprocessing``) for training and live: the same crop of the same frame
and box, points that land where the crop shows them, and the normalisation a bundle's manifest states is the
one the live app applies."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from realtime.detection.landmarks import Landmarks
from realtime.detection.multi_person import PersonPose
from realtime.detection.tracker import Track
from realtime.person_inputs import PersonInputs
import pytest

from training.preprocessing import (IMAGENET_MEAN, IMAGENET_STD, crop_affine, crop_image, imagenet_normalise,
                                    normalise_keypoints)


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


def test_a_training_crop_and_a_live_crop_of_the_same_frame_and_box_are_the_same_image():
    frame = np.random.default_rng(1).integers(0, 255, (240, 320, 3), np.uint8)
    person = _person()
    x0, y0, x1, y1 = person.track.box
    live = PersonInputs(32, streams=("rgb",), flow_provider=None).build(frame[..., ::-1].copy(), [person])
    trained = crop_image(frame, np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]), 32, scale=1.2)
    np.testing.assert_array_equal(live.crops[0], trained)


@pytest.mark.parametrize("square", [(160.0, 120.0, 96.0), (150.3, 101.7, 200.0), (60.5, 200.25, 37.0)])
def test_a_point_lands_where_the_crop_shows_it(square):
    """A bright spot's centre (MediaPipe's continuous coordinates: pixel i spans [i, i + 1)) maps through the
    crop's point map onto where the crop shows it, and its normalised keypoint says the same (< 0.1 px)."""
    size = 64
    cx, cy, side = square
    q = np.array([cx + side * 0.2 + 0.3, cy - side * 0.15 - 0.2])
    sigma = max(1.5, 1.5 * side / size)  # wide enough that the resampling sees its profile
    ys, xs = np.mgrid[:240, :320]
    frame = np.exp(-((xs + 0.5 - q[0]) ** 2 + (ys + 0.5 - q[1]) ** 2) / (2 * sigma**2)).astype(np.float32)
    crop = crop_image(frame[..., None].repeat(3, -1), np.array([cx, cy, side / 1.2, side / 1.2]), size, 1.2)[..., 0]
    ys, xs = np.mgrid[:size, :size]
    seen = np.array([(crop * (xs + 0.5)).sum(), (crop * (ys + 0.5)).sum()]) / crop.sum()  # continuous coordinates
    m = crop_affine(square, size)
    mapped = m[:, :2] @ q + m[:, 2]
    assert np.abs(mapped - seen).max() < 0.1
    u = normalise_keypoints(q[None, None], np.array([[cx, cy, side / 1.2, side / 1.2]]))[0, 0]
    np.testing.assert_allclose((u + 1) * size / 2, mapped, atol=1e-3)
