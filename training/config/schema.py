"""Schemas of the model and training configs (``configs/model/*.yaml``, ``configs/train/*.yaml``).

``configs/model/paper.yaml`` is the paper (DTS-VIBE, sections 3.1–3.2) to the letter; every
extension of ours is a switch here whose paper value turns it off. Defaults are the paper's values
where the paper gives one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from .loader import StrictModel, load_config

Backbone = Literal["resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_small", "small_cnn", "blazepose"]


class BodyModelConfig(StrictModel):
    """Which body model turns Θ into vertices: the embedded open body or official SMPL files."""

    kind: Literal["open", "smpl"] = "open"
    #: For ``smpl``: a model file (``SMPL_NEUTRAL.pkl``/``.npz``) or the folder holding it.
    path: Optional[str] = None
    gender: Literal["neutral", "male", "female"] = "neutral"
    num_betas: PositiveInt = 10

    @model_validator(mode="after")
    def _smpl_needs_path(self) -> "BodyModelConfig":
        if self.kind == "smpl" and not self.path:
            raise ValueError("body_model.kind 'smpl' needs body_model.path (the folder with SMPL_NEUTRAL.pkl)")
        return self


class InputConfig(StrictModel):
    crop_size: PositiveInt = 224
    #: T, the window length (paper: 16).
    seq_len: PositiveInt = 16


class ImageStreamConfig(StrictModel):
    """A CNN stream (V-CNN on RGB crops or O-CNN on optical flow): backbone → feature → FC → embed.

    ``backbone: blazepose`` (V-stream only): the V-CNN is MediaPipe's BlazePose landmark network, run
    frozen outside the graph (by the live tracker; stored in the generated shards); the stream takes its
    outputs, ``(33, 9)`` per frame (``training.blazepose_input``), through an MLP. ``small_cnn``: a
    4-layer CNN trained from scratch (the lite O-CNN on flow)."""

    enabled: bool = True
    backbone: Backbone = "resnet50"
    #: Backbone output width (2048 for ResNet-50/101, 512 for ResNet-18/34, 128 for small_cnn, the MLP's
    #: width for blazepose).
    feature_dim: PositiveInt = 2048
    #: Where the backbone starts from: ImageNet weights, a frame-based pose model, or nothing.
    pretrained: Literal["imagenet", "frame_pose", "none"] = "imagenet"
    #: ``blazepose`` only: dropout in the MLP over BlazePose's outputs (training time; no weights).
    dropout: float = Field(0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _own_backbones_untrained(self) -> "ImageStreamConfig":
        if self.backbone in ("small_cnn", "blazepose") and self.pretrained != "none":
            raise ValueError(f"backbone {self.backbone} has no {self.pretrained} weights; set pretrained: none")
        if self.dropout and self.backbone != "blazepose":
            raise ValueError(f"dropout is the blazepose MLP's; backbone {self.backbone} has none (set dropout: 0)")
        return self


class FlowStreamConfig(ImageStreamConfig):
    #: What computes the flow fed to the O-CNN (the paper: a learned auto-encoder flow).
    provider: Literal["learned", "dis", "farneback"] = "learned"


class KeypointStreamConfig(StrictModel):
    """Our extension: MediaPipe's 33 landmarks (x, y, z, visibility) → embed. Off in the paper."""

    enabled: bool = False
    hidden_dim: PositiveInt = 256


class StreamsConfig(StrictModel):
    rgb: ImageStreamConfig = ImageStreamConfig(pretrained="frame_pose")
    flow: FlowStreamConfig = FlowStreamConfig()
    keypoints: KeypointStreamConfig = KeypointStreamConfig()

    @model_validator(mode="after")
    def _blazepose_is_the_v_stream(self) -> "StreamsConfig":
        if self.flow.backbone == "blazepose":
            raise ValueError("streams.flow.backbone blazepose: BlazePose feeds the V-stream (streams.rgb) only")
        return self


class TransformerConfig(StrictModel):
    type: Literal["transformer", "gru"] = "transformer"
    layers: PositiveInt = 6
    heads: PositiveInt = 8
    #: Width of the feed-forward sub-layer (2 FC + dropout); not given by the paper.
    ff_dim: PositiveInt = 2048
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    #: ``bidirectional`` over the T-frame window (the paper) or ``causal`` banded (our live extension).
    attention: Literal["bidirectional", "causal"] = "bidirectional"


class LandmarkFitConfig(StrictModel):
    """After the regressor, place the body on BlazePose's landmarks and turn its limbs onto them
    (``training.model.landmark_fit``; BlazePose V-stream only). ``strength``: 0 keeps the network's limbs,
    1 follows the landmarks' 2D bones fully; ``torso``: also turn the whole body onto the landmarks' torso
    (lean and facing) before the limbs; ``world_depth``: how far each limb bone's depth (towards or away from
    the camera) moves from the network's to BlazePose's world landmarks' (0: the network's, 1: BlazePose's);
    ``world_direction``: then how far each limb bone's whole direction moves towards BlazePose's world bone, the
    world landmarks turned about the view axis onto the image landmarks first (0: none)."""

    enabled: bool = False
    strength: float = Field(1.0, ge=0, le=1)
    torso: bool = True
    world_depth: float = Field(0.0, ge=0, le=1)
    world_direction: float = Field(0.0, ge=0, le=1)


class RegressorConfig(StrictModel):
    type: Literal["transformer", "iterative"] = "transformer"
    layers: PositiveInt = 3
    heads: PositiveInt = 4
    #: Width the 157 coarse parameters are embedded to inside the regressor (not given by the paper).
    dim: PositiveInt = 256
    ff_dim: PositiveInt = 1024
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    #: Iterations of error feedback for ``type: iterative`` (HMR/SPIN).
    iterations: PositiveInt = 3


class DiscriminatorConfig(StrictModel):
    """VIBE's motion discriminator: GRU over pose sequences + attention pooling."""

    enabled: bool = True
    hidden_dim: PositiveInt = 1024
    layers: PositiveInt = 2
    attention_dim: PositiveInt = 1024


class LossWeights(StrictModel):
    """λ1…λ4 of eq. 3 and the flow loss weight of the refinement phase (eq. 9)."""

    kp3d: float = Field(300.0, ge=0)
    kp2d: float = Field(200.0, ge=0)
    smpl: float = Field(120.0, ge=0)
    #: The shape half of L_SMPL on its own weight; None: ``smpl``, as the paper's eq. 6 weights θ and β alike.
    #: (VIBE's code weights β about a thousandth of θ: where the inputs say little about body shape, an equal
    #: weight lets an error that cannot shrink dominate the total.)
    smpl_shape: Optional[float] = Field(None, ge=0)
    adv: float = Field(60.0, ge=0)
    flow: float = Field(0.0, ge=0)
    #: Our extension, not in the paper (keep 0 to reproduce it): weight of ``training.losses.acceleration_loss``.
    accel: float = Field(0.0, ge=0)


class OptimConfig(StrictModel):
    """Adam learning rates: main phase (generator, discriminator) and the flow-loss refinement."""

    generator_lr: PositiveFloat = 5e-5
    discriminator_lr: PositiveFloat = 5e-4
    refinement_lr: PositiveFloat = 1e-5


class ModelConfig(StrictModel):
    name: str
    body_model: BodyModelConfig = BodyModelConfig()
    input: InputConfig = InputConfig()
    streams: StreamsConfig = StreamsConfig()
    #: d, the width shared by every stream's projection and the temporal encoder.
    embed_dim: PositiveInt = 512
    #: Where the flow and keypoint streams join the RGB stream: ``late`` (the paper) adds them to the
    #: temporal encoder's output; ``early`` (our extension) adds them to its input, so that the encoder
    #: sees every stream over time (and can smooth them), not just the RGB features.
    fusion: Literal["late", "early"] = "late"
    temporal_encoder: TransformerConfig = TransformerConfig()
    regressor: RegressorConfig = RegressorConfig()
    discriminator: DiscriminatorConfig = DiscriminatorConfig()
    loss: LossWeights = LossWeights()
    #: Eq. 9 during refinement (the paper: on).
    flow_loss: bool = True
    optim: OptimConfig = OptimConfig()
    landmark_fit: LandmarkFitConfig = LandmarkFitConfig()

    @property
    def rgb_input(self) -> str:
        """What the V-stream eats: ``"blazepose"`` (BlazePose's outputs, ``training.blazepose_input``) or ``"crops"``."""
        return "blazepose" if self.streams.rgb.backbone == "blazepose" else "crops"

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "ModelConfig":
        if self.embed_dim % self.temporal_encoder.heads:
            raise ValueError(
                f"temporal_encoder.heads ({self.temporal_encoder.heads}) must divide embed_dim ({self.embed_dim})"
            )
        if self.regressor.dim % self.regressor.heads:
            raise ValueError(f"regressor.heads ({self.regressor.heads}) must divide regressor.dim ({self.regressor.dim})")
        if not self.streams.rgb.enabled:
            raise ValueError("streams.rgb.enabled must be true: the temporal encoder runs over the RGB stream")
        if self.landmark_fit.enabled and self.rgb_input != "blazepose":
            raise ValueError("landmark_fit.enabled needs BlazePose's landmarks: set streams.rgb.backbone=blazepose")
        return self


class DataMix(StrictModel):
    """Share of each batch drawn from 2D-only and 3D data sets (VIBE mixes 2D/3D at fixed ratios)."""

    ratio_2d: float = Field(0.6, ge=0, le=1)
    ratio_3d: float = Field(0.4, ge=0, le=1)


class PhaseConfig(StrictModel):
    epochs: PositiveInt = 30
    iters_per_epoch: PositiveInt = 500
    #: Run this phase at all (``refinement_phase.enabled: false`` stops after the main phase).
    enabled: bool = True


class TrainConfig(StrictModel):
    #: A model config: a name under configs/model/ (``paper``, ``lite``) or a path to a YAML file.
    model: str = "paper"
    seed: int = 0
    batch_size: PositiveInt = 32
    num_workers: int = Field(4, ge=0)
    data_root: str = "data"
    datasets_2d: list[str] = ["insta", "pennaction", "posetrack"]
    datasets_3d: list[str] = ["3dpw", "mpii3d", "h36m"]
    motion_dataset: str = "amass"
    mix: DataMix = DataMix()
    main_phase: PhaseConfig = PhaseConfig()
    refinement_phase: PhaseConfig = PhaseConfig(epochs=5)
    output_dir: str = "runs"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: bool = False
    #: ``key=value`` overrides applied to the model config (e.g. ``input.seq_len=8``); checkpoints store the result.
    model_overrides: list[str] = []
    #: What the training db files feed the RGB stream: precomputed ``features`` or ``crops`` cut from the images.
    data_mode: Literal["features", "crops"] = "features"
    #: Data sets validated on after every epoch (``<name>_<val_split>*db.pt`` under data_root; missing ones are skipped).
    val_datasets: list[str] = ["3dpw"]
    val_split: str = "test"
    #: ``synthetic`` in datasets_3d / val_datasets means the project's generated video: shards under
    #: ``<data_root>/synthetic`` (tools/make_synthetic.py) when present, else this many clips made on
    #: the fly; validation uses this many held-out generated clips.
    synthetic_clips: PositiveInt = 2000
    val_generated_clips: PositiveInt = 4
    #: The validation metric (lower is better) that picks ``best.pt``; without validation data, the epoch's mean loss.
    best_metric: Literal["pa_mpjpe", "mpjpe", "pve", "accel"] = "pa_mpjpe"
    #: Std of Gaussian noise added to the keypoint stream's landmarks (normalised crop units); 0 = off.
    keypoint_noise: float = Field(0.0, ge=0)
    #: Crop-placement augmentation of a BlazePose V-stream (``training.batches.recrop``): each clip's crop moved
    #: by up to this much (normalised crop units) and resized by up to exp(±recrop_scale); main phase only
    #: (the refinement's flow loss reads the flow where the 2D joints are). 0 = off.
    recrop_shift: float = Field(0.0, ge=0, le=1)
    recrop_scale: float = Field(0.0, ge=0, le=1)
    #: Share of clips cut off by the frame's edge below a line between shoulders and ankles, cropped as the
    #: live tracker crops what stays visible (``training.batches.truncate``: close-ups, people half out of
    #: view); BlazePose V-stream, main phase only. 0 = off.
    truncate_prob: float = Field(0.0, ge=0, le=1)
    #: Share of clips seen by a camera turned about its axis by −180°‥180° (``training.batches.roll``: a phone on its
    #: side, an inverted camera, a handstand); BlazePose V-stream, main phase only. 0 = off.
    roll_prob: float = Field(0.0, ge=0, le=1)
    #: Dropout inside the motion discriminator (VIBE: 0.1); 0 makes runs with different process counts comparable.
    discriminator_dropout: float = Field(0.1, ge=0, lt=1)
    #: ``torch.use_deterministic_algorithms`` (warn-only) so that a seed fixes the run.
    deterministic: bool = True
    #: TensorBoard scalars every this many steps.
    log_every: PositiveInt = 10


#: The repository's ``configs/`` folder (configs are looked up by name there).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def resolve_config_path(name_or_path: str | Path, kind: str) -> Path:
    """A config given as a name (``paper``) under ``configs/<kind>/`` or as a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return CONFIG_DIR / kind / f"{name_or_path}.yaml"


def load_model_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ModelConfig:
    """``configs/model/<name>.yaml`` (or a path), validated, with ``key=value`` overrides."""
    return load_config(resolve_config_path(name_or_path, "model"), ModelConfig, overrides)


def load_train_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """``configs/train/<name>.yaml`` (or a path), validated, with ``key=value`` overrides."""
    return load_config(resolve_config_path(name_or_path, "train"), TrainConfig, overrides)
