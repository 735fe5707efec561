"""What the inference stage hands every sink: one frame's people, their bodies and where they stand.

The engine answers with arrays by name (the bundle's outputs, batch = people); the inference stage filters
them (``training.pose_smoothing``), places the people (``realtime.placement``) and wraps the lot in a
:class:`FrameResults`, so sinks read typed fields instead of string keys, and row ``i`` of every array is
the person ``ids[i]``. :meth:`FrameResults.person` gives one person's row as a :class:`PersonResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping, Sequence

import numpy as np

from .placement import FramePlacement

__all__ = ["FrameResults", "PersonResult"]


@dataclass
class PersonResult:
    """One person in one frame: the model's outputs (no batch axis) and where they stand."""

    id: int
    theta: np.ndarray  # (P,): 6D rotations, β, camera
    rotmat: np.ndarray  # (24, 3, 3) local joint rotations, camera axes
    betas: np.ndarray  # (10,)
    cam: np.ndarray  # (3,) weak perspective (s, tx, ty) in the crop
    vertices: np.ndarray  # (V, 3) metres, camera axes, before translation
    joints3d: np.ndarray  # (49, 3) spin49, metres, before translation
    joints2d: np.ndarray  # (49, 2) crop-normalised
    transl: np.ndarray  # (3,) metres, the frame camera
    square: np.ndarray  # (3,) crop square (cx, cy, side), frame pixels
    joints2d_px: np.ndarray  # (49, 2) frame pixels


@dataclass
class FrameResults:
    """One frame's people (module docstring): arrays with the person axis first, ``ids[i]`` for row ``i``."""

    ids: list[int]
    theta: np.ndarray
    rotmat: np.ndarray
    betas: np.ndarray
    cam: np.ndarray
    vertices: np.ndarray
    joints3d: np.ndarray
    joints2d: np.ndarray
    placement: FramePlacement

    #: The engine outputs a FrameResults is made of (``engines.build.onnx_export``'s graph outputs).
    OUTPUTS = ("theta", "rotmat", "betas", "cam", "vertices", "joints3d", "joints2d")

    @classmethod
    def from_outputs(cls, ids: Sequence[int], outputs: Mapping[str, np.ndarray], placement: FramePlacement) -> "FrameResults":
        missing = [k for k in cls.OUTPUTS if k not in outputs]
        if missing:
            raise KeyError(f"the engine's outputs lack {missing}; rebuild the bundle with tools/build_engine.py")
        return cls([int(i) for i in ids], *(np.asarray(outputs[k]) for k in cls.OUTPUTS), placement=placement)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every per-person array by name: the model's outputs, then ``transl``, ``square``, ``joints2d_px``."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("ids", "placement")}
        p = self.placement
        return {**out, "transl": p.transl, "square": p.squares, "joints2d_px": p.joints2d_px}

    def person(self, i: int) -> PersonResult:
        return PersonResult(self.ids[i], **{k: v[i] for k, v in self.arrays().items()})
