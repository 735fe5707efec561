"""From collated data batches to model inputs and loss targets: the one place that knows the batch keys.

A batch is what :func:`training.data.collate` stacks from data set items (see
:class:`~training.data.VibeWindowDataset` for the base layout). Keys read here:

====================  ======================  ===================================================
key                   shape                   used for
====================  ======================  ===================================================
features              (B, T, F)               RGB stream input: precomputed backbone features
rgb                   (B, T, 3, S, S)         RGB stream input: ImageNet-normalised crops
blazepose             (B, T, 33, 9)           RGB stream input when its V-CNN is BlazePose
                                              (``rgb_input="blazepose"``, ``training.blazepose_input``)
flow_features         (B, T, F)               flow stream input: precomputed O-CNN backbone features
flow                  (B, T, 2, S, S)         flow stream input (when no ``flow_features``) and the
                                              flow loss (eq. 9); pixels, backward (``training.losses``)
kp2d_mediapipe33      (B, T, 33, 3 or 4)      keypoint stream: x, y in [-1, 1] (+ z) + visibility
kp2d                  (B, T, 49, 3)           2D target: x, y in [-1, 1] + confidence (``spin49``)
kp3d                  (B, T, 49, 3)           3D target in metres (all-zero joints = unlabelled)
pose, betas           (B, T, 72), (B, T, 10)  SMPL target (axis-angle θ, β)
valid, has_kp2d,      (B, T) bool             masks: frame usable / which labels exist
has_kp3d, has_smpl
====================  ======================  ===================================================

VIBE's feature files carry no optical flow: a model whose flow stream is on can only train on them
when the items also hold ``flow_features`` (or ``flow``), or when a ``flow_fn`` computes flow from
the crops; :func:`check_item_keys` says so before training starts. :class:`DbExtrasDataset` passes
extra per-frame db keys (``flow_features``, ``kp2d_mediapipe33``) through to the items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .preprocessing import normalise_keypoints

__all__ = [
    "BatchError",
    "DbExtrasDataset",
    "FlowFn",
    "ModelInputs",
    "Targets",
    "blazepose_input",
    "recrop",
    "truncate",
    "check_item_keys",
    "keypoint_input",
    "loss_targets",
    "model_inputs",
    "provider_flow_fn",
    "required_item_keys",
    "shard",
    "to_device",
]

#: Computes backward optical flow from crops: ``(B, T, 3, S, S)`` → ``(B, T, 2, S, S)`` pixels.
FlowFn = Callable[[torch.Tensor], torch.Tensor]

#: Extra per-frame db keys that :class:`DbExtrasDataset` adds to items; keypoint keys are in image
#: pixels in the db (like ``joints2D``) and normalised to the crop like it.
DB_EXTRA_KEYS: tuple[str, ...] = ("flow_features", "kp2d_mediapipe33")
_PIXEL_KEYPOINT_KEYS = ("kp2d_mediapipe33",)

NUM_LANDMARKS = 33


class BatchError(ValueError):
    """A batch (or data set) that cannot feed the configured model; the message says what is missing."""


@dataclass
class ModelInputs:
    """What ``DTSVIBE.forward`` takes, with leading dims ``(B, T)``."""

    rgb: torch.Tensor  # (B, T, F) features or (B, T, 3, S, S) crops
    flow: Optional[torch.Tensor] = None  # (B, T, F) features or (B, T, 2, S, S) pixels
    keypoints: Optional[torch.Tensor] = None  # (B, T, 33, 4)

    def as_kwargs(self) -> dict[str, Optional[torch.Tensor]]:
        return {"rgb": self.rgb, "flow": self.flow, "keypoints": self.keypoints}


@dataclass
class Targets:
    """Loss targets and masks, leading dims ``(B, T)``."""

    kp2d: torch.Tensor  # (B, T, 49, 2) normalised crop coordinates
    kp2d_conf: torch.Tensor  # (B, T, 49)
    kp3d: torch.Tensor  # (B, T, 49, 3) metres
    kp3d_conf: torch.Tensor  # (B, T, 49): 1 where the joint is labelled (not all-zero)
    pose: torch.Tensor  # (B, T, 72) axis-angle
    betas: torch.Tensor  # (B, T, 10)
    valid: torch.Tensor  # (B, T) bool
    has_kp2d: torch.Tensor  # (B, T) bool
    has_kp3d: torch.Tensor  # (B, T) bool
    has_smpl: torch.Tensor  # (B, T) bool
    flow: Optional[torch.Tensor] = None  # (B, T, 2, S, S) pixel flow for eq. 9, when the batch has it


# -- which keys a model needs ------------------------------------------------------------------------
def required_item_keys(stream_names: Sequence[str], mode: str, rgb_input: str = "crops") -> dict[str, tuple[str, ...]]:
    """Per enabled stream, the item keys any one of which feeds it (``mode``: features or crops;
    ``rgb_input``: ``ModelConfig.rgb_input``)."""
    need = {"rgb": ("blazepose",) if rgb_input == "blazepose" else ("features",) if mode == "features" else ("rgb",)}
    if "flow" in stream_names:
        need["flow"] = ("flow_features", "flow")
    if "keypoints" in stream_names:
        need["keypoints"] = ("kp2d_mediapipe33",)
    return need


def check_item_keys(
    item: Mapping[str, Any],
    stream_names: Sequence[str],
    source: str,
    has_flow_fn: bool = False,
    feature_dims: Optional[Mapping[str, int]] = None,
    rgb_input: str = "crops",
) -> None:
    """Raise :class:`BatchError` (one line) if ``item`` cannot feed the model's streams.

    ``feature_dims``: the backbone width each image stream expects (``{"rgb": 2048, "flow": 2048}``);
    precomputed ``features``/``flow_features`` of another width are an error.
    """
    for stream, key in (("rgb", "features"), ("flow", "flow_features")):
        want = (feature_dims or {}).get(stream) if (stream, rgb_input) != ("rgb", "blazepose") else None
        if want and key in item and stream in stream_names and item[key].shape[-1] != want:
            raise BatchError(
                f"{source}: '{key}' are {item[key].shape[-1]}-d but the {stream} stream's backbone gives {want}-d "
                f"features; use features of streams.{stream}.backbone or a model whose backbone matches"
            )
    mode = "features" if "features" in item else "crops"
    for stream, keys in required_item_keys(stream_names, mode, rgb_input).items():
        if any(k in item for k in keys):
            continue
        if stream == "flow" and has_flow_fn and "rgb" in item:
            continue
        if stream == "flow":
            raise BatchError(
                f"{source}: the model's flow stream needs 'flow_features' or 'flow' in the data, which VIBE "
                "feature files do not carry; add flow to the data (crops mode + a flow provider), or set "
                "the model override streams.flow.enabled=false"
            )
        if stream == "keypoints":
            raise BatchError(
                f"{source}: the model's keypoint stream needs 'kp2d_mediapipe33' (MediaPipe landmarks) in the "
                "data; run tools/pseudo_label.py on the clips, or set streams.keypoints.enabled=false"
            )
        if rgb_input == "blazepose":
            raise BatchError(
                f"{source}: the model's V-stream is BlazePose and needs its outputs ('blazepose', from the mp_* "
                "arrays); write the shards with tools/make_synthetic.py --blazepose"
            )
        raise BatchError(f"{source}: items have no {keys[0]!r} for the rgb stream (data_mode {mode!r})")


def provider_flow_fn(name: str) -> FlowFn:
    """A :data:`FlowFn` that runs the ``training.flow`` provider ``name`` (``dis``, ``farneback``,
    ``learned``) on ImageNet-normalised crops ``(B, T, 3, S, S)`` → ``(B, T, 2, S, S)`` pixels (frame 0
    zero). The provider is made on first use, so a missing learned-flow graph only matters when used."""
    made: dict[str, Any] = {}

    def flow_fn(rgb: torch.Tensor) -> torch.Tensor:
        from .flow import denormalise_imagenet, make_provider, sequence_flow

        if "provider" not in made:
            made["provider"] = make_provider(name)
        clips = [sequence_flow(made["provider"], denormalise_imagenet(c.detach().float().cpu())) for c in rgb]
        return torch.from_numpy(np.stack(clips)).to(rgb.device)

    return flow_fn


# -- inputs --------------------------------------------------------------------------------------------
def keypoint_input(
    kp: torch.Tensor, noise: float = 0.0, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """MediaPipe landmarks ``(B, T, 33, 3)`` (x, y, vis) or ``(B, T, 33, 4)`` (x, y, z, vis) → ``(B, T, 33, 4)``.

    ``noise`` > 0 adds Gaussian noise of that std (normalised crop units) to x, y of visible
    landmarks, drawn from ``generator`` (augmentation for detector jitter).
    """
    if kp.dim() != 4 or kp.shape[2] != NUM_LANDMARKS or kp.shape[3] not in (3, 4):
        raise BatchError(f"kp2d_mediapipe33 has shape {tuple(kp.shape)}; expected (B, T, 33, 3) or (B, T, 33, 4)")
    kp = kp.float()
    if kp.shape[3] == 3:
        kp = torch.cat([kp[..., :2], torch.zeros_like(kp[..., :1]), kp[..., 2:]], dim=-1)
    if noise > 0:
        jitter = torch.randn(kp.shape[:-1] + (2,), generator=generator).to(kp.device) * noise
        visible = (kp[..., 3:] > 0).to(kp.dtype)
        kp = torch.cat([kp[..., :2] + jitter * visible, kp[..., 2:]], dim=-1)
    return kp


def blazepose_input(x: torch.Tensor, noise: float = 0.0, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """BlazePose outputs ``(B, T, 33, 9)``; ``noise`` > 0 adds Gaussian noise of that std to the image
    landmarks' x, y (crop units) and half of it in metres to the world landmarks, on frames BlazePose found."""
    x = x.float()
    if noise <= 0:
        return x
    jitter = torch.randn(x.shape[:-1] + (5,), generator=generator).to(x.device) * noise
    found = (x[..., 8:9] > 0).to(x.dtype)
    return torch.cat([x[..., :2] + jitter[..., :2] * found, x[..., 2:5], x[..., 5:8] + 0.5 * jitter[..., 2:] * found, x[..., 8:]], -1)


def recrop(inputs: ModelInputs, targets: Targets, shift: float, scale: float, generator: Optional[torch.Generator] = None) -> None:
    """Crop-placement augmentation for the BlazePose V-stream, in place: as if each clip's crop square had been
    moved by up to ``shift`` (normalised crop units) and resized by a factor up to ``exp(±scale)``. BlazePose's
    image landmarks (x, y, and z with them) and the 2D targets move together; 3D and SMPL targets do not change
    (a weak-perspective camera absorbs both). Generated clips keep the person centred in the crop; live, the
    tracker's crop lags a moving person, and the model must read where the person is from the landmarks."""
    x = inputs.rgb
    b = x.shape[0]
    d = ((torch.rand(b, 2, generator=generator) * 2 - 1) * shift).to(x.device)
    k = torch.exp((torch.rand(b, generator=generator) * 2 - 1) * scale).to(x.device)
    found = x[..., 8:9] > 0
    moved = torch.cat([x[..., :2] * k[:, None, None, None] + d[:, None, None, :], x[..., 2:3] * k[:, None, None, None]], -1)
    inputs.rgb = torch.cat([torch.where(found, moved, x[..., :3]), x[..., 3:]], -1)
    targets.kp2d = targets.kp2d * k[:, None, None, None] + d[:, None, None, :]


def roll(inputs: ModelInputs, targets: Targets, prob: float, generator: Optional[torch.Generator] = None) -> None:
    """Camera-roll augmentation for the BlazePose V-stream, in place: a share ``prob`` of the clips is seen by a camera
    turned about its optical axis by an angle drawn from −180°‥180° (a phone on its side, a camera hung upside down —
    or, to the camera, a person in a handstand). BlazePose turns its region with the person, so its world landmarks in
    the region's axes (channels 5–7, ``training.blazepose_input.world_in_region_axes``), depth, confidences and score
    stay as they are; its image landmarks turn about the crop's centre, and so do the flow field (``(B, T, 2, S, S)``
    pixels: the field moves and each vector turns; the corners that come from outside the crop are zero), the 2D
    targets, the 3D targets (about the camera's axis) and the body's root orientation."""
    x = inputs.rgb
    b = x.shape[0]
    dev = x.device
    chosen = torch.rand(b, generator=generator).to(dev) < prob
    if not bool(chosen.any()):
        return
    angle = torch.where(chosen, (torch.rand(b, generator=generator).to(dev) * 2 - 1) * math.pi, torch.zeros(b, device=dev))
    c, s = torch.cos(angle), torch.sin(angle)
    r2 = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2), image axes (y down)
    turn = lambda pts: torch.einsum("bij,bt...j->bt...i", r2.to(pts.dtype), pts)  # noqa: E731
    found = x[..., 8:9] > 0
    inputs.rgb = torch.cat([torch.where(found, turn(x[..., :2]), x[..., :2]), x[..., 2:]], -1)
    if inputs.flow is not None and inputs.flow.dim() == 5:
        f = inputs.flow
        bt = f.shape[0] * f.shape[1]
        # sampling grid: the output pixel at p reads the input at R⁻¹ p (normalised coordinates, the crop's centre at 0)
        inv = r2.transpose(1, 2).to(f.dtype)
        theta = torch.cat([inv, torch.zeros(b, 2, 1, dtype=f.dtype, device=dev)], -1).repeat_interleave(f.shape[1], 0)
        grid = torch.nn.functional.affine_grid(theta, (bt, 2, *f.shape[-2:]), align_corners=False)
        moved = torch.nn.functional.grid_sample(f.reshape(bt, 2, *f.shape[-2:]), grid, align_corners=False).reshape(f.shape)
        inputs.flow = torch.einsum("bij,btjhw->btihw", r2.to(f.dtype), moved)
    targets.kp2d = turn(targets.kp2d)
    r3 = torch.zeros(b, 3, 3, dtype=targets.kp3d.dtype, device=dev)
    r3[:, :2, :2], r3[:, 2, 2] = r2.to(r3.dtype), 1.0
    targets.kp3d = torch.einsum("bij,btkj->btki", r3, targets.kp3d)
    root = axis_angle_to_matrix(targets.pose[..., :3])
    targets.pose = torch.cat([matrix_to_axis_angle(r3[:, None] @ root), targets.pose[..., 3:]], -1)


#: BlazePose landmark indices: shoulders and ankles (where a truncation line is placed between).
_SHOULDERS, _ANKLES = (11, 12), (27, 28)


def truncate(inputs: ModelInputs, targets: Targets, prob: float, generator: Optional[torch.Generator] = None,
             crop_scale: float = 1.2) -> None:
    """Frame-edge truncation for the BlazePose V-stream, in place: in a share ``prob`` of the clips the camera's
    frame cuts the person off below a line between their shoulders and ankles (a close-up, someone behind a
    desk or half out of view). Landmarks past the line lose their visibility and presence (BlazePose reports points
    outside the image with both near 0) and their positions and world positions become guesses (noise); the crop
    becomes the live tracker's: ``crop_scale`` × the longer side of the box of the landmarks still visible
    (``realtime.detection``: ``Landmarks.box``, ``crop_box``), so the visible part fills it. 2D targets move with
    the crop; 3D targets do not change. Generated crops always hold the whole body; live ones often do not."""
    x = inputs.rgb
    b, t = x.shape[:2]
    dev = x.device
    rnd = lambda *shape: torch.rand(*shape, generator=generator).to(dev)  # noqa: E731
    found = x[..., 0, 8] > 0  # (B, T)
    chosen = rnd(b) < prob
    if not bool((chosen[:, None] & found).any()):
        return
    y = x[..., 1]
    nf = found.sum(1).clamp(min=1)
    top = (y[..., list(_SHOULDERS)].mean(-1) * found).sum(1) / nf  # (B,) mean over found frames
    bottom = (y[..., list(_ANKLES)].mean(-1) * found).sum(1) / nf
    cut = top + (0.2 + 0.7 * rnd(b)) * (bottom - top)  # (B,)
    past = chosen[:, None, None] & found[..., None] & (y > cut[:, None, None])  # (B, T, 33)
    noise = torch.randn(b, t, 33, 5, generator=generator).to(dev)
    vis = torch.where(past, x[..., 3] * 0.3 * rnd(b, t, 33), x[..., 3])
    presence = torch.where(past, x[..., 4] * 0.3 * rnd(b, t, 33), x[..., 4])  # outside the frame, as BlazePose says
    xy = torch.where(past[..., None], x[..., :2] + 0.05 * noise[..., :2], x[..., :2])
    world = torch.where(past[..., None], x[..., 5:8] + 0.05 * noise[..., 2:], x[..., 5:8])
    keep = (vis > 0.5) & found[..., None]
    big = torch.finfo(x.dtype).max
    lo = torch.where(keep[..., None], xy, torch.full_like(xy, big)).amin(2)  # (B, T, 2)
    hi = torch.where(keep[..., None], xy, torch.full_like(xy, -big)).amax(2)
    ok = chosen[:, None] & (keep.sum(2) >= 2)  # frames whose crop changes
    centre = torch.where(ok[..., None], (lo + hi) / 2, torch.zeros_like(lo))
    side = torch.where(ok, crop_scale * (hi - lo).amax(-1), torch.full_like(lo[..., 0], 2.0)).clamp(min=0.1)
    k = 2.0 / side  # normalised crop units of the old crop → the new one
    moved = torch.cat([(xy - centre[:, :, None]) * k[..., None, None], x[..., 2:3] * k[..., None, None]], -1)
    inputs.rgb = torch.cat([moved, vis[..., None], presence[..., None], world, x[..., 8:]], -1)
    inputs.rgb = torch.where(found[..., None, None], inputs.rgb, x)
    targets.kp2d = (targets.kp2d - centre[:, :, None]) * k[..., None, None]


def _flow_input(batch: Mapping[str, Any], flow_fn: Optional[FlowFn]) -> torch.Tensor:
    """The O-stream's input: stored flow features, else the provider's flow on the crops (what the live app
    will feed it), else the item's own ``flow`` (e.g. the generator's exact flow, also the Lflow target)."""
    if "flow_features" in batch:
        return batch["flow_features"].float()
    if flow_fn is not None and "rgb" in batch and batch["rgb"].dim() == 5:
        return flow_fn(batch["rgb"])
    if "flow" in batch:
        return batch["flow"].float()
    raise BatchError(
        "the model's flow stream needs 'flow_features' or 'flow' in the batch (VIBE feature files carry no "
        "flow); add flow to the data or set streams.flow.enabled=false"
    )


def model_inputs(
    batch: Mapping[str, Any],
    stream_names: Sequence[str],
    keypoint_noise: float = 0.0,
    generator: Optional[torch.Generator] = None,
    flow_fn: Optional[FlowFn] = None,
    rgb_input: str = "crops",
) -> ModelInputs:
    """The model's inputs from a batch: rgb from ``blazepose`` (``rgb_input="blazepose"``), else ``features``
    (preferred) or ``rgb`` crops; flow and keypoints when those streams are enabled (see the module table).
    ``keypoint_noise`` jitters the landmarks' x, y (the keypoint stream's, or BlazePose's image landmarks)."""
    if rgb_input == "blazepose":
        if "blazepose" not in batch:
            raise BatchError("the model's V-stream is BlazePose: the batch needs 'blazepose' (B, T, 33, 9)")
        rgb = blazepose_input(batch["blazepose"], keypoint_noise, generator)
    elif "features" in batch:
        rgb = batch["features"].float()
    elif "rgb" in batch:
        rgb = batch["rgb"].float()
    else:
        raise BatchError("the batch has neither 'features' nor 'rgb' for the rgb stream")
    flow = _flow_input(batch, flow_fn) if "flow" in stream_names else None
    keypoints = None
    if "keypoints" in stream_names:
        if "kp2d_mediapipe33" not in batch:
            raise BatchError("the model's keypoint stream needs 'kp2d_mediapipe33' in the batch")
        keypoints = keypoint_input(batch["kp2d_mediapipe33"], keypoint_noise, generator)
    return ModelInputs(rgb=rgb, flow=flow, keypoints=keypoints)


# -- targets -------------------------------------------------------------------------------------------
def _mask(batch: Mapping[str, Any], key: str, like: torch.Tensor) -> torch.Tensor:
    """A ``(B, T)`` bool mask; all True when the batch lacks it."""
    if key in batch:
        return batch[key].bool()
    return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device)


def loss_targets(batch: Mapping[str, Any]) -> Targets:
    """Targets and masks of a batch (missing labels → zeros with False masks)."""
    kp2d = batch["kp2d"].float()
    b, t = kp2d.shape[:2]
    kp3d = batch["kp3d"].float() if "kp3d" in batch else torch.zeros(b, t, kp2d.shape[2], 3)
    pose = batch["pose"].float() if "pose" in batch else torch.zeros(b, t, 72)
    betas = batch["betas"].float() if "betas" in batch else torch.zeros(b, t, 10)
    valid = _mask(batch, "valid", kp2d)
    has_kp3d = batch["has_kp3d"].bool() if "has_kp3d" in batch else torch.zeros_like(valid)
    has_smpl = batch["has_smpl"].bool() if "has_smpl" in batch else torch.zeros_like(valid)
    return Targets(
        kp2d=kp2d[..., :2],
        kp2d_conf=kp2d[..., 2],
        kp3d=kp3d,
        kp3d_conf=(kp3d != 0).any(dim=-1).float(),
        pose=pose,
        betas=betas,
        valid=valid,
        has_kp2d=_mask(batch, "has_kp2d", kp2d) & valid,
        has_kp3d=has_kp3d & valid,
        has_smpl=has_smpl & valid,
        flow=batch["flow"].float() if "flow" in batch else None,
    )


# -- moving and slicing --------------------------------------------------------------------------------
def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of ``batch`` moved to ``device`` (others unchanged)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def shard(items: Sequence[Any], rank: int, world: int) -> list[Any]:
    """This process's share of a global batch: items ``rank, rank + world, …`` (keeps the 2D/3D mix)."""
    if len(items) % world:
        raise BatchError(f"a global batch of {len(items)} does not split over {world} processes; use a multiple")
    return list(items[rank::world])


# -- db extras -----------------------------------------------------------------------------------------
class DbExtrasDataset(Dataset):
    """Wraps a :class:`~training.data.VibeWindowDataset` and adds extra per-frame db keys to its items.

    ``flow_features`` (N, F) are passed as ``(T, F)``; ``kp2d_mediapipe33`` (N, 33, 3|4) is stored in
    image pixels like ``joints2D`` and normalised to the crop's [-1, 1] (visibility kept).
    """

    def __init__(self, base: Any, keys: Sequence[str] = DB_EXTRA_KEYS) -> None:
        self.base = base
        self.keys = tuple(k for k in keys if k in base.db)
        self.name = getattr(base, "name", type(base).__name__)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.base[index]
        start, end = (int(v) for v in self.base.windows[index])
        for key in self.keys:
            x = np.asarray(self.base.db[key][start:end], dtype=np.float32)
            if key in _PIXEL_KEYPOINT_KEYS:
                bbox = self.base.db["bbox"][start:end].astype(np.float32)
                xy = normalise_keypoints(x[..., [0, 1, -1]], bbox, self.base.scale)
                x = np.concatenate([xy[..., :2], x[..., 2:]], axis=-1)
                x[~item["valid"].numpy()] = 0.0
            item[key] = torch.from_numpy(np.ascontiguousarray(x))
        return item

    def __repr__(self) -> str:
        return f"DbExtrasDataset({self.base!r}, extras {list(self.keys)})"
