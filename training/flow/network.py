"""A small learned encoder–decoder optical-flow network (torch), exportable to ONNX with static shapes.

The paper (§3.1) estimates the O-stream's flow with an auto-encoder flow network. This is the
project's own light design for CPU real time:

* **Encoder** — one conv pyramid shared by both frames (run once on the two frames stacked along
  the batch): levels 1/2, 1/4, 1/8, 1/16 of the crop, each a stride-2 3×3 conv (+ one 3×3 conv on
  the coarser levels), LeakyReLU.
* **Decoder**, coarse to fine. At 1/16 a local correlation (cost volume of cosine similarities,
  displacements within ``±radius`` feature pixels) between the current frame's features and the
  previous frame's gives a first flow (its soft-argmax); the cost volume, that flow and the current
  features go through a few convs to a hidden state and a correction. At 1/8 and 1/4
  the flow and hidden state are upsampled ×2, the previous frame's features are warped by the flow
  (bilinear ``grid_sample``), a smaller cost volume measures what is left, and the convs predict a
  *residual* flow. At 1/2 a refinement without correlation adds a residual from the current frame's
  fine features (edges); the result is upsampled ×2 (bilinear) to the crop size.

Inputs: ``prev``, ``curr`` ImageNet-normalised RGB ``(B, 3, S, S)`` (what the data sets yield);
``S`` divisible by 16. Output: ``(B, 2, S, S)`` backward flow of ``curr`` in pixels (see
``training.flow``). In training mode :meth:`FlowNet.forward` with ``pyramid=True`` also returns
the coarser estimates for multi-scale supervision.

Shapes below: ``B`` batch, ``C`` channels, ``h×w`` a pyramid level's size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["FlowNetConfig", "FlowNet", "build_flow_net", "warp", "correlation", "soft_argmax", "export_onnx", "load_flow_net"]


@dataclass
class FlowNetConfig:
    """Widths of the encoder levels (1/2, 1/4, 1/8, 1/16), correlation radii (1/16, 1/8, 1/4) and
    decoder widths. The defaults are the shipped ``small`` variant."""

    widths: tuple[int, int, int, int] = (16, 24, 40, 56)
    radii: tuple[int, int, int] = (3, 2, 1)
    decoder: tuple[int, int, int] = (64, 32, 24)  # conv widths at 1/16, 1/8, 1/4
    hidden: int = 16  # hidden state carried between levels
    refine: int = 8  # width of the 1/2 refinement

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FlowNetConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown FlowNetConfig keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True))


def _pixel_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """``(1, h, w, 2)`` normalised (x, y) centres of the pixels (``align_corners=False``)."""
    ys = (torch.arange(h, dtype=like.dtype, device=like.device) + 0.5) * (2.0 / h) - 1.0
    xs = (torch.arange(w, dtype=like.dtype, device=like.device) + 0.5) * (2.0 / w) - 1.0
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


def warp(img: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``img`` ``(B, C, h, w)`` at ``p + flow(p)``: with a backward flow ``(B, 2, h, w)`` (pixels)
    of frame t and ``img`` = frame t−1 (or its features), the result is frame t−1 aligned to frame t."""
    b, _, h, w = flow.shape
    scale = torch.tensor([2.0 / w, 2.0 / h], dtype=flow.dtype, device=flow.device)
    grid = _pixel_grid(h, w, flow) + flow.permute(0, 2, 3, 1) * scale
    return F.grid_sample(img, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def correlation(a: torch.Tensor, b: torch.Tensor, radius: int) -> torch.Tensor:
    """Local cost volume of cosine similarities: ``out[:, k, y, x] = <â[:, :, y, x], b̂[:, :, y + dy, x + dx]>``
    (features L2-normalised over channels) for the ``(2r+1)²`` displacements ``(dy, dx)`` in
    ``[-r, r]²`` (row-major), zero outside ``b``. ``(B, C, h, w)`` ×2 → ``(B, (2r+1)², h, w)`` in
    [-1, 1]. Plain pads and slices, so it exports to ONNX."""
    _, _, h, w = a.shape
    a = a / torch.sqrt((a * a).sum(dim=1, keepdim=True) + 1e-6)
    b = b / torch.sqrt((b * b).sum(dim=1, keepdim=True) + 1e-6)
    bp = F.pad(b, (radius, radius, radius, radius))
    out = [
        (a * bp[:, :, dy : dy + h, dx : dx + w]).sum(dim=1, keepdim=True)
        for dy in range(2 * radius + 1)
        for dx in range(2 * radius + 1)
    ]
    return torch.cat(out, dim=1)


def soft_argmax(cost: torch.Tensor, radius: int, sharpness: float = 10.0) -> torch.Tensor:
    """Expected displacement under ``softmax(sharpness · cost)`` over a :func:`correlation` volume →
    ``(B, 2, h, w)`` (dx, dy) in feature pixels: a direct, differentiable flow reading of the cost."""
    k = 2 * radius + 1
    d = torch.arange(k, dtype=cost.dtype, device=cost.device) - radius
    dx = d.repeat(k).view(1, k * k, 1, 1)
    dy = d.repeat_interleave(k).view(1, k * k, 1, 1)
    p = torch.softmax(cost * sharpness, dim=1)
    return torch.cat([(p * dx).sum(dim=1, keepdim=True), (p * dy).sum(dim=1, keepdim=True)], dim=1)


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class _Decoder(nn.Module):
    """Two 3×3 convs on the level's inputs → hidden state ``(B, hidden, h, w)``; a 3×3 conv on it → flow."""

    def __init__(self, cin: int, width: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(cin, width), _conv(width, hidden))
        self.flow = nn.Conv2d(hidden, 2, 3, 1, 1)
        nn.init.zeros_(self.flow.bias)
        self.flow.weight.data.mul_(0.1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return h, self.flow(h)


class FlowNet(nn.Module):
    """Two ImageNet-normalised crops ``(B, 3, S, S)`` → backward flow ``(B, 2, S, S)`` in pixels (``S % 16 == 0``)."""

    def __init__(self, config: Optional[FlowNetConfig] = None) -> None:
        super().__init__()
        cfg = config or FlowNetConfig()
        self.config = cfg
        w1, w2, w3, w4 = cfg.widths
        self.enc1 = _conv(3, w1, 2)
        self.enc2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.enc3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        self.enc4 = nn.Sequential(_conv(w3, w4, 2), _conv(w4, w4))
        r4, r3, r2 = cfg.radii
        d4, d3, d2 = cfg.decoder
        hdim = cfg.hidden
        self.dec4 = _Decoder((2 * r4 + 1) ** 2 + 2 + w4, d4, hdim)
        self.dec3 = _Decoder((2 * r3 + 1) ** 2 + 2 + w3 + 2 + hdim, d3, hdim)
        self.dec2 = _Decoder((2 * r2 + 1) ** 2 + 2 + w2 + 2 + hdim, d2, hdim)
        self.refine = nn.Sequential(_conv(w1 + 2, cfg.refine), nn.Conv2d(cfg.refine, 2, 3, 1, 1))
        self.refine[-1].weight.data.mul_(0.1)
        nn.init.zeros_(self.refine[-1].bias)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, 3, S, S)`` → features at 1/2, 1/4, 1/8, 1/16."""
        f1 = self.enc1(x)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        f4 = self.enc4(f3)
        return [f1, f2, f3, f4]

    def forward(self, prev: torch.Tensor, curr: torch.Tensor, pyramid: bool = False):
        """``prev``, ``curr`` ``(B, 3, S, S)`` → flow ``(B, 2, S, S)`` pixels; with ``pyramid=True`` also
        the list of estimates at 1/16, 1/8, 1/4, 1/2 (each in pixels of its own level)."""
        b = curr.shape[0]
        if curr.shape[-1] % 16 or curr.shape[-2] % 16:
            raise ValueError(f"crop size must be divisible by 16; got {tuple(curr.shape[-2:])}")
        feats = self.encode(torch.cat([curr, prev], dim=0))
        fc = [f[:b] for f in feats]
        fp = [f[b:] for f in feats]
        r4, r3, r2 = self.config.radii
        # 1/16: search within ±r4 feature pixels; the cost volume's soft-argmax is the first estimate
        corr = correlation(fc[3], fp[3], r4)
        sa = soft_argmax(corr, r4)
        hid, res = self.dec4(torch.cat([corr, sa, fc[3]], dim=1))
        flow = sa + res
        flows = [flow]
        # 1/8 and 1/4: warp, residual correlation, residual flow
        for lvl, dec, r in ((2, self.dec3, r3), (1, self.dec2, r2)):
            flow = _up2(flow) * 2.0
            hid = _up2(hid)
            corr = correlation(fc[lvl], warp(fp[lvl], flow), r)
            hid, res = dec(torch.cat([corr, soft_argmax(corr, r), fc[lvl], flow, hid], dim=1))
            flow = flow + res
            flows.append(flow)
        # 1/2: edge-aware refinement from the current frame's fine features
        flow = _up2(flow) * 2.0
        flow = flow + self.refine(torch.cat([fc[0], flow], dim=1))
        flows.append(flow)
        out = _up2(flow) * 2.0
        return (out, flows) if pyramid else out


def build_flow_net(config: Optional[FlowNetConfig | dict] = None) -> FlowNet:
    """A fresh :class:`FlowNet` from a config (dataclass, dict or None for the defaults)."""
    if isinstance(config, dict):
        config = FlowNetConfig.from_dict(config)
    return FlowNet(config)


def load_flow_net(path: str | Path, map_location: str = "cpu") -> tuple[FlowNet, dict[str, Any]]:
    """A trained network from a checkpoint written by ``training.flow.train`` → (model in eval mode, checkpoint dict)."""
    ckpt = torch.load(str(path), map_location=map_location, weights_only=False)
    if ckpt.get("kind") != "dtsvibe-flow-net":
        raise ValueError(f"{path} is not a flow-network checkpoint (kind={ckpt.get('kind')!r})")
    model = build_flow_net(ckpt["net_config"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def export_onnx(model: FlowNet, path: str | Path, crop_size: int = 224, batch: int = 1,
                dynamic_batch: bool = False, opset: int = 17) -> Path:
    """Write the network as an ONNX graph with inputs ``prev``, ``curr`` ``(batch, 3, S, S)`` float32 and
    output ``flow`` ``(batch, 2, S, S)``; static shapes unless ``dynamic_batch`` (batch axis only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    x = torch.zeros(batch, 3, crop_size, crop_size)
    kwargs: dict[str, Any] = {}
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"prev": {0: "batch"}, "curr": {0: "batch"}, "flow": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(
            model, (x, x.clone()), str(path), input_names=["prev", "curr"], output_names=["flow"],
            opset_version=opset, do_constant_folding=True, dynamo=False, **kwargs,
        )
    model.train(was_training)
    return path
