"""Packets as the live pipeline makes them (``Frame`` → people with tracks → crops → engine results), with
random but valid joint rotations, for the publisher and exporter tests. Not a test module."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from realtime.detection.multi_person import PersonPose
from realtime.detection.tracker import Track, crop_box
from realtime.person_inputs import CROP_SCALE, FrameInputs
from training.preprocessing import crop_affine
from realtime.pipeline import Packet
from realtime.placement import place_people
from realtime.results import FrameResults
from realtime.sources import Frame

FRAME_W, FRAME_H, CROP = 320, 240, 64


def make_packets(n_frames: int = 8, ids: Sequence[int] = (0, 3), seed: int = 0, fps: float = 30.0,
                 absent: Optional[dict[int, set[int]]] = None, t_start: float = 1000.0) -> list[Packet]:
    """``n_frames`` packets; ``absent[track] = {frame indices}`` where that track is not seen. The true
    rotations are kept in ``packet.results.rotmat`` (B, 24, 3, 3) as the engine returns them; the placement
    is the inference stage's (``realtime.placement``)."""
    rng = np.random.default_rng(seed)
    absent = absent or {}
    packets = []
    for k in range(n_frames):
        t = t_start + k / fps + rng.uniform(0, 0.002)
        frame = Frame(k, np.zeros((FRAME_H, FRAME_W, 3), np.uint8), t, k / fps)
        here = [tid for tid in ids if k not in absent.get(tid, set())]
        people, mats = [], []
        for tid in here:
            x0, y0 = rng.uniform(10, 150), rng.uniform(5, 60)
            box = np.array([x0, y0, x0 + rng.uniform(40, 120), y0 + rng.uniform(100, 170)], np.float32)
            people.append(PersonPose(Track(tid, box, box.copy(), 0.9, k), landmarks=None))
            mats.append(crop_affine(crop_box(box, CROP_SCALE), CROP))
        b = len(here)
        packet = Packet(frame, people)
        if b:
            packet.inputs = FrameInputs(list(here), {}, np.zeros((b, CROP, CROP, 3), np.uint8), np.stack(mats))
            rot = Rotation.random(b * 24, random_state=rng).as_matrix().reshape(b, 24, 3, 3)
            rot6d = np.concatenate([rot[..., :, 0], rot[..., :, 1]], -1).reshape(b, 144)
            betas = rng.normal(size=(b, 10))
            cam = np.stack([rng.uniform(0.6, 1.2, b), rng.uniform(-0.2, 0.2, b), rng.uniform(-0.2, 0.2, b)], 1)
            joints3d = rng.normal(scale=0.4, size=(b, 49, 3))
            outputs = {k2: v.astype(np.float32) for k2, v in {
                "theta": np.concatenate([rot6d, betas, cam], 1), "rotmat": rot, "betas": betas, "cam": cam,
                "vertices": np.repeat(joints3d, 2, axis=1),
                "joints3d": joints3d, "joints2d": cam[:, None, :1] * (joints3d[..., :2] + cam[:, None, 1:]),
            }.items()}
            packet.results = FrameResults.from_outputs(here, outputs, place_people(outputs, packet.inputs.matrices, CROP, (FRAME_W, FRAME_H)))
        packet.t_output = t + 0.03
        packets.append(packet)
    return packets
