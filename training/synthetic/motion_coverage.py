"""Pose-coverage statistics of a motion set: how often hard poses occur (numpy).

Inputs are posed SMPL joints in the generator's world frame (+y up, the body faces +z at rest) and
the root (pelvis) axis-angle. Every statistic is a share of frames.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..body.joint_sets import SMPL_JOINTS

__all__ = ["pose_flags", "facing_away_share", "COVERAGE_LABELS"]

J = {n: i for i, n in enumerate(SMPL_JOINTS)}

COVERAGE_LABELS = {
    "hip_flexion_60": "hip flexion > 60° (either leg; thigh forward of the pelvis down axis, in the pelvis sagittal plane)",
    "knee_flexion_90": "knee flexion > 90° (either leg)",
    "torso_pitch_45": "torso pitch > 45° (pelvis→neck vs world up)",
    "torso_pitch_70": "torso pitch > 70° (lying / crawling / hanging upside down)",
    "wrist_above_head": "a wrist above the head joint",
    "turn_45_in_16": "facing turns > 45° within a 16-frame window (0.53 s; share of windows)",
    "facing_away": "facing away from the camera (generator's camera rule)",
}


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between vectors a, b (..., 3)."""
    c = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def pose_flags(joints: np.ndarray, root_rotvec: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean flags per frame (T,) from joints (T, 24, 3) and root axis-angle (T, 3)."""
    root = Rotation.from_rotvec(root_rotvec).as_matrix()  # (T, 3, 3) pelvis → world
    flags = {}
    hip_flex, knee_flex = [], []
    for side in ("left", "right"):
        thigh = joints[:, J[f"{side}_knee"]] - joints[:, J[f"{side}_hip"]]
        shank = joints[:, J[f"{side}_ankle"]] - joints[:, J[f"{side}_knee"]]
        local = np.einsum("tji,tj->ti", root, thigh)  # thigh in the pelvis frame
        # flexion in the pelvis's sagittal plane; undefined (0) for a thigh raised mostly sideways
        sagittal = np.hypot(local[:, 1], local[:, 2]) > 0.5 * np.linalg.norm(local, axis=-1)
        hip_flex.append(np.where(sagittal, np.degrees(np.arctan2(local[:, 2], -local[:, 1])), 0.0))
        knee_flex.append(_angle(thigh, shank))
    flags["hip_flexion_60"] = np.max(hip_flex, 0) > 60
    flags["knee_flexion_90"] = np.max(knee_flex, 0) > 90
    pitch = _angle(joints[:, J["neck"]] - joints[:, J["pelvis"]], np.array([0.0, 1.0, 0.0]))
    flags["torso_pitch_45"] = pitch > 45
    flags["torso_pitch_70"] = pitch > 70
    wrist_y = joints[:, [J["left_wrist"], J["right_wrist"]], 1].max(1)
    flags["wrist_above_head"] = wrist_y > joints[:, J["head"], 1]
    return flags


def _facing_azimuth(root_rotvec: np.ndarray) -> np.ndarray:
    """Heading (radians about +y) of the body's forward (+z) axis."""
    fwd = Rotation.from_rotvec(root_rotvec).apply(np.array([0.0, 0.0, 1.0]))
    return np.arctan2(fwd[:, 0], fwd[:, 2])


def facing_away_share(
    windows: list[np.ndarray], rng: np.random.Generator, p_front: float = 0.65, front_deg: float = 60.0
) -> tuple[float, float]:
    """Over windows of root axis-angle (T, 3): (share of frames facing away from the camera, share of
    windows turning > 45° from their first frame).

    The camera follows the generator's rule (``SyntheticConfig.p_front``): with probability ``p_front``
    its azimuth is within ±``front_deg`` of the person's facing in the window's first frame, otherwise
    uniform. A frame faces away when its heading is > 90° from the direction towards the camera.
    """
    away, frames, turned = 0, 0, 0
    for root in windows:
        az = _facing_azimuth(root)
        if rng.random() < p_front:
            cam = az[0] + np.radians(rng.uniform(-front_deg, front_deg))
        else:
            cam = rng.uniform(-np.pi, np.pi)
        diff = np.abs((az - cam + np.pi) % (2 * np.pi) - np.pi)
        away += int((diff > np.pi / 2).sum())
        frames += len(az)
        turned += int(np.any(np.abs((az - az[0] + np.pi) % (2 * np.pi) - np.pi) > np.radians(45)))
    return away / max(frames, 1), turned / max(len(windows), 1)
