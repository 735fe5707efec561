"""The one body model of the project: SMPL-format parameters Θ → vertices, joints, landmarks.

Used by training (losses), export (inside the ``temporal_step`` graph) and, through the engines,
by the live app. It loads the embedded open body or official SMPL through the same interface::

    body = BodyModel.from_config(model_config.body_model)   # or BodyModel.open(), BodyModel.smpl(path)
    out = body(pose=theta, betas=beta)                      # pose: axis-angle, 6D or matrices
    kp49 = body.joint_set(out, "spin49")                    # (B, 49, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..config.schema import BodyModelConfig
from .joint_sets import NUM_SMPL_JOINTS, SMPL_JOINTS, joint_set
from .lbs import lbs, regress_joints, shape_blend
from .model_file import (
    EXTRA_REGRESSOR_HELP,
    OPEN_BODY_PATH,
    BodyModelData,
    BodyModelFileError,
    load_body_file,
    load_open_body,
    load_smpl,
)
from .rotations import axis_angle_to_matrix, rot6d_to_matrix

__all__ = ["BodyModel", "BodyOutput", "pose_to_matrices"]


@dataclass
class BodyOutput:
    """Posed body. ``B`` batch, ``V`` vertices, ``L`` landmarks."""

    vertices: Optional[torch.Tensor]  # (B, V, 3); None from ``forward(..., vertices=False)``
    joints: torch.Tensor  # (B, 24, 3) kinematic SMPL joints
    landmarks: torch.Tensor  # (B, L, 3) regressed from the posed vertices
    rotmats: torch.Tensor  # (B, 24, 3, 3) local joint rotations


def pose_to_matrices(pose: torch.Tensor) -> torch.Tensor:
    """Joint rotations in any supported layout → ``(B, 24, 3, 3)``.

    Accepted: ``(B, 24, 3, 3)`` matrices, ``(B, 24, 6)`` or ``(B, 144)`` 6D, ``(B, 24, 3)`` or ``(B, 72)``
    axis-angle.
    """
    j = NUM_SMPL_JOINTS
    if pose.dim() == 4 and pose.shape[1:] == (j, 3, 3):
        return pose
    if pose.dim() == 2 and pose.shape[1] in (3 * j, 6 * j):
        pose = pose.reshape(pose.shape[0], j, -1)
    if pose.dim() == 3 and pose.shape[1] == j and pose.shape[2] == 3:
        return axis_angle_to_matrix(pose)
    if pose.dim() == 3 and pose.shape[1] == j and pose.shape[2] == 6:
        return rot6d_to_matrix(pose)
    raise ValueError(
        f"pose has shape {tuple(pose.shape)}; expected (B, 24, 3|6), (B, 72|144) or (B, 24, 3, 3)"
    )


class BodyModel(nn.Module):
    """Batched, differentiable SMPL-format body (CPU or CUDA: move it with ``.to(device)``).

    Its arrays are non-persistent buffers: they come from the body file, so a network that owns a
    body model does not copy them into its checkpoints.
    """

    def __init__(self, data: BodyModelData, num_betas: Optional[int] = None) -> None:
        super().__init__()
        nb = data.num_betas if num_betas is None else num_betas
        if nb > data.num_betas:
            raise BodyModelFileError(
                f"body model has {data.num_betas} shape components, config asks for num_betas={nb}; lower body_model.num_betas"
            )
        self.num_betas = nb
        self.parents: tuple[int, ...] = tuple(int(p) for p in data.parents)
        self.landmark_names: tuple[str, ...] = tuple(data.landmark_names)
        self.meta = dict(data.meta)
        f32 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
        self.register_buffer("v_template", f32(data.v_template), persistent=False)
        self.register_buffer("shapedirs", f32(data.shapedirs[..., :nb]), persistent=False)
        self.register_buffer("weights", f32(data.weights), persistent=False)
        self.register_buffer("j_regressor", f32(data.j_regressor), persistent=False)
        self.register_buffer("faces", torch.as_tensor(data.faces.astype(np.int64)), persistent=False)
        lm = data.landmark_regressor if data.landmark_regressor is not None else np.zeros((0, data.num_vertices))
        self.register_buffer("landmark_regressor", f32(lm), persistent=False)
        if data.posedirs is not None:
            v = data.num_vertices
            # (V, 3, P) -> (P, V*3), the layout pose_blend multiplies with.
            self.register_buffer("posedirs", f32(data.posedirs.reshape(v * 3, -1).T), persistent=False)
        else:
            self.posedirs = None
        # The few hundred vertices the joints and landmarks are regressed from: ``forward(vertices=False)``
        # poses only these (the landmark fit's first pass needs joints, not the mesh).
        support = np.flatnonzero(np.abs(data.j_regressor).sum(0) + np.abs(lm).sum(0))
        joints_only = {
            "v_template": f32(data.v_template[support]), "shapedirs": f32(data.shapedirs[support][..., :nb]),
            "weights": f32(data.weights[support]), "j_regressor": f32(data.j_regressor[:, support]),
            "landmark_regressor": f32(lm[:, support]),
            "posedirs": None if data.posedirs is None else f32(data.posedirs[support].reshape(len(support) * 3, -1).T),
        }
        for k, v in joints_only.items():
            if v is not None:
                self.register_buffer(f"_joints_only_{k}", v, persistent=False)
        self.register_buffer("_support", torch.as_tensor(support, dtype=torch.int64), persistent=False)
        # The rest joints are linear in β: their own template and shape directions (J, 3), (J, 3, S) spare
        # regressing them from the whole shaped mesh on every call.
        j_reg = data.j_regressor.astype(np.float64)
        self.register_buffer("_j_template", f32(j_reg @ data.v_template), persistent=False)
        self.register_buffer("_j_shapedirs", f32(np.einsum("jv,vcs->jcs", j_reg, data.shapedirs[..., :nb])), persistent=False)
        self._set_index_cache: dict[str, torch.Tensor] = {}

    # -- constructors ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path = OPEN_BODY_PATH, num_betas: Optional[int] = None) -> "BodyModel":
        """The embedded open default body (made from MakeHuman's CC0 assets)."""
        return cls(load_open_body(path), num_betas)

    @classmethod
    def smpl(cls, path: str | Path, gender: str = "neutral", num_betas: Optional[int] = 10) -> "BodyModel":
        """Official SMPL from a file or a folder holding ``SMPL_<GENDER>.pkl``."""
        return cls(load_smpl(path, gender), num_betas)

    @classmethod
    def from_file(cls, path: str | Path, gender: str = "neutral", num_betas: Optional[int] = None) -> "BodyModel":
        return cls(load_body_file(path, gender), num_betas)

    @classmethod
    def from_config(cls, cfg: BodyModelConfig) -> "BodyModel":
        """From the ``body_model`` section of a model config."""
        if cfg.kind == "open":
            return cls.open(cfg.path or OPEN_BODY_PATH, cfg.num_betas)
        return cls.smpl(cfg.path, cfg.gender, cfg.num_betas)

    # -- forward -----------------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def forward(
        self,
        pose: Optional[torch.Tensor] = None,
        betas: Optional[torch.Tensor] = None,
        transl: Optional[torch.Tensor] = None,
        vertices: bool = True,
    ) -> BodyOutput:
        """pose: see :func:`pose_to_matrices` (default: rest pose); betas (B, S≤num_betas); transl (B, 3).
        ``vertices=False``: the joints and landmarks alone (the same values), without posing the whole mesh."""
        batch = next((t.shape[0] for t in (pose, betas, transl) if t is not None), 1)
        dev, dt = self.v_template.device, self.v_template.dtype
        if pose is None:
            rotmats = torch.eye(3, device=dev, dtype=dt).expand(batch, NUM_SMPL_JOINTS, 3, 3)
        else:
            rotmats = pose_to_matrices(pose.to(dt))
        if betas is None:
            betas = torch.zeros(batch, self.num_betas, device=dev, dtype=dt)
        if betas.shape[-1] > self.num_betas:
            raise ValueError(f"betas has {betas.shape[-1]} components; this body model takes at most {self.num_betas}")
        if vertices:
            arrays = (self.v_template, self.shapedirs, self.j_regressor, self.weights, self.posedirs, self.landmark_regressor)
        else:
            arrays = tuple(getattr(self, f"_joints_only_{k}", None) for k in
                           ("v_template", "shapedirs", "j_regressor", "weights", "posedirs", "landmark_regressor"))
        v_template, shapedirs, j_regressor, weights, posedirs, landmark_regressor = arrays
        betas = betas.to(dt)
        rest_joints = shape_blend(self._j_template, self._j_shapedirs, betas)
        verts, joints = lbs(betas, rotmats, v_template, shapedirs, j_regressor, self.parents, weights, posedirs, rest_joints)
        if transl is not None:
            verts = verts + transl[:, None]
            joints = joints + transl[:, None]
        # The landmarks from the vertices they are regressed from (all of them are in the joints-only set).
        support = verts if not vertices else verts.index_select(1, self._support)
        landmarks = regress_joints(self._joints_only_landmark_regressor, support)
        return BodyOutput(vertices=verts if vertices else None, joints=joints, landmarks=landmarks, rotmats=rotmats)

    # -- joint sets --------------------------------------------------------------------------------
    def joint_set_indices(self, name: str) -> torch.Tensor:
        """Indices of joint set ``name`` into ``joints ++ landmarks``; cached. A clear error when the
        body lacks a landmark the set needs."""
        if name not in self._set_index_cache:
            pool = {f"smpl/{n}": i for i, n in enumerate(SMPL_JOINTS)}
            pool.update({n: NUM_SMPL_JOINTS + i for i, n in enumerate(self.landmark_names)})
            names = joint_set(name)
            missing = [n for n in names if n not in pool]
            if missing:
                needs = sorted({n.split("/")[0] for n in missing})
                files = {"h36m": "J_regressor_h36m.npy", "extra": "J_regressor_extra.npy"}
                need_files = [files[p] for p in needs if p in files]
                hint = (
                    f"put {' and '.join(need_files)} next to the SMPL file ({EXTRA_REGRESSOR_HELP})"
                    if need_files
                    else "this body model does not define them"
                )
                raise BodyModelFileError(f"joint set {name!r} needs {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}; {hint}")
            idx = torch.as_tensor([pool[n] for n in names], dtype=torch.long)
            self._set_index_cache[name] = idx
        return self._set_index_cache[name]

    def joint_set(self, output: BodyOutput, name: str) -> torch.Tensor:
        """Joints of set ``name`` (see ``joint_sets.JOINT_SETS``) from a forward output → (B, K, 3)."""
        idx = self.joint_set_indices(name)
        points = torch.cat([output.joints, output.landmarks], dim=1)
        return points[:, idx.to(points.device)]

    def landmark_set_regressor(self, name: str) -> torch.Tensor:
        """``(K, V)``: joint set ``name`` as a linear map of the posed mesh — the same points :meth:`joint_set` gives
        for that pose, from a mesh alone (a live result, a track file). Only for sets made of landmarks
        (``h36m17``, ``mediapipe33``); the SMPL joints come from the kinematic chain, not the mesh."""
        idx = self.joint_set_indices(name) - NUM_SMPL_JOINTS
        if bool((idx < 0).any()):
            raise ValueError(f"joint set {name!r} holds SMPL joints, which are not regressed from the mesh; use joint_set()")
        return self.landmark_regressor[idx.to(self.landmark_regressor.device)]

    def landmark_set_from_vertices(self, vertices: torch.Tensor, name: str) -> torch.Tensor:
        """Joint set ``name`` (:meth:`landmark_set_regressor`) from posed ``vertices (B, V, 3)`` → (B, K, 3)."""
        return torch.einsum("kv,bvc->bkc", self.landmark_set_regressor(name).to(vertices.dtype), vertices)

    def has_joint_set(self, name: str) -> bool:
        try:
            self.joint_set_indices(name)
        except BodyModelFileError:
            return False
        return True
