#!/usr/bin/env python3
"""Write synthetic training clips to tar shards, or measure the generator's throughput.

    python tools/make_synthetic.py --out data/synthetic --clips 2000 --shard-size 64 --seed 0 --crop 224
    python tools/make_synthetic.py --benchmark --crop 224 --clips 12      # frames/s table, writes nothing

Each clip is ``--seq-len`` frames (default 16) of ``--crop``² person crops with exact optical flow,
SMPL labels, 3D/2D joints (see ``training/synthetic/dataset.py`` for the format). Read them back
with ``training.synthetic.SyntheticShardDataset(DIR)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from training.synthetic import SyntheticConfig, SyntheticGenerator, write_shards  # noqa: E402
from training.synthetic.dataset import clip_to_sample, encode_clip  # noqa: E402
from training.synthetic.motion import amass_motion_source  # noqa: E402


def _config(args: argparse.Namespace) -> SyntheticConfig:
    cfg = SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop, num_betas=args.num_betas)
    if args.no_video_backgrounds:
        cfg.use_video_backgrounds = False
    return cfg


def _motion(args: argparse.Namespace, cfg: SyntheticConfig):
    """Recorded AMASS motion when ``--amass`` is given, else the procedural generator (None)."""
    return amass_motion_source(args.amass, cfg.fps) if args.amass else None


def benchmark(args: argparse.Namespace) -> None:
    cfg = _config(args)
    gen = SyntheticGenerator(args.seed, cfg, motion_source=_motion(args, cfg))
    gen.clip(10**6)  # warm-up: GL context, shader compilation, video frames
    times = {"generate": [], "to_tensors": [], "encode": []}
    for i in tqdm(range(args.clips), desc="benchmark", unit="clip"):
        t0 = time.perf_counter()
        clip = gen.clip(i)
        t1 = time.perf_counter()
        clip_to_sample(clip)
        t2 = time.perf_counter()
        encode_clip(clip)
        t3 = time.perf_counter()
        times["generate"].append(t1 - t0)
        times["to_tensors"].append(t2 - t1)
        times["encode"].append(t3 - t2)
    frames = args.clips * cfg.seq_len
    load = os.getloadavg()
    gen_s = sum(times["generate"])
    print()
    print(f"synthetic generator benchmark: {args.clips} clips × {cfg.seq_len} frames at {cfg.crop_size}×{cfg.crop_size}, "
          f"with flow; torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f}")
    print(f"{'stage':<28}{'ms/clip':>10}{'ms/frame':>10}{'frames/s':>10}")
    rows = [
        ("generate (render+labels)", gen_s),
        ("+ to tensors (on the fly)", gen_s + sum(times["to_tensors"])),
        ("+ encode shard (PNG+npz)", gen_s + sum(times["encode"])),
    ]
    for name, total in rows:
        print(f"{name:<28}{1000 * total / args.clips:>10.1f}{1000 * total / frames:>10.2f}{frames / total:>10.1f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="output folder (shards + manifest.json)")
    p.add_argument("--clips", type=int, default=None, help="number of clips (default 1000; 12 with --benchmark)")
    p.add_argument("--shard-size", type=int, default=64, help="clips per tar shard")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop", type=int, default=224, help="crop size in pixels (224 paper, 128 lite)")
    p.add_argument("--seq-len", type=int, default=16, help="frames per clip")
    p.add_argument("--num-betas", type=int, default=10, choices=range(1, 17), metavar="{1..16}")
    p.add_argument("--no-video-backgrounds", action="store_true", help="procedural backgrounds only")
    p.add_argument("--amass", type=Path, help="folder of AMASS .npz motions (default: procedural motions)")
    p.add_argument("--benchmark", action="store_true", help="print a throughput table and write nothing")
    args = p.parse_args(argv)
    if args.benchmark:
        args.clips = args.clips or 12
        benchmark(args)
        return 0
    if args.out is None:
        p.error("--out is required (or use --benchmark)")
    args.clips = args.clips or 1000
    cfg = _config(args)
    with tqdm(total=args.clips, desc="synthetic clips", unit="clip") as bar:
        path = write_shards(args.out, args.clips, args.shard_size, args.seed, cfg, progress=bar.update,
                            motion_source=_motion(args, cfg))
    print(f"wrote {args.clips} clips to {path.parent} (manifest {path.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
