"""Training of the learned flow network (:mod:`training.flow.network`).

Two signals:

* **Supervised** end-point error (EPE) on the synthetic generator's exact backward flow, on every
  pixel, up-weighted on the person (``1 + body_weight · mask``), at the output and (down-weighted)
  at each pyramid level against the average-pooled ground truth.
* **Self-supervised** photometric loss on pairs of consecutive frames of real clips (no labels):
  the previous frame warped by the predicted backward flow must match the current frame
  (Charbonnier penalty on colour and on image gradients, over pixels whose source lies inside the
  frame), plus an edge-aware first-order smoothness term. Occlusions are not modelled.

Training samples are random ``crop``×``crop`` windows (the same window in both frames, so the
flow is unchanged) of the stored 224² clips, randomly mirrored. The schedule is a time budget:
the learning rate follows a cosine from ``lr`` to ``lr·1e-2`` over ``minutes`` (or ``steps``).

    from training.flow.train import FlowTrainConfig, train_flow
    train_flow(FlowTrainConfig(data="out/flow/data_train", out="out/flow", minutes=30))
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .network import FlowNet, FlowNetConfig, build_flow_net, export_onnx, warp
from .providers import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "FlowTrainConfig", "SyntheticPairBank", "RealPairBank", "epe", "supervised_loss", "photometric_error",
    "photometric_loss", "smoothness_loss", "train_flow", "finish_training", "evaluate_epe", "save_checkpoint",
]

CHECKPOINT_KIND = "dtsvibe-flow-net"


@dataclass
class FlowTrainConfig:
    data: str = "out/flow/data_train"  # synthetic shards (tools/make_synthetic.py)
    out: str = "out/flow"
    real_videos: Sequence[str] = ()  # mp4 files for the photometric loss (none: supervised only)
    crop: int = 128  # training window (divisible by 16)
    batch: int = 8  # synthetic pairs per step
    real_batch: int = 4  # real pairs per step (when real_videos)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    minutes: float = 30.0  # wall-clock budget (the schedule's length) ...
    steps: int = 0  # ... or a step count when > 0
    body_weight: float = 2.0  # EPE weight on the person is 1 + body_weight
    pyramid_weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.5)  # 1/16, 1/8, 1/4, 1/2
    photo_weight: float = 0.5
    smooth_weight: float = 0.05
    real_scale: int = 256  # real frames are resized so that their shorter side has this many pixels
    threads: int = 1  # more threads only pay on an idle machine (oversubscribed BLAS spins)
    seed: int = 0
    val_clips: int = 8  # held-out generated clips (seed val_seed) for the end-of-training EPE
    val_seed: int = 777
    export_sizes: tuple[int, ...] = (224, 128)
    net: dict[str, Any] = field(default_factory=lambda: FlowNetConfig().to_dict())

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


# -- data -----------------------------------------------------------------------------------------
def _normalise(rgb_u8: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` RGB → ImageNet-normalised float ``(N, 3, H, W)``."""
    x = torch.from_numpy(np.ascontiguousarray(rgb_u8)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - torch.from_numpy(IMAGENET_MEAN)[:, None, None]) / torch.from_numpy(IMAGENET_STD)[:, None, None]


def _unnormalise(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised ``(B, 3, H, W)`` → RGB in [0, 1]."""
    mean = torch.as_tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device)[:, None, None]
    std = torch.as_tensor(IMAGENET_STD, dtype=x.dtype, device=x.device)[:, None, None]
    return x * std + mean


class SyntheticPairBank:
    """Every clip of a shard folder held in memory (uint8 frames, float16 flow, uint8 mask); draws
    random (previous, current) pairs with the current frame's exact backward flow and person mask."""

    def __init__(self, root: str | os.PathLike, max_clips: Optional[int] = None, progress: bool = True) -> None:
        from training.synthetic import SyntheticShardDataset

        ds = SyntheticShardDataset(root)
        n = len(ds) if max_clips is None else min(len(ds), max_clips)
        rgb, flow, mask = [], [], []
        it = range(n)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="loading clips", unit="clip", leave=False)
        for i in it:
            c = ds.clip(i)
            rgb.append(c["rgb"])
            flow.append(c["flow"].astype(np.float16))
            mask.append(c["mask"].astype(np.uint8))
        self.rgb = np.stack(rgb)  # (N, T, S, S, 3)
        self.flow = np.stack(flow)  # (N, T, 2, S, S)
        self.mask = np.stack(mask)  # (N, T, S, S)
        self.size = self.rgb.shape[2]

    def __len__(self) -> int:
        return self.rgb.shape[0]

    def sample(self, rng: np.random.Generator, batch: int, crop: int) -> dict[str, torch.Tensor]:
        """``batch`` random pairs, ``crop``² windows: prev, curr ``(B, 3, c, c)`` normalised, flow ``(B, 2, c, c)``, mask ``(B, c, c)``."""
        n, t = self.rgb.shape[:2]
        s = self.size
        prev, curr, flow, mask = [], [], [], []
        for _ in range(batch):
            i, k = int(rng.integers(n)), int(rng.integers(1, t))
            y, x = (int(v) for v in rng.integers(0, s - crop + 1, size=2))
            p = self.rgb[i, k - 1, y : y + crop, x : x + crop]
            c = self.rgb[i, k, y : y + crop, x : x + crop]
            f = self.flow[i, k, :, y : y + crop, x : x + crop].astype(np.float32)
            m = self.mask[i, k, y : y + crop, x : x + crop]
            if rng.random() < 0.5:  # mirror: x flips, so does dx
                p, c, f, m = p[:, ::-1], c[:, ::-1], f[:, :, ::-1] * np.array([-1.0, 1.0], np.float32)[:, None, None], m[:, ::-1]
            prev.append(p)
            curr.append(c)
            flow.append(f)
            mask.append(m)
        return {
            "prev": _normalise(np.stack(prev)),
            "curr": _normalise(np.stack(curr)),
            "flow": torch.from_numpy(np.ascontiguousarray(np.stack(flow))),
            "mask": torch.from_numpy(np.ascontiguousarray(np.stack(mask))).float(),
        }


class RealPairBank:
    """Consecutive frames of real videos (resized so the shorter side is ``scale``) for the photometric loss."""

    def __init__(self, paths: Sequence[str | os.PathLike], scale: int = 256, max_frames: int = 600) -> None:
        self.videos: list[np.ndarray] = []
        for path in paths:
            cap = cv2.VideoCapture(str(path))
            frames = []
            while len(frames) < max_frames:
                ok, img = cap.read()
                if not ok:
                    break
                h, w = img.shape[:2]
                r = scale / min(h, w)
                img = cv2.resize(img, (max(scale, round(w * r)), max(scale, round(h * r))), interpolation=cv2.INTER_AREA)
                frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            cap.release()
            if len(frames) >= 2:
                self.videos.append(np.stack(frames))
        if not self.videos:
            raise ValueError(f"no readable video with ≥ 2 frames among {list(map(str, paths))}")
        self.pairs = sum(v.shape[0] - 1 for v in self.videos)

    def sample(self, rng: np.random.Generator, batch: int, crop: int) -> dict[str, torch.Tensor]:
        weights = np.array([v.shape[0] - 1 for v in self.videos], np.float64)
        prev, curr = [], []
        for _ in range(batch):
            v = self.videos[int(rng.choice(len(self.videos), p=weights / weights.sum()))]
            k = int(rng.integers(1, v.shape[0]))
            h, w = v.shape[1:3]
            y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            p, c = v[k - 1, y : y + crop, x : x + crop], v[k, y : y + crop, x : x + crop]
            if rng.random() < 0.5:
                p, c = p[:, ::-1], c[:, ::-1]
            prev.append(p)
            curr.append(c)
        return {"prev": _normalise(np.stack(prev)), "curr": _normalise(np.stack(curr))}


# -- losses ---------------------------------------------------------------------------------------
def epe(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-pixel end-point error ``(B, H, W)`` of flows ``(B, 2, H, W)``."""
    return torch.sqrt(((pred - gt) ** 2).sum(dim=1) + 1e-8)


def supervised_loss(out: torch.Tensor, pyramid: Sequence[torch.Tensor], gt: torch.Tensor, mask: torch.Tensor,
                    body_weight: float = 2.0,
                    pyramid_weights: Sequence[float] = (0.25, 0.25, 0.25, 0.5)) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted EPE at the output plus each pyramid level (levels in full-resolution pixels).

    ``out`` ``(B, 2, S, S)``, ``pyramid`` the network's list at 1/16 … 1/2, ``gt`` ``(B, 2, S, S)``,
    ``mask`` ``(B, S, S)``. Returns (loss, {"epe": mean EPE of ``out``, "epe_body": on the mask})."""
    w = 1.0 + body_weight * mask
    e = epe(out, gt)
    loss = (e * w).sum() / w.sum()
    s = gt.shape[-1]
    for lvl, lw in zip(pyramid, pyramid_weights):
        k = s // lvl.shape[-1]
        g = F.avg_pool2d(gt, k) / k
        wl = F.avg_pool2d(w[:, None], k)[:, 0]
        loss = loss + lw * k * (epe(lvl, g) * wl).sum() / wl.sum()
    body = mask.sum()
    e = e.detach()
    stats = {"epe": float(e.mean()), "epe_body": float((e * mask).sum() / body) if body > 0 else float("nan")}
    return loss, stats


def _charbonnier(x: torch.Tensor, eps: float = 1e-3, alpha: float = 0.45) -> torch.Tensor:
    return (x * x + eps * eps) ** alpha


def _grad(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    gx = F.pad(img[..., :, 1:] - img[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(img[..., 1:, :] - img[..., :-1, :], (0, 0, 0, 1))
    return gx, gy


def photometric_error(prev: torch.Tensor, curr: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How well ``prev`` warped by the backward ``flow`` of ``curr`` reproduces ``curr``.

    ``prev``, ``curr`` ImageNet-normalised ``(B, 3, H, W)``, ``flow`` ``(B, 2, H, W)`` pixels →
    (per-pixel robust error ``(B, H, W)`` on colour in [0, 1] and on its gradients, in-bounds mask
    ``(B, H, W)``: 1 where ``p + flow(p)`` lies inside the previous frame)."""
    a, b = _unnormalise(prev), _unnormalise(curr)
    warped = warp(a, flow, padding_mode="border")
    err = _charbonnier(warped - b).mean(dim=1)
    wgx, wgy = _grad(warped)
    bgx, bgy = _grad(b)
    err = err + _charbonnier(wgx - bgx).mean(dim=1) + _charbonnier(wgy - bgy).mean(dim=1)
    h, w = flow.shape[-2:]
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device)[None, None, :] + flow[:, 0]
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device)[None, :, None] + flow[:, 1]
    inside = ((xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)).to(flow.dtype)
    return err, inside


def photometric_loss(prev: torch.Tensor, curr: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    err, inside = photometric_error(prev, curr, flow)
    return (err * inside).sum() / inside.sum().clamp_min(1.0)


def smoothness_loss(curr: torch.Tensor, flow: torch.Tensor, edge: float = 10.0) -> torch.Tensor:
    """Edge-aware first-order smoothness: flow gradients, down-weighted where ``curr`` has edges."""
    img = _unnormalise(curr)
    igx, igy = _grad(img)
    wx = torch.exp(-edge * igx.abs().mean(dim=1, keepdim=True))
    wy = torch.exp(-edge * igy.abs().mean(dim=1, keepdim=True))
    fgx, fgy = _grad(flow)
    return (wx * _charbonnier(fgx)).mean() + (wy * _charbonnier(fgy)).mean()


# -- evaluation -----------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_epe(model: FlowNet, clips: Sequence[dict[str, np.ndarray]], batch: int = 8) -> dict[str, float]:
    """Mean EPE over all pixels and over person pixels of every pair (t−1, t), t ≥ 1, of numpy clips
    (``rgb`` uint8 (T, S, S, 3), ``flow`` (T, 2, S, S), ``mask`` (T, S, S)), pixel-weighted."""
    was = model.training
    model.eval()
    tot = tot_n = body = body_n = 0.0
    for c in clips:
        rgb = c["rgb"]
        gt = torch.from_numpy(c["flow"][1:].astype(np.float32))
        m = torch.from_numpy(c["mask"][1:].astype(np.float32))
        for i in range(0, gt.shape[0], batch):
            p = _normalise(rgb[:-1][i : i + batch])
            q = _normalise(rgb[1:][i : i + batch])
            e = epe(model(p, q), gt[i : i + batch])
            mm = m[i : i + batch]
            tot += float(e.sum())
            tot_n += e.numel()
            body += float((e * mm).sum())
            body_n += float(mm.sum())
    model.train(was)
    return {"epe": tot / max(tot_n, 1), "epe_body": body / max(body_n, 1)}


# -- training -------------------------------------------------------------------------------------
def _code_version() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except Exception:  # pragma: no cover
        return "unknown"


def save_checkpoint(path: str | os.PathLike, model: FlowNet, cfg: FlowTrainConfig, step: int,
                    metrics: dict[str, Any], optimizer: Optional[torch.optim.Optimizer] = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "kind": CHECKPOINT_KIND,
        "net_config": model.config.to_dict(),
        "model": model.state_dict(),
        "train_config": cfg.to_dict(),
        "step": step,
        "metrics": metrics,
        "code_version": _code_version(),
        "torch": torch.__version__,
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def train_flow(cfg: FlowTrainConfig, bank: Optional[SyntheticPairBank] = None, real: Optional[RealPairBank] = None,
               log: Callable[[str], None] = print, progress: bool = True) -> tuple[FlowNet, dict[str, Any]]:
    """Train a :class:`FlowNet` per ``cfg``; writes ``flow_net.pt`` (+ ONNX graphs) under ``cfg.out``
    when ``cfg.out`` is set. Returns (model, summary)."""
    if cfg.crop % 16:
        raise ValueError(f"crop must be divisible by 16, not {cfg.crop}")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    bank = bank or SyntheticPairBank(cfg.data, progress=progress)
    if real is None and cfg.real_videos:
        vids = [p for p in cfg.real_videos if Path(p).is_file()]
        real = RealPairBank(vids, cfg.real_scale) if vids else None
    if real is None:
        log("photometric loss off: no real videos")
    model = build_flow_net(cfg.net)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    budget_s = cfg.minutes * 60.0
    t0 = time.time()
    step = 0
    history: list[dict[str, float]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps if cfg.steps > 0 else int(budget_s), unit="step" if cfg.steps > 0 else "s",
                   desc="flow training", dynamic_ncols=True)
    ema: dict[str, float] = {}
    last_tick = t0
    while True:
        frac = step / cfg.steps if cfg.steps > 0 else (time.time() - t0) / budget_s
        if frac >= 1.0:
            break
        warm = min(1.0, (step + 1) / 100.0)
        lr = cfg.lr * warm * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        b = bank.sample(rng, cfg.batch, cfg.crop)
        out, pyr = model(b["prev"], b["curr"], pyramid=True)
        loss, stats = supervised_loss(out, pyr, b["flow"], b["mask"], cfg.body_weight, cfg.pyramid_weights)
        stats["sup"] = float(loss)
        if real is not None and cfg.real_batch > 0 and (cfg.photo_weight > 0 or cfg.smooth_weight > 0):
            r = real.sample(rng, cfg.real_batch, cfg.crop)
            fr = model(r["prev"], r["curr"])
            ph = photometric_loss(r["prev"], r["curr"], fr)
            sm = smoothness_loss(r["curr"], fr)
            loss = loss + cfg.photo_weight * ph + cfg.smooth_weight * sm
            stats["photo"], stats["smooth"] = float(ph), float(sm)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        for k, v in stats.items():
            ema[k] = v if k not in ema else 0.98 * ema[k] + 0.02 * v
        if step % 50 == 0:
            history.append({"step": step, "seconds": round(time.time() - t0, 1), "lr": lr, **{k: round(v, 4) for k, v in ema.items()}})
        if bar is not None:
            now = time.time()
            bar.update(1 if cfg.steps > 0 else int(now - t0) - bar.n)
            if now - last_tick > 2 or cfg.steps > 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in ema.items()} | {"lr": f"{lr:.1e}", "step": step})
                last_tick = now
        if cfg.out and step % 500 == 0:
            save_checkpoint(Path(cfg.out) / "flow_net.pt", model, cfg, step, {"train": dict(ema)}, opt)
    if bar is not None:
        bar.close()
    elapsed = time.time() - t0
    summary: dict[str, Any] = {"steps": step, "seconds": round(elapsed, 1), "train": dict(ema), "history": history}
    return model, finish_training(model, cfg, summary, bank.size, log)


def finish_training(model: FlowNet, cfg: FlowTrainConfig, summary: dict[str, Any], crop_size: int = 224,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """End of training: EPE on ``cfg.val_clips`` held-out generated clips, then (if ``cfg.out``) the final
    checkpoint ``flow_net.pt``, the ONNX graphs and ``flow_net_train.json``. Returns the summary."""
    if cfg.val_clips > 0:
        from training.synthetic import SyntheticVideoDataset

        vds = SyntheticVideoDataset(seed=cfg.val_seed, length=cfg.val_clips, seq_len=8, crop_size=crop_size)
        summary["val"] = evaluate_epe(model, [vds.clip(i) for i in range(cfg.val_clips)])
        log(f"held-out generated clips (seed {cfg.val_seed}, {cfg.val_clips} clips at {crop_size}²): "
            f"EPE all {summary['val']['epe']:.3f} px, body {summary['val']['epe_body']:.3f} px")
    if cfg.out:
        out = Path(cfg.out)
        save_checkpoint(out / "flow_net.pt", model, cfg, summary.get("steps", 0),
                        {k: v for k, v in summary.items() if k != "history"})
        summary["onnx"] = []
        for s in cfg.export_sizes:
            name = "flow_net.onnx" if s == 224 else f"flow_net_{s}.onnx"
            summary["onnx"].append(str(export_onnx(model, out / name, crop_size=s)))
        (out / "flow_net_train.json").write_text(json.dumps({"config": cfg.to_dict(), **summary}, indent=1))
    return summary
