"""Motions for the synthetic generator: a procedural generator and a hook for recorded motion (AMASS).

Every motion is a pair ``(pose (T, 72) axis-angle, transl (T, 3) or None)`` in the **world frame**
(+y up, the SMPL body's own axes: it faces +z, its left is +x), sampled at ``fps``.

**Joint parametrisation.** The procedural generator works in per-joint Euler angles (degrees) with
``R = Rx(a) · Ry(b) · Rz(c)`` (z applied first, in the parent's frame). Angles are written for the
*left* side; a right joint takes the mirror image ``(a, −b, −c)``. In that left convention:

* hips: a < 0 raises the thigh forward, c > 0 moves the leg outwards; knees: a > 0 bends;
* shoulders: c < 0 lowers the arm from the T-pose (−70…−85° hangs it by the side), a < 0 swings it
  forward, b < 0 brings it in front of the chest; elbows: b < 0 bends;
* spine/neck/head: a > 0 bends forward, b twists, c leans sideways.

:data:`JOINT_LIMITS` bounds every joint (these are the generator's limits, chosen to stay inside
comfortable human ranges; they are not anatomical ground truth).

**Hook.** ``motion_source(rng, num_frames, fps)`` may return ``(T, 72)`` or ``((T, 72), (T, 3))``;
:class:`ArrayMotionSource` serves random windows of recorded sequences (AMASS: ``up="z"``).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import numpy as np

from ..body.joint_sets import SMPL_JOINTS
from .geometry import matrix_to_rotvec, rot_x, rot_y, rot_z, rotvec_to_matrix

__all__ = [
    "JOINT_LIMITS", "ACTIVITIES", "MotionSource", "euler_to_pose", "procedural_motion",
    "ArrayMotionSource", "as_motion",
]

MotionSource = Callable[[np.random.Generator, int, float], Union[np.ndarray, tuple]]

J = {n: i for i, n in enumerate(SMPL_JOINTS)}
_RIGHT = [J[n] for n in SMPL_JOINTS if n.startswith("right_")]

#: Per-joint Euler limits in degrees, left convention: name → ((a_lo, a_hi), (b_lo, b_hi), (c_lo, c_hi)).
JOINT_LIMITS: dict[str, tuple[tuple[float, float], ...]] = {
    "hip": ((-110, 35), (-35, 35), (-15, 45)),
    "knee": ((0, 140), (-5, 5), (-5, 5)),
    "ankle": ((-35, 40), (-15, 15), (-15, 15)),
    "foot": ((-20, 25), (-5, 5), (-5, 5)),
    "spine1": ((-15, 35), (-20, 20), (-12, 12)),
    "spine2": ((-10, 25), (-20, 20), (-10, 10)),
    "spine3": ((-10, 20), (-15, 15), (-10, 10)),
    "neck": ((-25, 35), (-40, 40), (-20, 20)),
    "head": ((-20, 25), (-35, 35), (-15, 15)),
    "collar": ((-10, 10), (-15, 12), (-12, 20)),
    "shoulder": ((-130, 55), (-95, 35), (-88, 75)),
    "elbow": ((-30, 30), (-145, 0), (-5, 5)),
    "wrist": ((-45, 45), (-30, 30), (-60, 60)),
    "hand": ((-15, 15), (-15, 15), (-20, 20)),
    "pelvis": ((0, 0), (0, 0), (0, 0)),
}


def _limit_key(name: str) -> str:
    base = name.replace("left_", "").replace("right_", "")
    return base


def _limits_array() -> np.ndarray:
    lim = np.zeros((24, 3, 2))
    for i, n in enumerate(SMPL_JOINTS):
        lim[i] = np.asarray(JOINT_LIMITS[_limit_key(n)], np.float64)
    return lim


_LIMITS = _limits_array()


def euler_to_pose(euler_deg: np.ndarray, root_rotvec: np.ndarray) -> np.ndarray:
    """Left-convention Euler angles (T, 24, 3) (degrees; joint 0 ignored) + root axis-angle (T, 3) →
    pose (T, 72), right joints mirrored, limits applied."""
    e = np.clip(euler_deg, _LIMITS[None, :, :, 0], _LIMITS[None, :, :, 1])
    e = e.copy()
    e[:, _RIGHT, 1:] *= -1.0
    r = np.radians(e)
    mats = rot_x(r[..., 0]) @ rot_y(r[..., 1]) @ rot_z(r[..., 2])
    pose = matrix_to_rotvec(mats)
    pose[:, 0] = root_rotvec
    return pose.reshape(len(e), 72)


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, shape: tuple, fmin=0.15, fmax=1.2, terms=2) -> np.ndarray:
    """Sum of random sinusoids, unit amplitude scale: (T, *shape)."""
    out = np.zeros((len(t),) + shape)
    for _ in range(terms):
        f = rng.uniform(fmin, fmax, size=shape)
        ph = rng.uniform(0, 2 * np.pi, size=shape)
        a = rng.uniform(0.3, 1.0, size=shape)
        out += a * np.sin(2 * np.pi * f * t.reshape((-1,) + (1,) * len(shape)) + ph)
    return out / terms


def _ramp(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Smoothstep from 0 at t0 to 1 at t1."""
    x = np.clip((t - t0) / max(t1 - t0, 1e-6), 0.0, 1.0)
    return x * x * (3 - 2 * x)


ACTIVITIES = ("idle", "walk", "run", "reach", "wave", "squat", "dance", "turn")
_ACT_P = np.array([0.10, 0.22, 0.08, 0.18, 0.06, 0.10, 0.16, 0.10])


def procedural_motion(
    rng: np.random.Generator, num_frames: int, fps: float = 30.0, activity: Optional[str] = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """A smooth, joint-limited motion: ``(pose (T, 72), transl (T, 3), activity)`` in the world frame.

    The horizontal translation follows the activity (walking/running move along the facing
    direction); the height is left at 0 (the generator grounds the body per frame).
    """
    t = np.arange(num_frames) / fps
    dur = max(t[-1], 1e-3)
    act = activity or str(rng.choice(ACTIVITIES, p=_ACT_P / _ACT_P.sum()))
    e = np.zeros((num_frames, 24, 3))

    # Natural rest: arms down, slight bends, random stance.
    for side in ("left", "right"):
        e[:, J[f"{side}_shoulder"], 2] = -rng.uniform(62, 82)
        e[:, J[f"{side}_shoulder"], 0] = rng.uniform(-15, 10)
        e[:, J[f"{side}_shoulder"], 1] = rng.uniform(-15, 5)
        e[:, J[f"{side}_elbow"], 1] = -rng.uniform(5, 35)
        e[:, J[f"{side}_elbow"], 0] = rng.uniform(-20, 20)
        e[:, J[f"{side}_wrist"]] = rng.uniform(-15, 15, size=3)
        e[:, J[f"{side}_hip"], 2] = rng.uniform(-3, 10)
        e[:, J[f"{side}_hip"], 0] = rng.uniform(-8, 5)
        e[:, J[f"{side}_knee"], 0] = rng.uniform(0, 10)
        e[:, J[f"{side}_collar"]] = rng.uniform(-5, 5, size=3)
    e[:, J["neck"]] += rng.uniform(-10, 10, size=3)
    e[:, J["head"]] += rng.uniform(-8, 8, size=3)

    yaw0 = rng.uniform(-np.pi, np.pi)
    yaw = np.full(num_frames, yaw0)
    pitch = np.full(num_frames, np.radians(rng.uniform(-4, 6)))
    roll = np.full(num_frames, np.radians(rng.uniform(-3, 3)))
    speed = np.zeros(num_frames)
    noise_level = 1.0

    if act in ("walk", "run"):
        run = act == "run"
        f = rng.uniform(1.25, 1.5) if run else rng.uniform(0.8, 1.05)
        phi = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
        a_hip = rng.uniform(35, 50) if run else rng.uniform(18, 30)
        a_knee = rng.uniform(70, 100) if run else rng.uniform(35, 55)
        a_arm = rng.uniform(30, 50) if run else rng.uniform(12, 28)
        elbow = rng.uniform(70, 100) if run else rng.uniform(10, 30)
        for side, sgn in (("left", 1.0), ("right", -1.0)):
            ph = phi + (0.0 if sgn > 0 else np.pi)
            e[:, J[f"{side}_hip"], 0] = -a_hip * np.sin(ph) - (10 if run else 3)
            e[:, J[f"{side}_knee"], 0] = 5 + a_knee * (0.5 + 0.5 * np.sin(ph + 1.2)) ** 2
            e[:, J[f"{side}_ankle"], 0] = 10 * np.sin(ph + 0.6)
            e[:, J[f"{side}_shoulder"], 0] = a_arm * np.sin(ph)
            e[:, J[f"{side}_elbow"], 1] = -elbow - 10 * (0.5 + 0.5 * np.sin(ph + np.pi))
        e[:, J["spine2"], 1] = (6 if run else 4) * np.sin(phi)
        pitch += np.radians(rng.uniform(6, 14) if run else rng.uniform(0, 5))
        speed[:] = rng.uniform(2.3, 3.5) if run else rng.uniform(0.9, 1.5)
        noise_level = 0.5
    elif act == "reach":
        sides = [s for s in ("left", "right") if rng.random() < 0.6] or [str(rng.choice(["left", "right"]))]
        for side in sides:
            span = rng.uniform(0.5, 1.2)  # seconds to reach
            t0 = rng.uniform(-0.8 * span, 0.6 * dur)
            t1 = t0 + span
            w = _ramp(t, t0, t1)
            if rng.random() < 0.4:
                t2 = t1 + rng.uniform(0.0, 0.5)
                w = w * (1 - _ramp(t, t2, t2 + rng.uniform(0.5, 1.2)))
            tgt = np.array([rng.uniform(-110, 10), rng.uniform(-70, 15), rng.uniform(-50, 60)])
            j = J[f"{side}_shoulder"]
            e[:, j] = e[:, j] * (1 - w[:, None]) + tgt * w[:, None]
            je = J[f"{side}_elbow"]
            e[:, je, 1] = e[:, je, 1] * (1 - w) + (-rng.uniform(0, 110)) * w
        e[:, J["spine1"], 0] += rng.uniform(0, 20) * _ramp(t, 0, max(dur, 0.8))
    elif act == "wave":
        side = str(rng.choice(["left", "right"]))
        t0 = rng.uniform(-1.0, 0.3 * dur)
        w = _ramp(t, t0, t0 + rng.uniform(0.5, 1.0))
        j, je = J[f"{side}_shoulder"], J[f"{side}_elbow"]
        e[:, j] = e[:, j] * (1 - w[:, None]) + np.array([rng.uniform(-40, 0), rng.uniform(-30, 0), rng.uniform(20, 60)]) * w[:, None]
        f = rng.uniform(1.2, 2.0)
        e[:, je, 1] = e[:, je, 1] * (1 - w) + (-70 + 25 * np.sin(2 * np.pi * f * t)) * w
        e[:, J[f"{side}_wrist"], 2] += 15 * np.sin(2 * np.pi * f * t) * w
    elif act == "squat":
        span = rng.uniform(0.8, 1.6)
        t0 = rng.uniform(-0.7 * span, 0.5 * dur)
        d = _ramp(t, t0, t0 + span) * rng.uniform(0.4, 1.0)
        if rng.random() < 0.5:
            d = d[::-1]
        for side in ("left", "right"):
            e[:, J[f"{side}_hip"], 0] += -95 * d
            e[:, J[f"{side}_knee"], 0] += 115 * d
            e[:, J[f"{side}_ankle"], 0] += -20 * d
            e[:, J[f"{side}_shoulder"], 0] += -rng.uniform(0, 80) * d
        pitch += np.radians(35) * d
        e[:, J["spine1"], 0] += 10 * d
        e[:, J["neck"], 0] -= 25 * d
    elif act == "dance":
        noise_level = 2.2
        for side in ("left", "right"):
            e[:, J[f"{side}_shoulder"], 2] += rng.uniform(0, 60)
            e[:, J[f"{side}_elbow"], 1] -= rng.uniform(0, 60)
        yaw += np.radians(rng.uniform(-40, 40)) * _ramp(t, 0, max(dur, 1.0))
    elif act == "turn":
        angle = rng.uniform(60, 180)
        span = angle / rng.uniform(90, 200)  # seconds, at 90–200°/s
        t0 = rng.uniform(-0.7 * span, 0.5 * dur)
        yaw += np.radians(angle * rng.choice([-1, 1])) * _ramp(t, t0, t0 + span)
        noise_level = 0.7
        if rng.random() < 0.5:  # turn while stepping
            f = rng.uniform(0.8, 1.0)
            phi = 2 * np.pi * f * t
            for side, ph0 in (("left", 0.0), ("right", np.pi)):
                e[:, J[f"{side}_hip"], 0] += -12 * np.sin(phi + ph0)
                e[:, J[f"{side}_knee"], 0] += 25 * (0.5 + 0.5 * np.sin(phi + ph0 + 1.2)) ** 2
            speed[:] = rng.uniform(0.0, 0.5)

    # Smooth random variation everywhere (amplitude per joint group, degrees).
    amp = np.zeros((24, 3))
    for n, a in (
        ("spine1", 5), ("spine2", 4), ("spine3", 3), ("neck", 8), ("head", 6),
        ("left_collar", 3), ("right_collar", 3), ("left_shoulder", 14), ("right_shoulder", 14),
        ("left_elbow", 12), ("right_elbow", 12), ("left_wrist", 12), ("right_wrist", 12),
        ("left_hand", 6), ("right_hand", 6), ("left_hip", 5), ("right_hip", 5),
        ("left_knee", 5), ("right_knee", 5), ("left_ankle", 4), ("right_ankle", 4),
    ):
        amp[J[n]] = a
    e += noise_level * amp * _smooth_noise(rng, t, (24, 3))
    e[:, [J["left_knee"], J["right_knee"]], 0] = np.abs(e[:, [J["left_knee"], J["right_knee"]], 0])
    yaw += np.radians(8) * noise_level * _smooth_noise(rng, t, (), 0.1, 0.5)[:]

    root = rot_y(yaw) @ rot_x(pitch) @ rot_z(roll)
    pose = euler_to_pose(e, matrix_to_rotvec(root))
    heading = np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], -1)
    transl = np.cumsum(heading * speed[:, None] / fps, axis=0)
    transl -= transl[0]
    return pose, transl, act


def as_motion(result: Union[np.ndarray, tuple], num_frames: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Normalise a motion source's return value to ``(pose (T, 72), transl (T, 3) or None)``."""
    if isinstance(result, tuple):
        pose, transl = result[0], result[1]
    else:
        pose, transl = result, None
    pose = np.asarray(pose, np.float64).reshape(num_frames, 72)
    if transl is not None:
        transl = np.asarray(transl, np.float64).reshape(num_frames, 3)
    return pose, transl


class ArrayMotionSource:
    """Random windows of recorded motion sequences (e.g. AMASS), usable as ``motion_source``.

    sequences: list of ``(N_i, ≥72)`` axis-angle arrays (the first 72 values = SMPL's 24 joints;
    AMASS's SMPL-H poses have 156 and the first 66 + zeros for the hands are used if ``≥66``);
    transl: optional list of ``(N_i, 3)``; ``fps``: their frame rate; ``up``: ``"z"`` for AMASS
    (converted to +y up), ``"y"`` otherwise. Windows are resampled to the generator's fps by
    nearest-frame stepping and turned by a random yaw.
    """

    def __init__(
        self,
        sequences: Sequence[np.ndarray],
        transl: Optional[Sequence[np.ndarray]] = None,
        fps: float = 30.0,
        up: str = "y",
    ) -> None:
        if not sequences:
            raise ValueError("ArrayMotionSource needs at least one sequence")
        self.poses = []
        for s in sequences:
            s = np.asarray(s, np.float64)
            p = np.zeros((len(s), 72))
            # SMPL (72) as is; SMPL-H/X (> 72: 22 body joints, then hands): body joints only.
            k = 72 if s.shape[1] == 72 else 66
            if s.shape[1] < k:
                raise ValueError(f"a motion sequence has {s.shape[1]} pose values per frame; expected 72 (SMPL) or ≥ 66")
            p[:, :k] = s[:, :k]
            self.poses.append(p)
        self.transl = [np.asarray(x, np.float64) for x in transl] if transl is not None else None
        self.fps = float(fps)
        if up not in ("y", "z"):
            raise ValueError("up must be 'y' or 'z'")
        self.up = up

    def __call__(self, rng: np.random.Generator, num_frames: int, fps: float) -> tuple[np.ndarray, Optional[np.ndarray]]:
        i = int(rng.integers(len(self.poses)))
        seq = self.poses[i]
        step = self.fps / fps
        span = int(np.ceil((num_frames - 1) * step)) + 1
        start = int(rng.integers(0, max(len(seq) - span, 0) + 1))
        idx = np.minimum(start + np.round(np.arange(num_frames) * step).astype(int), len(seq) - 1)
        pose = seq[idx].copy()
        tr = self.transl[i][idx].copy() if self.transl is not None else None
        fix = rot_x(np.radians(-90.0)) if self.up == "z" else np.eye(3)
        turn = rot_y(rng.uniform(-np.pi, np.pi)) @ fix
        root = turn[None] @ rotvec_to_matrix(pose[:, :3])
        pose[:, :3] = matrix_to_rotvec(root)
        if tr is not None:
            tr = tr @ turn.T
            tr[:, [0, 2]] -= tr[0, [0, 2]]
        return pose, tr


def amass_motion_source(source, fps: float = 30.0) -> ArrayMotionSource:
    """AMASS ``.npz`` files (a folder, a file or a list) as a ``motion_source``: read and resampled
    to ``fps`` by ``training.data.amass`` (slerp), z-up like AMASS."""
    from ..data.amass import list_amass_files, load_amass_npz, resample_rotations

    sequences = []
    for path in list_amass_files(source):
        seq = load_amass_npz(path)
        sequences.append(resample_rotations(seq.pose, seq.fps, fps))
    return ArrayMotionSource(sequences, fps=fps, up="z")
