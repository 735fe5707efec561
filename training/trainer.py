"""The two-phase DTS-VIBE trainer (paper §3.2 and §4 "implementation"), single- or multi-process.

Schedule (weights, learning rates, T, batch size and data mix come from the configs):

1. **main** — ``300·L3D + 200·L2D + 120·Lsmpl + 60·Ladv`` (eq. 3–7); Adam ``generator_lr`` (5e-5) for the
   network; the motion discriminator is trained after every generator step on real AMASS windows vs.
   the detached predicted poses with ``LD`` (eq. 8), Adam ``discriminator_lr`` (5e-4).
2. **refinement** — the flow loss ``Lflow`` (eq. 9, on the batch's per-pixel flow) is added, the
   discriminator is removed, and a fresh Adam at ``refinement_lr`` (1e-5) trains the network.

Real motion for the discriminator: AMASS (``.npz`` under ``data_root/<motion_dataset>``) where it is there,
as in the paper; otherwise the project's CMU motion library (real mocap retargeted onto the body, train
subjects only, mirrored too; ``training/synthetic/motion_library.py``), with a one-line note. Only with
neither (or ``motion_dataset: none``) are Ladv and the discriminator disabled, with a one-line warning; we
never substitute the generator's procedural motion, which would teach the discriminator the generator's
prior rather than real human motion.
Without per-pixel flow in the data (VIBE feature files have none) the refinement runs without Lflow,
again with a one-line warning.

Every epoch ends with validation (PA-MPJPE etc., :func:`training.evaluation.evaluate_sequences`)
and the checkpoints ``last.pt`` and ``best.pt`` (best on ``best_metric``). Runs are deterministic for a
seed and resume exactly from a checkpoint (batches are a function of (seed, phase, epoch, step), and
RNG and optimizer states are restored).

Distributed: launch with ``torchrun --nproc_per_node=N -m training.cli …`` (or ``dtsvibe-train``):
env:// rendezvous, NCCL on GPUs, gloo on CPU, PyTorch DDP. Each global batch of ``batch_size``
items is drawn once (same on every process) and process ``r`` takes items ``r, r+N, …``, so N
processes with ``batch_size/N`` items each make the same update as one process with ``batch_size``
(exactly so when every item has the same labels; dropout aside). Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .batches import FlowFn, ModelInputs, Targets, check_item_keys, loss_targets, model_inputs, recrop, roll, shard, to_device, truncate
from .body.rotations import matrix_to_rot6d
from .checkpoint import (
    CheckpointError,
    Progress,
    check_flow_provider,
    check_model_config,
    config_differences,
    flow_provider_of,
    get_rng_state,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
    set_rng_state,
)
from .config import ModelConfig, TrainConfig, load_model_config
from .data.mixing import MixedBatchSampler, MixedDataset, collate
from .evaluation import EvalSequence, evaluate_sequences
from .losses import (
    acceleration_loss,
    combine_losses,
    discriminator_loss,
    flow_loss,
    generator_adv_loss,
    keypoint_2d_loss,
    keypoint_3d_loss,
    smpl_loss,
)
from .model import build_discriminator, build_model
from .model.discriminator import body_pose_6d

__all__ = [
    "DataMissing",
    "DistInfo",
    "TrainData",
    "Trainer",
    "build_train_data",
    "init_distributed",
    "resolve_model_config",
    "seed_everything",
]

Log = Callable[[str], None]


class DataMissing(FileNotFoundError):
    """Training data that is not where the config says; the message says what to put where."""


# -- setup helpers --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    #: A process group was joined (under torchrun, even with one process): the model is wrapped in DDP.
    joined: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.joined or self.world > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` …).

    Not launched by torchrun (no ``WORLD_SIZE``): nothing to join. Under torchrun the group is joined even with
    one process (``--nproc_per_node=1`` on a one-GPU machine runs the same DDP and NCCL path as eight).
    Backend: NCCL when training on CUDA, gloo otherwise.
    """
    if "WORLD_SIZE" not in os.environ:
        return DistInfo()
    world = int(os.environ["WORLD_SIZE"])
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    if not dist.is_initialized():
        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://")
    return DistInfo(rank=rank, world=world, local_rank=local, joined=True)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch; with ``deterministic``, ask torch for deterministic kernels (warn-only)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def resolve_model_config(cfg: TrainConfig) -> ModelConfig:
    """The model config a training config names, with its ``model_overrides`` applied."""
    return load_model_config(cfg.model, cfg.model_overrides)


def _pick_device(name: str, dist_info: DistInfo) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' asked for but no CUDA GPU is visible; use device=cpu")
        return torch.device("cuda", dist_info.local_rank)
    return torch.device("cpu")


# -- data -----------------------------------------------------------------------------------------------
@dataclass
class TrainData:
    """What the trainer draws from: 2D-only and 3D window data sets, AMASS motion, validation sequences."""

    datasets_2d: list[Dataset] = field(default_factory=list)
    datasets_3d: list[Dataset] = field(default_factory=list)
    motion: Optional[Dataset] = None
    val: dict[str, list[EvalSequence]] = field(default_factory=dict)


def _window_dataset(path: Path, cfg: TrainConfig, model_cfg: ModelConfig) -> Dataset:
    from .batches import DbExtrasDataset
    from .data import VibeWindowDataset

    # Relative img_name paths are read relative to the db's own folder (tools/pseudo_label.py writes them so).
    base = VibeWindowDataset(
        path, seq_len=model_cfg.input.seq_len, mode=cfg.data_mode, crop_size=model_cfg.input.crop_size, image_root=path.parent
    )
    return DbExtrasDataset(base)


#: The name that selects the project's generated video in ``datasets_3d`` / ``val_datasets``.
SYNTHETIC = "synthetic"
#: BlazePose-annotated validation clips (motion library's validation subjects), under data_root.
VAL_SHARDS = "synthetic_val"


def _synthetic_dataset(root: Path, cfg: TrainConfig, model_cfg: ModelConfig, log: Log) -> Dataset:
    """Generated clips: shards under ``<data_root>/synthetic`` when written, else made on the fly."""
    from .synthetic import SyntheticShardDataset, SyntheticVideoDataset

    t_len, crop = model_cfg.input.seq_len, model_cfg.input.crop_size
    shards = root / SYNTHETIC
    if (shards / "manifest.json").is_file():
        ds = SyntheticShardDataset(shards)
        item = ds[0]
        if tuple(item["rgb"].shape[:1]) != (t_len,) or item["rgb"].shape[-1] != crop:
            raise DataMissing(
                f"{shards}: clips of {item['rgb'].shape[0]} frames at {item['rgb'].shape[-1]} px, the model needs "
                f"{t_len} frames at {crop} px; regenerate with tools/make_synthetic.py --seq-len {t_len} --crop {crop}"
            )
        log(f"synthetic: {len(ds)} clips from {shards}")
        return ds
    log(f"synthetic: {cfg.synthetic_clips} clips generated on the fly (seed {cfg.seed}; write shards to {shards} to reuse them)")
    return SyntheticVideoDataset(seed=cfg.seed, length=cfg.synthetic_clips, seq_len=t_len, crop_size=crop,
                                 num_betas=model_cfg.body_model.num_betas)


def _motion_path(cfg: TrainConfig) -> Path:
    p = Path(cfg.motion_dataset)
    return p if p.is_absolute() or p.exists() else Path(cfg.data_root) / cfg.motion_dataset


def _motion_data(cfg: TrainConfig, model_cfg: ModelConfig, log: Log):
    """Real motion for the discriminator: AMASS under ``motion_dataset`` when it is there (the paper's), else
    the project's CMU motion library, train split with mirrored clips (``motion_dataset: none``: nothing)."""
    from .data import AmassMotionDataset, library_motion_windows

    if cfg.motion_dataset == "none":
        return None
    motion = _motion_path(cfg)
    if motion.exists() and any(motion.rglob("*.npz") if motion.is_dir() else [motion]):
        return AmassMotionDataset(motion, seq_len=model_cfg.input.seq_len)
    try:
        windows = library_motion_windows("train", seq_len=model_cfg.input.seq_len)
    except OSError:  # the library file is missing from this install
        return None
    log(f"motion discriminator: no AMASS under {motion}; using the CMU motion library "
        f"({len(windows)} windows of {model_cfg.input.seq_len} frames, train subjects, mirrored too)")
    return windows


def build_train_data(cfg: TrainConfig, model_cfg: ModelConfig, log: Log = print) -> TrainData:
    """Training, motion and validation data from ``cfg.data_root`` (VIBE file names, see ``find_vibe_db``).

    Missing single data sets are skipped with a one-line note; no training db at all raises
    :class:`DataMissing` saying what to put where. Missing AMASS: ``motion`` is None.
    """
    from .data import find_vibe_db
    from .evaluation import sequences_from_db

    root = Path(cfg.data_root)
    needs_root = any(n != SYNTHETIC for n in [*cfg.datasets_2d, *cfg.datasets_3d])
    if needs_root and not root.is_dir():
        raise DataMissing(
            f"data folder {root} does not exist: put VIBE db files there ({cfg.datasets_3d[0] if cfg.datasets_3d else '3dpw'}"
            f"_train_db.pt …) and AMASS .npz files under {root / cfg.motion_dataset}, or set data_root=DIR"
        )
    data = TrainData()
    missing = []
    for names, target in ((cfg.datasets_2d, data.datasets_2d), (cfg.datasets_3d, data.datasets_3d)):
        for name in names:
            if name == SYNTHETIC:
                target.append(_synthetic_dataset(root, cfg, model_cfg, log))
                continue
            try:
                target.append(_window_dataset(find_vibe_db(root, name, "train"), cfg, model_cfg))
            except FileNotFoundError:
                missing.append(name)
    if not data.datasets_2d and not data.datasets_3d:
        wanted = ", ".join(f"{n}_train_db.pt" for n in [*cfg.datasets_2d, *cfg.datasets_3d])
        raise DataMissing(f"no training db files in {root}: expected {wanted} (VIBE's preprocessed files); set data_root=DIR")
    if missing:
        log(f"note: no train db for {', '.join(missing)} in {root}; training without them")
    data.motion = _motion_data(cfg, model_cfg, log)
    for name in cfg.val_datasets:
        if name == SYNTHETIC:
            from .evaluation import blazepose_shards, generated_sequences

            streams = ["rgb"] + [s for s in ("flow", "keypoints") if getattr(model_cfg.streams, s).enabled]
            num, make = cfg.val_generated_clips, None
            if model_cfg.rgb_input == "blazepose":
                folder = blazepose_shards(root, VAL_SHARDS)
                if folder is None:
                    log(f"note: no {root / VAL_SHARDS} (BlazePose-annotated validation clips: tools/make_synthetic.py --out {root / VAL_SHARDS} "
                        "--clips 8 --crop 128 --seq-len 48 --blazepose --shard-size 8 --seed 2000003 --motion-split val); "
                        "not validating on generated clips")
                    continue
                from .synthetic import SyntheticShardDataset

                make = lambda folder=folder: SyntheticShardDataset(folder)  # noqa: E731
                num = min(num, len(make()))
            data.val["generated"] = generated_sequences(
                num, model_cfg.input.crop_size, seq_len=3 * model_cfg.input.seq_len, stream_names=streams,
                flow_provider=model_cfg.streams.flow.provider if model_cfg.streams.flow.enabled else None,
                make_generator=make, rgb_input=model_cfg.rgb_input,
            )
            continue
        try:
            path = find_vibe_db(root, name, cfg.val_split)
        except FileNotFoundError:
            log(f"note: no {cfg.val_split} db for {name} in {root}; not validating on it")
            continue
        streams = ["rgb"] + [s for s in ("flow", "keypoints") if getattr(model_cfg.streams, s).enabled]
        try:
            data.val[name] = sequences_from_db(path, streams)
        except ValueError as exc:
            log(f"note: not validating on {name}: {exc}")
    return data


class ShardedBatches:
    """A global batch sampler's batches, this process's share of each, from batch ``skip`` on.

    Wraps a :class:`~training.data.MixedBatchSampler` (global batch lists) for a DataLoader.
    """

    def __init__(self, sampler: MixedBatchSampler, dist_info: DistInfo) -> None:
        self.sampler, self.dist = sampler, dist_info
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.skip = skip

    def __len__(self) -> int:
        return len(self.sampler) - self.skip

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self.sampler):
            if i >= self.skip:
                yield shard(batch, self.dist.rank, self.dist.world)


# -- the model's forward as DDP sees it --------------------------------------------------------------------
class _Forward(nn.Module):
    """``DTSVIBE`` returning a dict (DDP finds the tensors of dicts, not of dataclasses)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, flow: Optional[torch.Tensor], keypoints: Optional[torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.model(rgb, flow, keypoints)
        return {
            "rotmat": out.rotmat, "betas": out.betas, "joints3d": out.joints3d, "joints2d": out.joints2d,
        }


@contextlib.contextmanager
def _frozen(module: Optional[nn.Module]) -> Iterator[None]:
    """Parameters of ``module`` without gradients inside the block (the discriminator in the generator step)."""
    if module is None:
        yield
        return
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)


# -- the trainer ----------------------------------------------------------------------------------------------
class Trainer:
    """Two-phase training of a DTS-VIBE network.

    Args:
        cfg: the training config; model_cfg: the resolved model config (default: ``resolve_model_config(cfg)``).
        data: the data (default: :func:`build_train_data` from ``cfg.data_root``).
        out_dir: where checkpoints and TensorBoard logs go (default ``cfg.output_dir``).
        dist_info: this process's rank (default: single process; see :func:`init_distributed`).
        flow_fn: computes flow from crops when items carry none (crops mode + a flow provider).
        progress_bar: a tqdm bar with the loss terms (rank 0). log: one-line messages (rank 0).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: Optional[ModelConfig] = None,
        data: Optional[TrainData] = None,
        out_dir: Optional[str | Path] = None,
        dist_info: Optional[DistInfo] = None,
        flow_fn: Optional[FlowFn] = None,
        progress_bar: bool = True,
        log: Log = print,
        body: Any = None,
    ) -> None:
        self.cfg = cfg
        self.model_cfg = model_cfg or resolve_model_config(cfg)
        self.dist = dist_info or DistInfo()
        self._log = log
        self.flow_fn = flow_fn
        self.progress_bar = progress_bar
        self.out_dir = Path(out_dir or cfg.output_dir)
        self.device = _pick_device(cfg.device, self.dist)
        if cfg.batch_size % self.dist.world:
            raise ValueError(f"batch_size {cfg.batch_size} must be a multiple of the {self.dist.world} processes")
        seed_everything(cfg.seed, cfg.deterministic)
        self.data = data if data is not None else build_train_data(cfg, self.model_cfg, self.log)
        self.model = build_model(self.model_cfg, body).to(self.device)
        self.stream_names = self.model.stream_names
        self._check_data()
        self.use_adv = self._adversarial_enabled()
        self.disc = build_discriminator(self.model_cfg, dropout=cfg.discriminator_dropout).to(self.device) if self.use_adv else None
        self.use_flow_loss = self._flow_loss_enabled()
        self.amp = cfg.mixed_precision and self.device.type == "cuda"
        torch.manual_seed(cfg.seed + self.dist.rank)  # per-process randomness (dropout) after identical weights
        self.forward_g = self._wrap(_Forward(self.model))
        self.forward_d = self._wrap(self.disc) if self.disc is not None else None
        self.mixed = MixedDataset([self.data.datasets_2d, self.data.datasets_3d])
        self.progress = Progress(best_metric=self._best_metric_name())
        self.opt_g: Optional[torch.optim.Optimizer] = None
        self.opt_d: Optional[torch.optim.Optimizer] = None
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=self.amp)
        self._setup_phase()
        self.history: list[dict[str, float]] = []
        self.metrics: dict[str, Any] = {}
        self._writer: Any = None
        self._last_sample: Optional[tuple[dict[str, Any], dict[str, torch.Tensor]]] = None

    # -- messages and setup ----------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.dist.main:
            self._log(msg)

    def _check_data(self) -> None:
        for ds in [*self.data.datasets_2d, *self.data.datasets_3d]:
            if len(ds) == 0:
                raise DataMissing(f"{getattr(ds, 'name', ds)}: no windows of {self.model_cfg.input.seq_len} frames")
            dims = {"rgb": self.model_cfg.streams.rgb.feature_dim, "flow": self.model_cfg.streams.flow.feature_dim}
            check_item_keys(ds[0], self.stream_names, str(getattr(ds, "name", ds)), self.flow_fn is not None, dims,
                            self.model_cfg.rgb_input)

    def _has_pixel_flow(self) -> bool:
        return all("flow" in ds[0] for ds in [*self.data.datasets_2d, *self.data.datasets_3d]) or self.flow_fn is not None

    def _adversarial_enabled(self) -> bool:
        mc = self.model_cfg
        if not mc.discriminator.enabled or mc.loss.adv == 0:
            return False
        if self.data.motion is None or len(self.data.motion) == 0:
            self.log(f"warning: no real motion (no AMASS .npz under {_motion_path(self.cfg)}, no motion library): "
                     "Ladv and the motion discriminator are disabled")
            return False
        return True

    def _flow_loss_enabled(self) -> bool:
        mc = self.model_cfg
        if not (mc.flow_loss and mc.loss.flow > 0 and self.cfg.refinement_phase.enabled):
            return False
        if not self._has_pixel_flow():
            self.log("warning: the data carries no per-pixel flow ('flow'): the refinement phase runs without Lflow (eq. 9)")
            return False
        return True

    def _best_metric_name(self) -> str:
        return self.cfg.best_metric if self.data.val else "train_loss"

    def _wrap(self, module: nn.Module) -> nn.Module:
        if not self.dist.distributed:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    @property
    def phase_cfg(self):
        return (self.cfg.main_phase, self.cfg.refinement_phase)[self.progress.phase]

    def _setup_phase(self) -> None:
        """Optimizers of the current phase (main: G + D at their lrs; refinement: G at refinement_lr)."""
        o = self.model_cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.progress.phase == 0:
            self.opt_g = torch.optim.Adam(params, lr=o.generator_lr)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=o.discriminator_lr) if self.disc is not None else None
        else:
            self.opt_g = torch.optim.Adam(params, lr=o.refinement_lr)
            self.opt_d = None

    @property
    def adversarial_active(self) -> bool:
        return self.use_adv and self.progress.phase == 0

    @property
    def recrop_active(self) -> bool:
        """Crop-placement augmentations (BlazePose V-stream, main phase, ``recrop_shift``/``recrop_scale``/
        ``truncate_prob``/``roll_prob`` > 0)."""
        return (self.model_cfg.rgb_input == "blazepose" and self.progress.phase == 0
                and (self.cfg.recrop_shift > 0 or self.cfg.recrop_scale > 0 or self.cfg.truncate_prob > 0
                     or self.cfg.roll_prob > 0))

    @property
    def flow_loss_active(self) -> bool:
        return self.use_flow_loss and self.progress.phase == 1

    # -- batches --------------------------------------------------------------------------------------------
    def _loader(self, epoch_key: int, skip: int) -> DataLoader:
        sampler = MixedBatchSampler(
            self.mixed.group_ranges, [self.cfg.mix.ratio_2d, self.cfg.mix.ratio_3d], self.cfg.batch_size,
            self.phase_cfg.iters_per_epoch, self.cfg.seed,
        )
        batches = ShardedBatches(sampler, self.dist)
        batches.set_epoch(epoch_key, skip)
        # Its own generator: a DataLoader draws a base seed per iterator, which must not move the global RNG
        # (dropout) or resuming mid-epoch would not be exact.
        gen = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch_key)
        return DataLoader(self.mixed, batch_sampler=batches, collate_fn=collate, num_workers=self.cfg.num_workers, generator=gen)

    def _motion_batch(self, step: int) -> torch.Tensor:
        """Real motion ``(B/N, T, 138)`` for step ``step``: a function of (seed, step), sharded like the data."""
        rng = np.random.default_rng([self.cfg.seed, 0xA3A55, step])
        idx = rng.integers(0, len(self.data.motion), size=self.cfg.batch_size)
        items = [self.data.motion[int(i)] for i in shard(list(idx), self.dist.rank, self.dist.world)]
        return torch.stack([it["pose6d"] for it in items]).to(self.device)

    def _inputs(self, batch: Mapping[str, Any], step: int) -> ModelInputs:
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step * 1009 + self.dist.rank)
        return model_inputs(batch, self.stream_names, self.cfg.keypoint_noise, gen, self.flow_fn, self.model_cfg.rgb_input)

    # -- losses -------------------------------------------------------------------------------------------------
    def generator_terms(self, pred: Mapping[str, torch.Tensor], tg: Targets) -> dict[str, torch.Tensor]:
        """Eq. 4–7 and 9 as scalars named for :func:`training.losses.combine_losses` (float32)."""
        pred = {k: v.float() for k, v in pred.items()}
        pose_l, shape_l = smpl_loss(pred["rotmat"], tg.pose, pred["betas"], tg.betas, tg.has_smpl)
        terms = {
            "kp3d": keypoint_3d_loss(pred["joints3d"], tg.kp3d, tg.kp3d_conf, tg.has_kp3d),
            "kp2d": keypoint_2d_loss(pred["joints2d"], tg.kp2d, tg.kp2d_conf, tg.has_kp2d),
            "smpl_pose": pose_l,
            "smpl_shape": shape_l,
        }
        if self.model_cfg.loss.accel > 0:
            terms["accel"] = acceleration_loss(pred["joints3d"], tg.kp3d, tg.has_kp3d)
        if self.adversarial_active:
            with _frozen(self.disc):
                terms["adv"] = generator_adv_loss(self.disc(self.fake_motion(pred)))
        if self.flow_loss_active:
            if tg.flow is None:
                raise ValueError("the refinement's flow loss needs 'flow' (B, T, 2, S, S) in every batch")
            terms["flow"] = flow_loss(pred["joints2d"], tg.flow, None, tg.valid)
        return terms

    def _flow_target(self, batch: Mapping[str, Any], inputs: ModelInputs, stored: Optional[torch.Tensor]) -> torch.Tensor:
        """Eq. 9's flow: an item's own flow (the generator's exact flow) where it has one, else the flow
        the provider computed (the O-stream's input, as the paper uses its estimated flow)."""
        has = batch.get("has_flow")
        if stored is not None and (has is None or bool(has.all())):
            return stored
        pixel = inputs.flow is not None and inputs.flow.dim() == 5
        estimated = inputs.flow if pixel else self.flow_fn(batch["rgb"])
        if stored is None:
            return estimated
        return torch.where(has.view(-1, 1, 1, 1, 1), stored, estimated)

    @staticmethod
    def fake_motion(pred: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Predicted rotations ``(B, T, 24, 3, 3)`` → discriminator input ``(B, T, 138)`` (6D, root dropped),
        encoded exactly like the real AMASS windows."""
        return body_pose_6d(matrix_to_rot6d(pred["rotmat"].float()))

    def train_step(self, batch: Mapping[str, Any], step: int) -> dict[str, float]:
        """One generator step, then (main phase) one discriminator step. Returns the logged terms."""
        batch = to_device(batch, self.device)
        inputs, targets = self._inputs(batch, step), loss_targets(batch)
        if self.recrop_active:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_033 + step * 7919 + self.dist.rank)
            truncate(inputs, targets, self.cfg.truncate_prob, gen)
            recrop(inputs, targets, self.cfg.recrop_shift, self.cfg.recrop_scale, gen)
            roll(inputs, targets, self.cfg.roll_prob, gen)
        if self.flow_loss_active:
            targets.flow = self._flow_target(batch, inputs, targets.flow)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            pred = self.forward_g(**inputs.as_kwargs())
        total, log = combine_losses(self.generator_terms(pred, targets), self.model_cfg.loss)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        if self.adversarial_active:
            log["disc"] = self.discriminator_step(self.fake_motion(pred).detach(), step)
        self._last_sample = ({k: v for k, v in batch.items() if k in ("kp2d", "rgb")}, {k: v.detach() for k, v in pred.items()})
        return log

    def discriminator_step(self, fake: torch.Tensor, step: int) -> float:
        """Eq. 8 on real AMASS windows vs. detached predictions ``(B, T, 138)``; one Adam step."""
        real = self._motion_batch(step)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            scores = self.forward_d(torch.cat([real, fake]))  # one forward: DDP sees each parameter once
        loss = discriminator_loss(scores[: len(real)].float(), scores[len(real) :].float())
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        return float(loss.detach())

    # -- the schedule ---------------------------------------------------------------------------------------------
    def fit(self, max_steps: Optional[int] = None) -> dict[str, Any]:
        """Run (the rest of) the schedule; stop early once ``progress.global_step`` reaches ``max_steps``.

        Writes ``last.pt`` (and ``best.pt``) at every epoch end and when stopping early. Returns a summary.
        """
        p = self.progress
        phases = (self.cfg.main_phase, self.cfg.refinement_phase)
        per = self.cfg.batch_size // self.dist.world
        group = f" (DDP, {dist.get_backend().upper()})" if self.dist.joined else ""
        amp = ", fp16 mixed precision" if self.amp else ""
        self.log(f"training on {self.device.type}{amp}: {self.dist.world} process(es){group} × {per} items = global batch "
                 f"{self.cfg.batch_size}; Ladv {'on' if self.use_adv else 'off'}; from {p.phase_name} step {p.global_step}")
        while p.phase < len(phases):
            if phases[p.phase].enabled:
                if self._run_phase(max_steps):
                    self.save(self.out_dir / "last.pt")
                    return self.summary(stopped=True)
            p.phase, p.epoch, p.step_in_epoch = p.phase + 1, 0, 0
            if p.phase < len(phases):
                self._setup_phase()
                if phases[p.phase].enabled:
                    self.log(f"phase {p.phase_name}: lr {self.opt_g.param_groups[0]['lr']:g}, "
                             f"Lflow {'on' if self.flow_loss_active else 'off'}, discriminator removed")
        self.save(self.out_dir / "last.pt")  # marks the run as done
        self.close()
        return self.summary(stopped=False)

    def _run_phase(self, max_steps: Optional[int]) -> bool:
        """Epochs of the current phase from ``progress``; True if stopped by ``max_steps``."""
        p, phase = self.progress, self.phase_cfg
        while p.epoch < phase.epochs:
            losses: list[float] = []
            loader = self._loader(p.phase * 100_000 + p.epoch, p.step_in_epoch)
            bar = self._bar(len(loader.batch_sampler))
            for batch in loader:
                if max_steps is not None and p.global_step >= max_steps:
                    bar.close()
                    return True
                log = self.train_step(batch, p.global_step)
                p.step_in_epoch += 1
                p.global_step += 1
                losses.append(log["total"])
                self.history.append(log)
                self._log_step(log, bar)
            bar.close()
            self._end_epoch(float(np.mean(losses)) if losses else math.nan)
        return False

    def _end_epoch(self, mean_loss: float) -> None:
        p = self.progress
        self.metrics = self.validate()
        self.metrics["train_loss"] = mean_loss
        value = self.metrics.get(p.best_metric, math.nan)
        improved = math.isfinite(value) and value < p.best_value
        if improved:
            p.best_value = value
        self._log_metrics()
        shown = {k: v for k, v in self.metrics.items() if "/" not in k or len(self.data.val) > 1}
        summary = ", ".join(f"{k} {v:.2f}" for k, v in shown.items() if isinstance(v, float) and math.isfinite(v))
        if self.data.val:
            summary += f" (validation: {', '.join(self.data.val)}; mm)"
        self.log(f"{p.phase_name} epoch {p.epoch + 1}/{self.phase_cfg.epochs} (step {p.global_step}): {summary}")
        p.epoch, p.step_in_epoch = p.epoch + 1, 0
        self.save(self.out_dir / "last.pt")
        if improved:
            self.save(self.out_dir / "best.pt")

    # -- validation ------------------------------------------------------------------------------------------------
    def validate(self) -> dict[str, Any]:
        """Metrics on every validation set (``<set>/<metric>``) and their mean over sets (``<metric>``), mm."""
        out: dict[str, Any] = {}
        per_metric: dict[str, list[float]] = {}
        for name, seqs in self.data.val.items():
            res = evaluate_sequences(self.model, seqs, name)
            for k, v in res.metrics.items():
                out[f"{name}/{k}"] = v
                if math.isfinite(v):
                    per_metric.setdefault(k, []).append(v)
        out.update({k: float(np.mean(v)) for k, v in per_metric.items()})
        return out

    # -- checkpoints ------------------------------------------------------------------------------------------------
    def _gather_rng(self) -> list[dict[str, Any]]:
        state = get_rng_state()
        if not self.dist.distributed:
            return [state]
        states: list[Any] = [None] * self.dist.world
        dist.all_gather_object(states, state)
        return states

    def save(self, path: str | Path) -> Optional[Path]:
        """Write a checkpoint of the current state (rank 0 writes; every rank must call it)."""
        rng = self._gather_rng()
        if not self.dist.main:
            return None
        return save_checkpoint(
            path, self.model, self.model_cfg, self.cfg, self.progress,
            discriminator=self.disc if self._discriminator_kept() else None,
            optimizers={"generator": self.opt_g, "discriminator": self.opt_d},
            scalers={"generator": self.scaler_g, "discriminator": self.scaler_d} if self.amp else None,
            rng=rng, metrics={k: v for k, v in self.metrics.items() if isinstance(v, (int, float))},
        )

    def _discriminator_kept(self) -> bool:
        """The discriminator goes into checkpoints until the refinement phase (which removes it) starts."""
        return self.progress.phase == 0 or not self.cfg.refinement_phase.enabled

    def init_weights(self, path: str | Path, force_flow_provider: bool = False) -> None:
        """Start this run from another run's network weights (fine-tuning: fresh optimizers, progress and
        schedule). Every tensor must load (same names and shapes) and the flow provider must match; the
        config may differ where that changes no weight (e.g. ``fusion``), which is logged."""
        ckpt = load_checkpoint(path, map_location=self.device)
        check_flow_provider(ckpt, flow_provider_of(self.model_cfg), force_flow_provider)
        diffs = config_differences(ckpt.model_config, self.model_cfg)
        changed = ", ".join(f"{k} ({a!r} → {b!r})" for k, a, b in diffs)
        try:
            load_model_state(self.model, ckpt.model_state, str(path))
        except CheckpointError:
            if not diffs:
                raise
            check_model_config(ckpt, self.model_cfg)  # names the keys that changed the weights' shapes
        changed = f"; config changed in {changed}" if diffs else ""
        self.log(f"weights from {path} ({ckpt.progress.phase_name} step {ckpt.progress.global_step}){changed}")

    def resume(self, path: str | Path, force_flow_provider: bool = False) -> None:
        """Continue exactly where the checkpoint left off (weights, optimizers, progress, RNG states).

        The model config must match the checkpoint's (one-line error naming the differing keys), and so
        must the flow provider, unless ``force_flow_provider``.
        """
        ckpt = load_checkpoint(path, map_location=self.device)
        if ckpt.raw.get("released_from"):
            raise CheckpointError(
                f"{path} is an inference-only release (no optimizer states) and cannot be resumed; "
                f"resume from the run's last.pt, or start a new run from scratch"
            )
        check_model_config(ckpt, self.model_cfg)
        check_flow_provider(ckpt, flow_provider_of(self.model_cfg), force_flow_provider)
        load_model_state(self.model, ckpt.model_state, str(path))
        self.progress = ckpt.progress
        self.progress.best_metric = self.progress.best_metric or self._best_metric_name()
        self._setup_phase()
        if self.disc is not None and ckpt.discriminator_state is not None:
            load_model_state(self.disc, ckpt.discriminator_state, f"{path} (discriminator)")
        for name, opt in (("generator", self.opt_g), ("discriminator", self.opt_d)):
            if opt is not None and name in ckpt.optimizers:
                opt.load_state_dict(ckpt.optimizers[name])
        for name, scaler in (("generator", self.scaler_g), ("discriminator", self.scaler_d)):
            if self.amp and name in ckpt.scalers:
                scaler.load_state_dict(ckpt.scalers[name])
        if ckpt.rng:
            set_rng_state(ckpt.rng[self.dist.rank] if len(ckpt.rng) == self.dist.world else ckpt.rng[0])
        self.metrics = dict(ckpt.metrics)
        self.log(f"resumed from {path}: {self.progress.phase_name} phase, epoch {self.progress.epoch + 1}, "
                 f"step {self.progress.global_step}")

    # -- progress and logs -------------------------------------------------------------------------------------------
    def _bar(self, total: int) -> Any:
        from tqdm import tqdm

        p = self.progress
        desc = f"{p.phase_name} {p.epoch + 1}/{self.phase_cfg.epochs}"
        return tqdm(total=total, desc=desc, disable=not (self.progress_bar and self.dist.main), leave=False, dynamic_ncols=True)

    @property
    def writer(self) -> Any:
        """A TensorBoard ``SummaryWriter`` under ``out_dir/tensorboard`` (rank 0; None without tensorboard)."""
        if self._writer is None and self.dist.main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.log("note: tensorboard is not installed (pip install 'dtsvibe-live[train]'); no TensorBoard logs")
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.out_dir / "tensorboard"))
        return self._writer or None

    def _log_step(self, log: Mapping[str, float], bar: Any) -> None:
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in log.items()}, refresh=False)
        step = self.progress.global_step
        if self.dist.main and (step % self.cfg.log_every == 0 or step == 1) and self.writer is not None:
            for k, v in log.items():
                self.writer.add_scalar(f"loss/{k}", v, step)
            self.writer.add_scalar("lr/generator", self.opt_g.param_groups[0]["lr"], step)

    def _log_metrics(self) -> None:
        if not self.dist.main or self.writer is None:
            return
        step = self.progress.global_step
        for k, v in self.metrics.items():
            if isinstance(v, float) and math.isfinite(v):
                self.writer.add_scalar(f"val/{k}", v, step)
        if self._last_sample is not None:
            self.writer.add_figure("samples/joints2d", _overlay_figure(*self._last_sample), step)
        self.writer.flush()

    def summary(self, stopped: bool) -> dict[str, Any]:
        return {"progress": self.progress.to_dict(), "metrics": dict(self.metrics), "stopped_early": stopped,
                "out_dir": str(self.out_dir)}

    def close(self) -> None:
        if self._writer:
            self._writer.close()
        self._writer = None


def _overlay_figure(batch: Mapping[str, torch.Tensor], pred: Mapping[str, torch.Tensor]) -> Any:
    """Sample overlay: ground-truth vs predicted 2D joints of one frame (over its crop when the batch has crops)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .preprocessing import IMAGENET_MEAN, IMAGENET_STD

    t = batch["kp2d"].shape[1] // 2
    gt = batch["kp2d"][0, t].float().cpu().numpy()
    pr = pred["joints2d"][0, t].float().cpu().numpy()
    fig, ax = plt.subplots(figsize=(3, 3), dpi=80)
    if "rgb" in batch:
        img = batch["rgb"][0, t].float().cpu().numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
        ax.imshow(np.clip(img, 0, 1), extent=(-1, 1, 1, -1))
    seen = gt[:, 2] > 0
    ax.scatter(gt[seen, 0], gt[seen, 1], s=8, c="lime", label="label")
    ax.scatter(pr[:, 0], pr[:, 1], s=8, c="red", label="predicted")
    ax.set_xlim(-1, 1)
    ax.set_ylim(1, -1)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig
