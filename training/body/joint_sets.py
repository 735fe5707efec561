"""Named joints and the joint sets built from them, with their documented orders.

A body model exposes a *pool* of named points:

* ``smpl/<name>``: the 24 kinematic joints of the SMPL tree (posed by the kinematic chain);
* every other name (``h36m/…``, ``extra/…``, ``vertex/…``, ``mp/…``): a *landmark*, a fixed linear
  combination of mesh vertices (one row of the body file's landmark regressor), applied to the posed
  vertices.

A joint set is an ordered list of pool names. Data sets, losses and evaluation ask for joint sets by
name (:data:`JOINT_SETS`); the body model resolves them to indices once, so any set costs one gather.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------------
# The SMPL kinematic tree: 24 joints, parent before child.
SMPL_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
NUM_SMPL_JOINTS = len(SMPL_JOINTS)

# ---------------------------------------------------------------------------------------------------
# Landmarks (regressed from vertices). Prefix = where the definition comes from.

#: Human3.6M's 17 joints in the order of the data set (and of ``J_regressor_h36m.npy``).
H36M_LANDMARKS: tuple[str, ...] = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head_top", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)
#: The 9 extra joints in the order of ``J_regressor_extra.npy`` (SPIN/VIBE).
EXTRA_LANDMARKS: tuple[str, ...] = (
    "right_hip_lsp", "left_hip_lsp", "neck_lsp", "head_top_lsp", "pelvis_mpii", "thorax_mpii",
    "spine_h36m", "jaw_h36m", "head_h36m",
)
#: Surface points that OpenPose's face and feet keypoints sit on.
VERTEX_LANDMARKS: tuple[str, ...] = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
#: MediaPipe Pose's 33 landmarks, in MediaPipe's order.
MEDIAPIPE_LANDMARKS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)

#: Every landmark a complete body file defines, in the canonical order of its landmark regressor.
LANDMARK_NAMES: tuple[str, ...] = (
    tuple(f"h36m/{n}" for n in H36M_LANDMARKS)
    + tuple(f"extra/{n}" for n in EXTRA_LANDMARKS)
    + tuple(f"vertex/{n}" for n in VERTEX_LANDMARKS)
    + tuple(f"mp/{n}" for n in MEDIAPIPE_LANDMARKS)
)

# ---------------------------------------------------------------------------------------------------
# Joint sets.


def _smpl(*names: str) -> tuple[str, ...]:
    return tuple(f"smpl/{n}" for n in names)


#: The 14 common evaluation joints, LSP order.
LSP14: tuple[str, ...] = (
    "smpl/right_ankle", "smpl/right_knee", "extra/right_hip_lsp", "extra/left_hip_lsp",
    "smpl/left_knee", "smpl/left_ankle", "smpl/right_wrist", "smpl/right_elbow",
    "smpl/right_shoulder", "smpl/left_shoulder", "smpl/left_elbow", "smpl/left_wrist",
    "extra/neck_lsp", "extra/head_top_lsp",
)

#: OpenPose BODY_25 order (the first 25 of the 49-joint training set).
OPENPOSE25: tuple[str, ...] = (
    "vertex/nose", "smpl/neck", "smpl/right_shoulder", "smpl/right_elbow", "smpl/right_wrist",
    "smpl/left_shoulder", "smpl/left_elbow", "smpl/left_wrist", "smpl/pelvis", "smpl/right_hip",
    "smpl/right_knee", "smpl/right_ankle", "smpl/left_hip", "smpl/left_knee", "smpl/left_ankle",
    "vertex/right_eye", "vertex/left_eye", "vertex/right_ear", "vertex/left_ear",
    "vertex/left_big_toe", "vertex/left_small_toe", "vertex/left_heel", "vertex/right_big_toe",
    "vertex/right_small_toe", "vertex/right_heel",
)

#: The 24 ground-truth joints of the 49-joint set: LSP 14, then MPII/H36M extras and the face.
GT24: tuple[str, ...] = LSP14 + (
    "extra/pelvis_mpii", "extra/thorax_mpii", "extra/spine_h36m", "extra/jaw_h36m",
    "extra/head_h36m", "vertex/nose", "vertex/left_eye", "vertex/right_eye", "vertex/left_ear",
    "vertex/right_ear",
)

JOINT_SETS: dict[str, tuple[str, ...]] = {
    "smpl24": _smpl(*SMPL_JOINTS),
    "h36m17": tuple(f"h36m/{n}" for n in H36M_LANDMARKS),
    "lsp14": LSP14,
    "mediapipe33": tuple(f"mp/{n}" for n in MEDIAPIPE_LANDMARKS),
    #: The 49-joint set that VIBE/SPIN's 2D and 3D training data use: OpenPose 25 + GT 24.
    "spin49": OPENPOSE25 + GT24,
}


def joint_set(name: str) -> tuple[str, ...]:
    """The ordered pool names of joint set ``name``; a clear error for an unknown set."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise KeyError(
            f"unknown joint set {name!r}; choose one of {', '.join(sorted(JOINT_SETS))}"
        ) from None
