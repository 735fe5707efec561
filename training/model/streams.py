"""The modality streams of DTS-VIBE (paper §3.1): each maps one frame's input to an ``embed_dim`` feature.

- :class:`ImageStream` — a torchvision ResNet (or, for the lite model, MobileNetV3-Small) without its classifier, then ``FC feature_dim → embed_dim``.
  The V-CNN runs it on RGB crops (3 channels), the O-CNN on optical flow (2 channels).
- :class:`BlazePoseStream` — the lite default's V-stream: the V-CNN is MediaPipe's BlazePose (frozen, run
  outside the graph); its landmark outputs → MLP → ``embed_dim``.
- :class:`KeypointStream` — our extension: MediaPipe's 33 landmarks → MLP → ``embed_dim``.
- :func:`build_streams` — the enabled streams of a :class:`~training.config.schema.ModelConfig`.

Nothing is downloaded: ImageNet weights are used only when they already sit in torchvision's cache
(``torch.hub.get_dir()/checkpoints``) or are given as a file; see :func:`resolve_pretrained`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

import torch
from torch import Tensor, nn
from torchvision import models

from ..config.schema import ImageStreamConfig, KeypointStreamConfig, ModelConfig
from ..preprocessing import IMAGENET_MEAN as _MEAN
from ..preprocessing import IMAGENET_STD as _STD

__all__ = [
    "BLAZEPOSE",
    "BlazePoseStream",
    "ImageStream",
    "KeypointStream",
    "PretrainedWeightsMissing",
    "build_image_stream",
    "build_keypoint_stream",
    "build_streams",
    "load_backbone_state",
    "make_backbone",
    "resolve_pretrained",
]

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: ImageNet statistics the V-CNN's RGB input is normalised with (``(x - mean) / std`` on [0, 1] pixels).
IMAGENET_MEAN = tuple(float(v) for v in _MEAN)
IMAGENET_STD = tuple(float(v) for v in _STD)

#: Smallest crop side a backbone accepts (its total stride is 32).
MIN_CROP = 32

#: Channels of each image-stream input: RGB crops and 2-channel optical flow (dx, dy).
RGB_CHANNELS = 3
FLOW_CHANNELS = 2

#: MediaPipe Pose: 33 landmarks of (x, y, z, visibility).
NUM_LANDMARKS = 33
LANDMARK_FEATURES = 4


class PretrainedWeightsMissing(FileNotFoundError):
    """Pretrained weights were asked for but are not on disk (nothing is downloaded at run time)."""


class PooledFeatures(nn.Module):
    """A torchvision classifier's convolutional ``features`` trunk, global-average-pooled: ``(N, C, H, W) → (N, F)``.

    The attribute name ``features`` keeps torchvision's state-dict keys, so ImageNet checkpoints load as is.
    """

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)


def _resnet_trunk(make: Callable[..., nn.Module]) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        net = make(weights=None)
        net.fc = nn.Identity()
        return net

    return build


def _mobilenet_trunk(make: Callable[..., nn.Module]) -> Callable[[], nn.Module]:
    return lambda: PooledFeatures(make(weights=None).features)


def _small_cnn(width: int = 16) -> nn.Module:
    """Half resolution, then four stride-2 conv blocks (``width`` … 8·``width`` channels), pooled: a cheap O-CNN
    trained from scratch (on 128² flow: 0.12 s forward + backward for 256 crops on 2 cores, 6× less than at full size)."""
    layers: list[nn.Module] = [nn.AvgPool2d(2)]
    c_in = RGB_CHANNELS
    for i in range(4):
        c_out = width * 2**i
        k = 5 if i == 0 else 3
        layers += [nn.Conv2d(c_in, c_out, k, 2, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        c_in = c_out
    return PooledFeatures(nn.Sequential(*layers))


@dataclass(frozen=True)
class BackboneSpec:
    """A torchvision backbone: how to build its pooled trunk, its weights enum, its pooled width, and the
    state-dict keys of its first conv (replaced for non-RGB input) and of a tensor that only it has
    (to find it inside a larger checkpoint)."""

    label: str
    build: Callable[[], nn.Module]
    weights: type
    feature_dim: int
    first_conv: str
    anchor: str


_RESNET = dict(first_conv="conv1.weight", anchor="layer1.0.conv1.weight")
_MOBILENET = dict(first_conv="features.0.0.weight", anchor="features.1.block.0.0.weight")

BACKBONES: dict[str, BackboneSpec] = {
    "resnet18": BackboneSpec("ResNet-18", _resnet_trunk(models.resnet18), models.ResNet18_Weights, 512, **_RESNET),
    "resnet34": BackboneSpec("ResNet-34", _resnet_trunk(models.resnet34), models.ResNet34_Weights, 512, **_RESNET),
    "resnet50": BackboneSpec("ResNet-50", _resnet_trunk(models.resnet50), models.ResNet50_Weights, 2048, **_RESNET),
    "resnet101": BackboneSpec("ResNet-101", _resnet_trunk(models.resnet101), models.ResNet101_Weights, 2048, **_RESNET),
    # CPU-friendly trunk for the lite model: ~5× cheaper than ResNet-18 to train and run, 0.9 M parameters.
    "mobilenet_v3_small": BackboneSpec(
        "MobileNetV3-Small", _mobilenet_trunk(models.mobilenet_v3_small), models.MobileNet_V3_Small_Weights, 576, **_MOBILENET
    ),
    # The lite default's O-CNN: ~0.1 M parameters, no pretrained weights (the config must say pretrained: none).
    "small_cnn": BackboneSpec("small CNN", _small_cnn, type(None), 128, first_conv="features.1.weight", anchor="features.1.weight"),
}

#: ``streams.rgb.backbone`` whose V-CNN is MediaPipe's BlazePose, run outside the graph (:class:`BlazePoseStream`).
BLAZEPOSE = "blazepose"


def backbone_spec(backbone: str) -> BackboneSpec:
    """The :class:`BackboneSpec` of ``backbone`` (a key of :data:`BACKBONES`); ValueError otherwise."""
    try:
        return BACKBONES[backbone]
    except KeyError:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}") from None


# --------------------------------------------------------------------------------------------------
# Backbone construction and weights
# --------------------------------------------------------------------------------------------------


def _replace_module(root: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, name = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, name, module)


def make_backbone(backbone: str, in_channels: int = RGB_CHANNELS) -> nn.Module:
    """A randomly initialised torchvision trunk without its classifier: ``(N, C, H, W) → (N, F)``.

    For ``in_channels != 3`` the first conv is replaced by one of the same geometry.
    """
    spec = backbone_spec(backbone)
    net = spec.build()
    if in_channels != RGB_CHANNELS:
        conv_name = spec.first_conv.rsplit(".", 1)[0]
        old = net.get_submodule(conv_name)
        new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=old.bias is not None)
        _replace_module(net, conv_name, new)
    return net


def imagenet_cache_files(backbone: str) -> list[Path]:
    """Where torchvision's cache would hold ``backbone``'s ImageNet weights, the default enum entry first."""
    enum = backbone_spec(backbone).weights
    ordered = [enum.DEFAULT] + [w for w in enum if w is not enum.DEFAULT]
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return [folder / Path(w.url).name for w in ordered]


def resolve_pretrained(
    pretrained: Optional[PathLike], backbone: str, weights_path: Optional[PathLike] = None, label: Optional[str] = None
) -> Optional[Path]:
    """The weights file to start ``backbone`` from, or ``None`` for random initialisation.

    ``pretrained``: ``"none"``/``None`` (random), ``"imagenet"`` (``weights_path`` if given, else
    torchvision's cache), ``"frame_pose"`` (a frame-based pose model's checkpoint, e.g. SPIN, given
    as ``weights_path``), or a file path. Raises :class:`PretrainedWeightsMissing` when the file is absent.
    """
    if pretrained is None or pretrained == "none":
        return None
    hint = f"set streams.{label}.pretrained=none" if label else "pass pretrained='none'"
    name = backbone_spec(backbone).label
    if pretrained not in ("imagenet", "frame_pose"):
        weights_path, pretrained = pretrained, "file"
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise PretrainedWeightsMissing(f"{name} weights not found at {path}; check the path or {hint}")
        return path
    if pretrained == "frame_pose":
        raise PretrainedWeightsMissing(
            f"{name} frame-pose weights (e.g. a SPIN checkpoint) need a file path; pass one or {hint}"
        )
    candidates = imagenet_cache_files(backbone)
    for path in candidates:
        if path.is_file():
            return path
    raise PretrainedWeightsMissing(
        f"{name} ImageNet weights not found at {candidates[0]}; copy them there or pass a path, or {hint}"
    )


def read_state_dict(path: PathLike) -> dict[str, Tensor]:
    """The tensors of a checkpoint file, unwrapping ``{"state_dict"|"model"|"model_state_dict": ...}``."""
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model_state_dict", "model", "gen_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return {k: v for k, v in obj.items() if isinstance(v, Tensor)}


def adapt_first_conv(weight: Tensor, in_channels: int) -> Tensor:
    """Cross-modality initialisation: ``(O, C, k, k) → (O, in_channels, k, k)``.

    Channels are averaged and the mean replicated to ``in_channels`` (RGB → 2-channel flow).
    """
    if weight.shape[1] == in_channels:
        return weight
    return weight.mean(dim=1, keepdim=True).expand(-1, in_channels, -1, -1).contiguous()


def _backbone_prefix(state: Mapping[str, Tensor], spec: BackboneSpec) -> str:
    """The key prefix under which ``state`` holds the backbone (``""``, ``"module."``, ``"backbone."`` …)."""
    anchor, first = spec.anchor, spec.first_conv
    prefixes = [k[: -len(anchor)] for k in state if k.endswith(anchor) and f"{k[: -len(anchor)]}{first}" in state]
    if not prefixes:
        raise ValueError(f"the checkpoint holds no {spec.label} (no '[prefix]{first}' with '[prefix]{anchor}')")
    if len(prefixes) > 1:
        raise ValueError(f"the checkpoint holds several {spec.label} trunks (prefixes {prefixes}); pass prefix=")
    return prefixes[0]


def load_backbone_state(
    backbone: nn.Module, state: Mapping[str, Tensor], prefix: Optional[str] = None, name: str = "resnet50"
) -> None:
    """Copy the weights of backbone ``name`` from ``state`` into ``backbone`` (a :func:`make_backbone`).

    The classifier and any other heads (SPIN's regressor …) are ignored; the first conv is adapted
    with :func:`adapt_first_conv` when its channel count differs. ValueError when a backbone tensor
    is missing or has another shape (a checkpoint of a different backbone).
    """
    spec = backbone_spec(name)
    prefix = _backbone_prefix(state, spec) if prefix is None else prefix
    own = backbone.state_dict()
    new: dict[str, Tensor] = {}
    missing = []
    for key, target in own.items():
        src = state.get(prefix + key)
        if src is None:
            if not key.endswith("num_batches_tracked"):  # absent from old checkpoints; harmless
                missing.append(key)
            continue
        if key == spec.first_conv:
            src = adapt_first_conv(src, target.shape[1])
        if src.shape != target.shape:
            raise ValueError(f"checkpoint tensor {prefix + key} has shape {tuple(src.shape)}, expected {tuple(target.shape)}")
        new[key] = src.to(target.dtype)
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} backbone tensors, e.g. {missing[:3]} (prefix {prefix!r})")
    backbone.load_state_dict(new, strict=False)


# --------------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------------


class ImageStream(nn.Module):
    """A CNN stream: backbone (global-average-pooled) → ``FC feature_dim → embed_dim``.

    The V-CNN takes ImageNet-normalised RGB crops (``in_channels=3``), the O-CNN optical flow
    (``in_channels=2``). :meth:`forward` also accepts precomputed backbone features ``(N, F)`` and
    then applies only the FC (training on stored features, as VIBE does).

    ``pretrained``: ``"imagenet"``, ``"frame_pose"``, ``"none"``/``None`` or a file path; see
    :func:`resolve_pretrained`. When the weights are not on disk, ``strict=True`` raises
    :class:`PretrainedWeightsMissing`; ``strict=False`` logs one warning and keeps random weights.
    ``crop_size`` is the input side the stream is configured for (used by exporters for example
    inputs); any side ≥ 32 is accepted.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        in_channels: int = RGB_CHANNELS,
        feature_dim: int = 2048,
        embed_dim: int = 512,
        pretrained: Optional[PathLike] = None,
        weights_path: Optional[PathLike] = None,
        strict: bool = True,
        crop_size: int = 224,
        label: Optional[str] = None,
    ) -> None:
        super().__init__()
        spec = backbone_spec(backbone)
        if feature_dim != spec.feature_dim:
            raise ValueError(
                f"feature_dim {feature_dim} does not match {backbone}, whose pooled output is {spec.feature_dim}-d"
            )
        if in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        self.backbone_name = backbone
        self.in_channels = in_channels
        self.feature_dim = feature_dim
        self.embed_dim = embed_dim
        self.crop_size = crop_size
        self.backbone = make_backbone(backbone, in_channels)
        self.fc = nn.Linear(feature_dim, embed_dim)
        #: The file the backbone was initialised from (None: random).
        self.weights_file: Optional[Path] = None
        self._init_backbone(pretrained, weights_path, strict, label)

    def _init_backbone(
        self, pretrained: Optional[PathLike], weights_path: Optional[PathLike], strict: bool, label: Optional[str]
    ) -> None:
        try:
            path = resolve_pretrained(pretrained, self.backbone_name, weights_path, label)
        except PretrainedWeightsMissing as err:
            if strict:
                raise
            logger.warning("%s — continuing with random initialisation", err)
            return
        if path is None:
            return
        load_backbone_state(self.backbone, read_state_dict(path), name=self.backbone_name)
        self.weights_file = path
        logger.info("%s stream backbone initialised from %s", label or self.backbone_name, path)

    def forward_backbone(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` crops → ``(N, feature_dim)`` pooled backbone features."""
        if not torch.jit.is_tracing():  # shapes are checked once, on the example input, when tracing
            self._check_image(x)
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` crops or ``(N, feature_dim)`` precomputed features → ``(N, embed_dim)``."""
        if x.dim() == 2 and x.shape[1] == self.feature_dim:
            return self.fc(x)
        return self.fc(self.forward_backbone(x))

    def _check_image(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.backbone_name} stream expects (N, {self.in_channels}, H, W) crops or "
                f"(N, {self.feature_dim}) features, got {tuple(x.shape)}"
            )
        if x.shape[2] < MIN_CROP or x.shape[3] < MIN_CROP:
            raise ValueError(f"crops must be at least {MIN_CROP}×{MIN_CROP}, got {tuple(x.shape)}")


class KeypointStream(nn.Module):
    """MediaPipe landmarks ``(N, L, 4)`` of (x, y, z, visibility) → MLP → ``(N, embed_dim)``.

    x, y are normalised to the crop in [-1, 1]; visibility is clamped to [0, 1]. Each landmark's
    coordinates are multiplied by its visibility (a landmark with visibility 0 contributes zeros
    whatever its coordinates, even NaN), and the visibilities themselves are fed too, so the MLP
    can tell "unseen" from "at the origin". Input per landmark: (v·x, v·y, v·z, v).
    """

    def __init__(
        self,
        num_landmarks: int = NUM_LANDMARKS,
        in_features: int = LANDMARK_FEATURES,
        hidden_dim: int = 256,
        embed_dim: int = 512,
    ) -> None:
        super().__init__()
        if in_features < 2:
            raise ValueError(f"in_features must hold coordinates and a visibility, got {in_features}")
        self.num_landmarks = num_landmarks
        self.in_features = in_features
        self.embed_dim = embed_dim
        self.mlp = nn.Sequential(
            nn.Linear(num_landmarks * in_features, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, embed_dim),
        )

    def forward(self, landmarks: Tensor) -> Tensor:
        """``(N, L, F)`` landmarks, the last feature the visibility → ``(N, embed_dim)``."""
        if landmarks.dim() != 3 or landmarks.shape[1:] != (self.num_landmarks, self.in_features):
            raise ValueError(
                f"keypoint stream expects (N, {self.num_landmarks}, {self.in_features}) landmarks, "
                f"got {tuple(landmarks.shape)}"
            )
        coords, vis = landmarks[..., :-1], landmarks[..., -1:].clamp(0.0, 1.0)
        weighted = torch.where(vis > 0, coords * vis, torch.zeros_like(coords))
        return self.mlp(torch.cat([weighted, vis], dim=-1).flatten(1))


class BlazePoseStream(nn.Module):
    """The V-stream when the V-CNN is BlazePose (frozen, outside the graph): its outputs ``(N, 33, 9)``
    (``training.blazepose_input``: image landmarks, visibility, presence, world landmarks, score) → MLP
    → ``(N, embed_dim)``. Landmark coordinates are weighted by presence, so a missed frame (all zeros) and
    an unsure landmark both read as "not seen"."""

    def __init__(self, hidden_dim: int = 512, embed_dim: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        from ..blazepose_input import CHANNELS, NUM_LANDMARKS

        self.num_landmarks, self.channels = NUM_LANDMARKS, len(CHANNELS)
        self.feature_dim = hidden_dim
        self.embed_dim = embed_dim
        self.mlp = nn.Sequential(
            nn.Linear(self.num_landmarks * self.channels, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
        )
        self.dropout = nn.Dropout(dropout)  # no weights: checkpoints with and without it load alike
        self.fc = nn.Linear(hidden_dim, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 33, 9)`` BlazePose outputs → ``(N, embed_dim)``."""
        if x.dim() != 3 or x.shape[1:] != (self.num_landmarks, self.channels):
            raise ValueError(
                f"the blazepose V-stream expects (N, {self.num_landmarks}, {self.channels}) BlazePose outputs "
                f"(training.blazepose_input), got {tuple(x.shape)}"
            )
        presence = x[..., 4:5].clamp(0.0, 1.0)
        coords = torch.cat([x[..., :3] * presence, x[..., 3:5], x[..., 5:8] * presence, x[..., 8:]], dim=-1)
        return self.fc(self.dropout(self.mlp(coords.flatten(1))))


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def build_image_stream(
    cfg: ImageStreamConfig,
    in_channels: int,
    embed_dim: int,
    crop_size: int = 224,
    weights_path: Optional[PathLike] = None,
    strict: bool = False,
    label: Optional[str] = None,
) -> ImageStream:
    """An :class:`ImageStream` from its config section (``streams.rgb`` or ``streams.flow``)."""
    return ImageStream(
        backbone=cfg.backbone,
        in_channels=in_channels,
        feature_dim=cfg.feature_dim,
        embed_dim=embed_dim,
        pretrained=cfg.pretrained,
        weights_path=weights_path,
        strict=strict,
        crop_size=crop_size,
        label=label,
    )


def build_keypoint_stream(cfg: KeypointStreamConfig, embed_dim: int) -> KeypointStream:
    """A :class:`KeypointStream` from ``streams.keypoints``."""
    return KeypointStream(hidden_dim=cfg.hidden_dim, embed_dim=embed_dim)


def build_streams(
    cfg: ModelConfig, weights: Optional[Mapping[str, PathLike]] = None, strict: bool = False
) -> nn.ModuleDict:
    """The enabled streams of ``cfg``: ``"rgb"`` (always), ``"flow"``, ``"keypoints"``.

    ``weights`` maps a stream name to a checkpoint file (e.g. ``{"rgb": "spin_model_checkpoint.pt"}``
    for ``pretrained: frame_pose``, or ImageNet weights outside torchvision's cache). Weights that are
    asked for but absent: a one-line warning and random initialisation (``strict=False``) or
    :class:`PretrainedWeightsMissing` (``strict=True``).
    """
    weights = dict(weights or {})
    unknown = set(weights) - {"rgb", "flow"}
    if unknown:
        raise ValueError(f"weights given for unknown streams {sorted(unknown)}; expected 'rgb' or 'flow'")
    s, d, crop = cfg.streams, cfg.embed_dim, cfg.input.crop_size
    streams = nn.ModuleDict()
    if s.rgb.backbone == BLAZEPOSE:
        streams["rgb"] = BlazePoseStream(s.rgb.feature_dim, d, s.rgb.dropout)
    else:
        streams["rgb"] = build_image_stream(s.rgb, RGB_CHANNELS, d, crop, weights.get("rgb"), strict, "rgb")
    if s.flow.enabled:
        streams["flow"] = build_image_stream(s.flow, FLOW_CHANNELS, d, crop, weights.get("flow"), strict, "flow")
    if s.keypoints.enabled:
        streams["keypoints"] = build_keypoint_stream(s.keypoints, d)
    return streams
