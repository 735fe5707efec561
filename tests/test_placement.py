"""Where a person stands is worked out once (``realtime.placement``) and every sink reads it: the same person cut
with another ``tracking.crop_scale`` is exported and streamed at the same place."""

from __future__ import annotations

import numpy as np
import pytest

from fake_packets import CROP, FRAME_H, FRAME_W, make_packets
from realtime.detection.tracker import crop_box
from realtime.export.bvh import export_bvh, read_bvh
from realtime.frame_camera import person_translations
from realtime.recording import ResultWriter, read_track
from realtime.person_inputs import FrameInputs
from training.preprocessing import crop_affine
from realtime.placement import place_people
from realtime.results import FrameResults
from realtime.publish.websocket import frame_message
from realtime.skeleton import CAMERA_TO_WORLD, frame_focal, load_rest_body

TRUE_T = np.array([0.4, -0.2, 3.5])  # metres, in the frame camera


def _seen_with(crop_scale: float) -> list:
    """The demo packets' people, every one cut from the frame with ``crop_scale`` and given the weak-perspective
    camera that puts it at ``TRUE_T`` in the frame camera, as a model that sees the person right would."""
    packets = make_packets(6, ids=(0,), seed=3)
    f, principal = frame_focal(FRAME_W), (FRAME_W / 2, FRAME_H / 2)
    for p in packets:
        square = np.array(crop_box(p.people[0].track.box, crop_scale))
        p.inputs = FrameInputs([0], {}, np.zeros((1, CROP, CROP, 3), np.uint8), crop_affine(square, CROP)[None])
        z = TRUE_T[2]
        cam = np.array([[2 * f / (z * square[2]), TRUE_T[0] - (square[0] - principal[0]) * z / f,
                         TRUE_T[1] - (square[1] - principal[1]) * z / f]])
        res = p.results.arrays()
        res["cam"] = cam.astype(np.float32)
        res["theta"][:, -3:] = res["cam"]
        res["joints2d"] = (cam[:, None, :1] * (res["joints3d"][..., :2] + cam[:, None, 1:])).astype(np.float32)
        p.results = FrameResults.from_outputs([0], res, place_people(res, p.inputs.matrices, CROP, (FRAME_W, FRAME_H)))
    return packets


def test_placement_matches_the_frame_camera_and_the_crops_own_mapping():
    (p, *_) = _seen_with(1.4)
    place = p.results.placement
    np.testing.assert_allclose(place.transl[0], TRUE_T, atol=1e-4)
    np.testing.assert_allclose(place.joints2d_px[0], p.inputs.to_frame(0, p.results.joints2d[0]), atol=1e-3)
    sq = place.squares
    np.testing.assert_allclose(place.render_transl, person_translations(p.results.cam, sq, (FRAME_W / 2 - 0.5, FRAME_H / 2 - 0.5), 5000.0))


@pytest.mark.parametrize("other_scale", [1.0, 1.6])
def test_another_crop_scale_does_not_move_the_exported_or_streamed_person(tmp_path, other_scale):
    roots, streamed, pixels = {}, {}, {}
    for scale in (1.2, other_scale):
        packets = _seen_with(scale)
        out = tmp_path / f"scale{scale}"
        writer = ResultWriter(out)
        for p in packets:
            writer.write(p)
        writer.close()
        np.testing.assert_allclose(read_track(out, 0)["transl"], np.tile(TRUE_T, (len(packets), 1)), atol=1e-4)
        bvh = read_bvh(export_bvh(out, 0, tmp_path / f"{scale}.bvh", units="m"))
        rest = load_rest_body().joints(read_track(out, 0)["betas"].astype(np.float64).mean(0))
        np.testing.assert_allclose(bvh.root_positions, np.tile(CAMERA_TO_WORLD @ (rest[0] + TRUE_T), (len(packets), 1)), atol=1e-4)
        roots[scale] = bvh.root_positions
        streamed[scale] = np.array([frame_message(p, 0.0)["people"][0]["transl"] for p in packets])
        pixels[scale] = np.stack([p.results.placement.joints2d_px[0] for p in packets])
    np.testing.assert_allclose(roots[1.2], roots[other_scale], atol=1e-4)
    np.testing.assert_allclose(streamed[1.2], streamed[other_scale], atol=1e-4)
    np.testing.assert_allclose(streamed[1.2], np.tile(TRUE_T, (len(streamed[1.2]), 1)), atol=1e-4)
    np.testing.assert_allclose(pixels[1.2], pixels[other_scale], atol=1e-2)
