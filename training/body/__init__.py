"""SMPL-format body models: the embedded open body and official SMPL behind one interface.

The joint tables (``joint_sets``) and the numpy body-file reader (``model_file``) import without torch, so the
live app reads the same tables and files; the torch model (``BodyModel``, ``BodyOutput``, ``pose_to_matrices``)
is imported on first use.
"""

from __future__ import annotations

from typing import Any

from .joint_sets import JOINT_SETS, LANDMARK_NAMES, SMPL_JOINTS, SMPL_PARENTS, joint_set
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

_TORCH_PARTS = ("BodyModel", "BodyOutput", "pose_to_matrices")


def __getattr__(name: str) -> Any:  # the torch model only when it is asked for
    if name in _TORCH_PARTS:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
