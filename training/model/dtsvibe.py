"""DTS-VIBE (paper §3.1): modality streams → temporal encoder → late fusion → FC → regressor → body.

(``fusion: early``, our option, adds the flow and keypoint features before the encoder instead.)

::

    rgb ──V-CNN──► f_v ──temporal encoder──► g_v ─┐
    flow ─O-CNN──► f_o ───────────────────────────+──► fused ─FC─► coarse Θ ─regressor─► Θ ─body─► mesh
    keypoints ───► f_k ───────────────────────────┘      (f_k: our extension, off in paper.yaml)

Two ways to run it, with the same weights and (for causal attention) the same results:

* ``forward`` over a window or a whole sequence ``(B, N, …)``;
* ``init_state`` / ``step`` one frame at a time with per-layer key/value ring buffers — what the
  live app runs (exported as the ``temporal_step`` graph). ``encode_frames`` is the per-frame part
  before it (the ``frame_encoder`` graph).

Shapes: ``B`` batch (people), ``N`` frames, ``D`` embed width, ``P`` = size of Θ (157), ``V``
vertices, ``J`` joints of the ``spin49`` set used for the losses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from ..body import BodyModel
from ..body.rotations import matrix_to_rot6d, rot6d_to_matrix
from ..config.schema import ModelConfig
from .landmark_fit import face_in_head_frame, fit_camera, fit_limbs, fit_torso, landmark_weights
from .params import ThetaLayout, mean_theta, project_weak_perspective
from .regressor import build_regressor
from .streams import build_streams
from .temporal import build_temporal_encoder

__all__ = ["DTSVIBE", "ModelOutput", "build_model"]

_INPUT_DIMS = {"rgb": (5, 3), "blazepose": (4,), "flow": (5, 3), "keypoints": (4,)}
_INPUT_SHAPES = {
    "rgb": "(B, N, 3, H, W) crops or (B, N, F) backbone features",
    "blazepose": "(B, N, 33, 9) BlazePose outputs (streams.rgb.backbone: blazepose)",
    "flow": "(B, N, 2, H, W) flow or (B, N, F) backbone features",
    "keypoints": "(B, N, 33, 4) landmarks",
}

#: ``encode_frames``'s key for BlazePose's outputs passed on to the landmark fit (``landmark_fit.enabled``).
LANDMARKS = "landmarks"
#: The joint set predicted 3D/2D joints come in (VIBE's 49 training joints).
TRAIN_JOINT_SET = "spin49"


@dataclass
class ModelOutput:
    """Per frame (leading dims ``(B, N)`` from ``forward``, ``(B,)`` from ``step``)."""

    theta: torch.Tensor  # (…, P) final parameters
    coarse_theta: torch.Tensor  # (…, P) before the regressor
    rotmat: torch.Tensor  # (…, 24, 3, 3)
    betas: torch.Tensor  # (…, S)
    cam: torch.Tensor  # (…, 3) weak perspective (s, tx, ty)
    vertices: torch.Tensor  # (…, V, 3)
    smpl_joints: torch.Tensor  # (…, 24, 3)
    joints3d: torch.Tensor  # (…, J, 3)  spin49
    joints2d: torch.Tensor  # (…, J, 2)  normalised crop coordinates
    attention: list[torch.Tensor] = field(default_factory=list)  # encoder layers' (B, H, N, N)


class DTSVIBE(nn.Module):
    def __init__(self, cfg: ModelConfig, body: Optional[BodyModel] = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.layout = ThetaLayout(cfg.body_model.num_betas)
        window = cfg.input.seq_len
        self.streams = build_streams(cfg)
        self.encoder = build_temporal_encoder(cfg.embed_dim, cfg.temporal_encoder, window)
        self.fc = nn.Linear(cfg.embed_dim, self.layout.size)
        nn.init.xavier_uniform_(self.fc.weight, gain=0.01)
        nn.init.zeros_(self.fc.bias)
        self.regressor = build_regressor(
            self.layout.size, cfg.embed_dim, cfg.regressor, window, cfg.temporal_encoder.attention
        )
        self.register_buffer("theta_mean", mean_theta(self.layout))
        self.body = body if body is not None else BodyModel.from_config(cfg.body_model)
        if self.body.num_betas < self.layout.num_betas:
            raise ValueError(f"body model has {self.body.num_betas} shape components, model config needs {self.layout.num_betas}")
        self.body.joint_set_indices(TRAIN_JOINT_SET)  # fail now, clearly, if the body lacks the training joints

    @property
    def stream_names(self) -> tuple[str, ...]:
        return tuple(self.streams.keys())

    @property
    def streamable(self) -> bool:
        """Whether ``step`` reproduces ``forward``: causal attention (or a GRU) everywhere."""
        return bool(self.encoder.streamable) and (
            self.cfg.regressor.type == "iterative" or self.cfg.temporal_encoder.attention == "causal"
        )

    # -- per-frame encoders ----------------------------------------------------------------------
    def encode_frames(
        self, rgb: torch.Tensor, flow: Optional[torch.Tensor] = None, keypoints: Optional[torch.Tensor] = None
    ) -> dict[str, torch.Tensor]:
        """Stream inputs with leading dims ``(B, N)`` → ``{stream: (B, N, D)}``.

        rgb ``(B, N, 3, H, W)`` crops, ``(B, N, 33, 9)`` BlazePose outputs (``streams.rgb.backbone: blazepose``,
        see ``training.blazepose_input``) or ``(B, N, F)`` backbone features; flow ``(B, N, 2, H, W)`` (see
        ``training.losses`` for the flow convention) or ``(B, N, F)``; keypoints ``(B, N, 33, 4)``.
        """
        inputs = {"rgb": rgb, "flow": flow, "keypoints": keypoints}
        feats = {}
        for name, stream in self.streams.items():
            x = inputs[name]
            if x is None:
                raise ValueError(f"the config enables the {name} stream: pass {name} with leading dims (B, N)")
            kind = "blazepose" if name == "rgb" and self.cfg.rgb_input == "blazepose" else name
            if x.dim() not in _INPUT_DIMS[kind]:
                raise ValueError(f"{name}: expected {_INPUT_SHAPES[kind]}, got {tuple(x.shape)}")
            b, n = x.shape[:2]
            feats[name] = stream(x.reshape(b * n, *x.shape[2:])).reshape(b, n, -1)
        if self.cfg.landmark_fit.enabled:  # BlazePose's outputs ride along to the landmark fit after the regressor
            feats[LANDMARKS] = rgb.reshape(*rgb.shape[:2], -1)
        return feats

    @property
    def feature_names(self) -> tuple[str, ...]:
        """What ``encode_frames`` returns per frame: the streams' features, then (``landmark_fit``) the landmarks."""
        return self.stream_names + ((LANDMARKS,) if self.cfg.landmark_fit.enabled else ())

    # -- temporal part -----------------------------------------------------------------------------
    def _others(self, feats: dict[str, torch.Tensor]) -> Optional[torch.Tensor]:
        """The sum of the non-RGB streams' features (None when RGB is the only stream)."""
        others = [feats[name] for name in self.stream_names if name != "rgb"]
        return sum(others[1:], others[0]) if others else None

    def _encoder_input(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """Early fusion (``fusion: early``): every stream enters the temporal encoder; late: RGB only."""
        others = self._others(feats)
        return feats["rgb"] + others if self.cfg.fusion == "early" and others is not None else feats["rgb"]

    def _fuse(self, encoded: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """Late fusion (the paper): the other streams are added to the temporal encoder's output."""
        others = self._others(feats)
        return encoded + others if self.cfg.fusion == "late" and others is not None else encoded

    def decode(self, theta: torch.Tensor, landmarks: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """Θ ``(…, P)`` → Θ, rotations, β, camera, and the posed body (vertices, joints, 2D joints); with the
        landmark fit on and BlazePose's ``landmarks (…, 33·9)`` given, after the fit (which changes Θ's
        rotations and camera)."""
        rot6d, betas, cam = self.layout.split(theta)
        lead = theta.shape[:-1]
        rotmat = rot6d_to_matrix(rot6d).reshape(-1, 24, 3, 3)
        betas_m, cam_m = betas.reshape(-1, betas.shape[-1]), cam.reshape(-1, 3)
        fitting = self.cfg.landmark_fit.enabled and landmarks is not None
        out = self.body(pose=rotmat, betas=betas_m, vertices=not fitting)  # the fit poses the mesh after it
        joints3d = self.body.joint_set(out, TRAIN_JOINT_SET)
        if fitting:
            lm = landmarks.reshape(-1, 33, 9).to(joints3d.dtype)
            w = landmark_weights(lm)
            cam_m = fit_camera(joints3d, lm, w, cam_m)
            fit = self.cfg.landmark_fit
            joints24 = out.joints
            face = face_in_head_frame(rotmat, joints24, joints3d, self.body.parents)
            if fit.torso:
                rotmat, joints24 = fit_torso(rotmat, joints24, lm, w, cam_m[:, 0], fit.strength, fit.world_depth)
            rotmat = fit_limbs(rotmat, joints24, self.body.parents, lm, w, cam_m[:, 0], fit.strength, fit.world_depth, face,
                               fit.world_direction)
            out = self.body(pose=rotmat, betas=betas_m)
            joints3d = self.body.joint_set(out, TRAIN_JOINT_SET)
            cam_m = fit_camera(joints3d, lm, w, cam_m)
            cam = cam_m.reshape(cam.shape)
            theta = torch.cat([matrix_to_rot6d(rotmat).reshape(*lead, -1), betas, cam], -1)
        rotmat = rotmat.reshape(*lead, 24, 3, 3)
        joints3d = joints3d.reshape(*lead, *joints3d.shape[1:])
        return {
            "theta": theta,
            "rotmat": rotmat,
            "betas": betas,
            "cam": cam,
            "vertices": out.vertices.reshape(*lead, *out.vertices.shape[1:]),
            "smpl_joints": out.joints.reshape(*lead, 24, 3),
            "joints3d": joints3d,
            "joints2d": project_weak_perspective(joints3d, cam),
        }

    def temporal(
        self, feats: dict[str, torch.Tensor], need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """``{stream: (B, N, D)}`` → (Θ, coarse Θ) ``(B, N, P)`` and the encoder's attention maps."""
        encoded, attention = self.encoder(self._encoder_input(feats), need_weights)
        fused = self._fuse(encoded, feats)
        coarse = self.fc(fused) + self.theta_mean
        return self.regressor(coarse, fused), coarse, attention

    def forward_features(self, feats: dict[str, torch.Tensor], need_weights: bool = False) -> ModelOutput:
        """``{stream: (B, N, D)}`` → outputs for every frame."""
        theta, coarse, attention = self.temporal(feats, need_weights)
        return ModelOutput(coarse_theta=coarse, attention=attention, **self.decode(theta, feats.get(LANDMARKS)))

    def forward(
        self,
        rgb: torch.Tensor,
        flow: Optional[torch.Tensor] = None,
        keypoints: Optional[torch.Tensor] = None,
        need_weights: bool = False,
    ) -> ModelOutput:
        return self.forward_features(self.encode_frames(rgb, flow, keypoints), need_weights)

    # -- streaming ---------------------------------------------------------------------------------
    def init_state(self, batch: int, device: Optional[torch.device] = None) -> dict[str, torch.Tensor]:
        """Fixed-size state for ``batch`` people: ``pos (B,)`` and the encoder's and regressor's buffers."""
        if not self.streamable:
            raise RuntimeError(
                "this model attends to future frames and cannot stream; use temporal_encoder.attention=causal"
            )
        device = device or self.theta_mean.device
        state = {"pos": torch.zeros(batch, dtype=torch.long, device=device)}
        state.update({f"enc.{k}": v for k, v in self.encoder.init_state(batch, device).items()})
        state.update({f"reg.{k}": v for k, v in self.regressor.init_state(batch, device).items()})
        return state

    @staticmethod
    def reset_state(state: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Forget the past of the people in ``rows`` (bool ``(B,)``): a lost track starts over.

        Ring buffers need no clearing: with ``pos = 0`` every older slot is masked out.
        """
        out = dict(state)
        out["pos"] = torch.where(rows, torch.zeros_like(state["pos"]), state["pos"])
        for key in ("enc.h",):  # recurrent encoders carry a hidden state instead
            if key in out:
                out[key] = out[key] * (~rows).to(out[key].dtype)[None, :, None]
        return out

    def step(self, feats: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> tuple[ModelOutput, dict[str, torch.Tensor]]:
        """One new frame ``{stream: (B, D)}`` → outputs ``(B, …)`` and the next state."""
        pos = state["pos"]
        enc_state = {k[4:]: v for k, v in state.items() if k.startswith("enc.")}
        reg_state = {k[4:]: v for k, v in state.items() if k.startswith("reg.")}
        encoded, enc_state = self.encoder.step(self._encoder_input(feats), enc_state, pos)
        fused = self._fuse(encoded, feats)
        coarse = self.fc(fused) + self.theta_mean
        theta, reg_state = self.regressor.step(coarse, fused, reg_state, pos)
        new_state = {"pos": pos + 1}
        new_state.update({f"enc.{k}": v for k, v in enc_state.items()})
        new_state.update({f"reg.{k}": v for k, v in reg_state.items()})
        return ModelOutput(coarse_theta=coarse, **self.decode(theta, feats.get(LANDMARKS))), new_state


def build_model(cfg: ModelConfig, body: Optional[BodyModel] = None) -> DTSVIBE:
    """The network for a validated model config (``configs/model/*.yaml``)."""
    return DTSVIBE(cfg, body)
