"""One body streamed to avatar apps with the VMC protocol (Virtual Motion Capture: OSC over UDP).

:class:`VMCPublisher` is the *performer*: per frame it sends one OSC bundle to the *marionette*
(EVMC4U, VMC4UE, VMC4B, VSeeFace…, which listen on port 39539 by default)::

    /VMC/Ext/OK        (int) loaded=1 (int) calibration state=3 (int) calibration mode=0 (int) tracking 1|0
    /VMC/Ext/T         (float) seconds since the publisher started
    /VMC/Ext/Root/Pos  (string) "root"  (float) p.x p.y p.z q.x q.y q.z q.w
    /VMC/Ext/Bone/Pos  (string) <Unity HumanBodyBones name> (float) p.x p.y p.z q.x q.y q.z q.w   × 22

Bone transforms are *local* (in the parent bone's frame), relative to the T-pose, as a normalised VRM
avatar expects (every bone's rest rotation is identity); positions are the rest offsets from the parent
bone of the body with the person's first β (``Hips``: its rest position above the floor, the lowest
point of the rest mesh). ``left_hand`` /
``right_hand`` (SMPL's palms) have no humanoid bone and are not sent. ``Root/Pos`` carries the body's
translation when ``root_motion`` is on (from the weak-perspective camera, see ``realtime.skeleton``), else
it stays at the origin with identity rotation; the body's facing goes to ``Hips``.

Handedness: Unity is left-handed (x right, y up, z forward); our y-up world is right-handed with the
body's left on +x. A point ``(x, y, z)`` becomes ``(−x, y, z)`` and a rotation ``R`` becomes
``M R M`` with ``M = diag(−1, 1, 1)``, i.e. a quaternion ``(x, y, z, w)`` becomes ``(x, −y, −z, w)``. A
person facing the camera faces the avatar's +z.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np

from ..pipeline import Packet
from ..skeleton import (
    CAMERA_TO_WORLD,
    load_rest_body,
    matrix_to_quat,
    theta_rotations,
)

__all__ = ["UNITY_BONES", "VMCPublisher", "to_unity_position", "to_unity_rotation", "vmc_bundle"]

logger = logging.getLogger(__name__)

#: SMPL joint index → Unity ``HumanBodyBones`` name (22 of the 24 joints).
UNITY_BONES: dict[int, str] = {
    0: "Hips", 1: "LeftUpperLeg", 2: "RightUpperLeg", 3: "Spine", 4: "LeftLowerLeg", 5: "RightLowerLeg",
    6: "Chest", 7: "LeftFoot", 8: "RightFoot", 9: "UpperChest", 10: "LeftToes", 11: "RightToes", 12: "Neck",
    13: "LeftShoulder", 14: "RightShoulder", 15: "Head", 16: "LeftUpperArm", 17: "RightUpperArm",
    18: "LeftLowerArm", 19: "RightLowerArm", 20: "LeftHand", 21: "RightHand",
}
MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def to_unity_position(p: np.ndarray) -> np.ndarray:
    """y-up right-handed world → Unity: ``(x, y, z) → (−x, y, z)``."""
    return np.asarray(p, np.float64) @ MIRROR_X


def to_unity_rotation(rot: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotations in the y-up world → Unity's axes: ``M R M``."""
    return MIRROR_X @ np.asarray(rot, np.float64) @ MIRROR_X


def vmc_bundle(rotmats: Optional[np.ndarray], offsets: np.ndarray, root_position: np.ndarray, t: float):
    """One frame's OSC bundle. ``rotmats (24, 3, 3)``: local rotations with the root already in the y-up
    world (``None``: nobody tracked, only OK and T are sent); ``offsets (24, 3)`` rest offsets (y-up world);
    ``root_position (3,)`` y-up world. Returns a ``pythonosc`` ``OscBundle``."""
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    def msg(address: str, *args) -> object:
        b = OscMessageBuilder(address)
        for a in args:
            b.add_arg(a)
        return b.build()

    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(msg("/VMC/Ext/OK", 1, 3, 0, int(rotmats is not None)))
    bundle.add_content(msg("/VMC/Ext/T", float(t)))
    if rotmats is not None:
        p = to_unity_position(root_position)
        bundle.add_content(msg("/VMC/Ext/Root/Pos", "root", *map(float, p), 0.0, 0.0, 0.0, 1.0))
        quats = matrix_to_quat(to_unity_rotation(rotmats))
        pos = to_unity_position(offsets)
        for j, name in UNITY_BONES.items():
            bundle.add_content(msg("/VMC/Ext/Bone/Pos", name, *map(float, pos[j]), *map(float, quats[j])))
    return bundle.build()


class VMCPublisher:
    """A :class:`realtime.pipeline.Sink` sending one person per frame to ``host:port`` (UDP).

    ``person``: the track id to follow (default: the lowest id in each frame). ``root_motion``: move the
    root with the person's translation in the frame camera's world (``packet.results.placement``; off: the avatar
    stays in place and only turns). ``body_path``: the body model (open-body ``.npz``) whose rest skeleton
    gives the bone offsets (default: the embedded open body).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 39539, person: Optional[int] = None,
                 root_motion: bool = False, body_path: Optional[str] = None) -> None:
        try:
            from pythonosc.udp_client import UDPClient
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("osc:// publishing needs the 'python-osc' package (pip install 'python-osc>=1.8')") from e
        self.host, self.port, self.person, self.root_motion = host, int(port), person, root_motion
        self.client = UDPClient(host, self.port)
        self.body = load_rest_body(body_path)
        self._t0 = time.monotonic()
        self._bodies: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per track: bone offsets, rest pelvis (first β)
        self.sent = self.errors = 0

    def _bones(self, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bone offsets ``(24, 3)`` for this β, the Hips' measured from the floor (the rest mesh's lowest
        point) so that a root at the origin stands the avatar on the ground; and the rest pelvis ``(3,)``."""
        offsets = self.body.offsets(betas)
        j0 = offsets[0].copy()
        offsets[0, 1] -= float(self.body.vertices(betas)[:, 1].min())
        return offsets, j0

    def _pick(self, ids: list[int]) -> Optional[int]:
        if not ids:
            return None
        if self.person is None:
            return int(np.argmin(ids))
        return ids.index(self.person) if self.person in ids else None

    def write(self, packet: Packet) -> None:
        for tid in packet.lost:  # ended tracks: forget their bones
            self._bodies.pop(tid, None)
        res = packet.results
        i = self._pick(res.ids) if res is not None else None
        rot, offsets, root = None, np.zeros((24, 3)), np.zeros(3)
        if i is not None:
            person = res.person(i)
            rot = theta_rotations(person.theta)
            rot[0] = CAMERA_TO_WORLD @ rot[0]
            if person.id not in self._bodies:
                self._bodies[person.id] = self._bones(person.betas)
            offsets, j0 = self._bodies[person.id]
            if self.root_motion:
                t_cam = person.transl
                # the pelvis in the world is CAMERA_TO_WORLD (J0 + T); the root carries all but the Hips' offset.
                root = CAMERA_TO_WORLD @ (j0 + t_cam) - offsets[0]
        try:
            self.client.send(vmc_bundle(rot, offsets, root, time.monotonic() - self._t0))
            self.sent += 1
        except OSError as e:  # a full socket buffer or an unreachable host: drop this frame
            self.errors += 1
            if self.errors == 1:
                logger.warning("VMC publisher %s:%d: %s (dropping frames)", self.host, self.port, e)

    def close(self) -> None:
        try:
            (getattr(self.client, "close", None) or self.client._sock.close)()  # UDPClient.close() is recent
        except OSError:
            pass
