"""SMPL-format body models: the embedded open body and official SMPL behind one interface."""

from .joint_sets import JOINT_SETS, LANDMARK_NAMES, SMPL_JOINTS, SMPL_PARENTS, joint_set
from .model import BodyModel, BodyOutput, pose_to_matrices
from .model_file import (
    OPEN_BODY_PATH,
    BodyModelData,
    BodyModelFileError,
    load_body_file,
    load_open_body,
    load_smpl,
    save_body_file,
)

__all__ = [
    "JOINT_SETS", "LANDMARK_NAMES", "SMPL_JOINTS", "SMPL_PARENTS", "joint_set",
    "BodyModel", "BodyOutput", "pose_to_matrices",
    "OPEN_BODY_PATH", "BodyModelData", "BodyModelFileError", "load_body_file", "load_open_body",
    "load_smpl", "save_body_file",
]
