#!/usr/bin/env python3
"""Draw the temporal encoder's attention maps over one T-frame window, one panel per head (like the
paper's Figure 4).

    python tools/plot_attention.py --out out/attention.png                       # paper config, demo clip
    python tools/plot_attention.py --config lite --checkpoint runs/x/best.pt --layer 2

The window is cut from a video (default: the shared taiji clip when present; centre square crops),
otherwise random frames. Without ``--checkpoint`` the weights are untrained, so the maps show only
the structure of the attention (the band of the causal form, the softmax over the window), not
what a trained model attends to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


import numpy as np
import torch

from training.config import ConfigError, load_model_config
from training.model import build_model
from training.model.streams import IMAGENET_MEAN, IMAGENET_STD

DEMO_CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "taiji.mp4"


def read_window(path: Path | None, frames: int, size: int, start: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """RGB crops ``(1, T, 3, S, S)`` (ImageNet-normalised), DIS-free frame differences as a stand-in
    flow ``(1, T, 2, S, S)``, and a description of the source."""
    crops = None
    if path is not None and path.is_file():
        try:
            import cv2
        except ImportError:
            cv2 = None
        if cv2 is not None:
            cap = cv2.VideoCapture(str(path))
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            images = []
            while len(images) < frames:
                ok, img = cap.read()
                if not ok:
                    break
                h, w = img.shape[:2]
                side = min(h, w)
                y0, x0 = (h - side) // 2, (w - side) // 2
                img = cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (size, size))
                images.append(img[..., ::-1].astype(np.float32) / 255.0)
            cap.release()
            if len(images) == frames:
                crops = torch.as_tensor(np.stack(images)).permute(0, 3, 1, 2)
    source = f"{path.name} frames {start}-{start + frames - 1}" if crops is not None else "random frames"
    if crops is None:
        crops = torch.rand(frames, 3, size, size, generator=torch.Generator().manual_seed(0))
    grey = crops.mean(1, keepdim=True)
    diff = torch.cat([torch.zeros_like(grey[:1]), grey[1:] - grey[:-1]])
    flow = torch.cat([diff, diff], dim=1) * 10.0  # a motion cue with the flow stream's shape
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((crops - mean) / std)[None], flow[None], source


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="paper", help="model config name or YAML path (default: paper)")
    p.add_argument("--checkpoint", help="a dtsvibe-train checkpoint, drawn with its own config (default: --config, untrained weights)")
    p.add_argument("--video", type=Path, default=DEMO_CLIP, help="video to cut the window from")
    p.add_argument("--start", type=int, default=120, help="first frame of the window")
    p.add_argument("--layer", type=int, default=1, help="encoder layer to draw, 1-based (default: 1)")
    p.add_argument("--out", default="out/attention.png")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("plot_attention", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line
    try:
        cfg = load_model_config(args.config, ["streams.rgb.pretrained=none", "streams.flow.pretrained=none", *args.overrides])
    except ConfigError as exc:
        print(f"plot_attention: {exc}", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    if args.checkpoint:  # its own network and config (a checkpoint of another config cannot take --config's)
        from training.checkpoint import CheckpointError, model_from_checkpoint

        try:
            model, _ = model_from_checkpoint(args.checkpoint)
        except (CheckpointError, ConfigError) as exc:
            print(f"plot_attention: {exc}", file=sys.stderr)
            return 2
        cfg = model.cfg
        if cfg.streams.rgb.backbone == "blazepose":
            print(f"plot_attention: {args.checkpoint} reads BlazePose's outputs (streams.rgb.backbone: blazepose), not "
                  "image crops; this tool draws models on crops (e.g. training/checkpoints/lite_crops.pt, or --config)",
                  file=sys.stderr)
            return 2
    else:
        model = build_model(cfg).eval()
    if cfg.temporal_encoder.type != "transformer":
        print("plot_attention: temporal_encoder.type is not transformer: a GRU has no attention maps", file=sys.stderr)
        return 2
    t_len = cfg.input.seq_len
    rgb, flow, source = read_window(args.video, t_len, cfg.input.crop_size, args.start)
    keypoints = torch.zeros(1, t_len, 33, 4) if "keypoints" in model.stream_names else None
    with torch.no_grad():
        out = model(rgb=rgb, flow=flow if "flow" in model.stream_names else None, keypoints=keypoints, need_weights=True)
    if not 1 <= args.layer <= len(out.attention):
        print(f"plot_attention: --layer must be 1..{len(out.attention)}", file=sys.stderr)
        return 2
    maps = out.attention[args.layer - 1][0].numpy()  # (H, T, T)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = maps.shape[0]
    cols = min(4, heads)
    rows = (heads + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows + 0.6), squeeze=False)
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.axis("off")
            continue
        ax.imshow(maps[h], cmap="viridis", vmin=0.0, vmax=float(maps.max()))
        ax.set_title(f"head {h + 1}", fontsize=10)
        ax.set_xlabel("key frame", fontsize=8)
        ax.set_ylabel("query frame", fontsize=8)
        ax.tick_params(labelsize=7)
    weights = f"checkpoint {Path(args.checkpoint).name}" if args.checkpoint else "untrained weights"
    fig.suptitle(f"{cfg.name}: encoder layer {args.layer}, {cfg.temporal_encoder.attention} attention, "
                 f"T = {t_len} ({source}; {weights})", fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}: {heads} heads of layer {args.layer} over {t_len} frames ({source}; {weights})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
