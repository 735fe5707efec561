#!/usr/bin/env python3
"""Train the learned flow network on synthetic exact flow (+ a photometric loss on real clips).

    # once: a training set of generated clips (different seed from the benchmark's)
    python tools/make_synthetic.py --out out/flow/data_train --clips 480 --shard-size 32 --seed 9101 --crop 224 --seq-len 8
    # train for 35 minutes on 128² windows, photometric loss on ../shared/media/*.mp4
    python tools/train_flow.py --data out/flow/data_train --out out/flow --minutes 35

Writes ``OUT/flow_net.pt`` (weights + network and training config + metrics),
``OUT/flow_net.onnx`` (224², batch 1) and ``OUT/flow_net_128.onnx``, and ``OUT/flow_net_train.json``.
Use the graph with ``training.flow.make_provider("learned", path=OUT/flow_net.onnx)``.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from training.flow.train import FlowTrainConfig, train_flow


def main(argv=None) -> int:
    d = FlowTrainConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=d.data, help="synthetic shard folder (tools/make_synthetic.py --out)")
    p.add_argument("--out", default=d.out, help="output folder for the checkpoint and ONNX graphs")
    p.add_argument("--real", nargs="*", default=None,
                   help="real videos for the photometric loss (default: ../shared/media/*.mp4 if present; none: off)")
    p.add_argument("--crop", type=int, default=d.crop, help="training window in pixels (divisible by 16)")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--real-batch", type=int, default=d.real_batch)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--minutes", type=float, default=d.minutes, help="wall-clock budget (cosine schedule over it)")
    p.add_argument("--steps", type=int, default=0, help="a step count instead of --minutes")
    p.add_argument("--body-weight", type=float, default=d.body_weight)
    p.add_argument("--photo-weight", type=float, default=d.photo_weight)
    p.add_argument("--smooth-weight", type=float, default=d.smooth_weight)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--val-clips", type=int, default=d.val_clips)
    p.add_argument("--net", default=None, help="network config as JSON, e.g. '{\"widths\": [12, 20, 32, 48]}'")
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("train_flow", args.out)  # before any work: a path that cannot be written fails now, in one line
    if not (Path(args.data) / "manifest.json").is_file():
        p.error(f"--data {args.data}: no shards there; make them with tools/make_synthetic.py --out {args.data}")
    if args.real is None:
        real = sorted(glob.glob(str(ROOT.parent / "shared" / "media" / "*.mp4")))
    else:
        real = args.real
    net = d.net if args.net is None else {**d.net, **json.loads(args.net)}
    cfg = FlowTrainConfig(
        data=args.data, out=args.out, real_videos=tuple(real), crop=args.crop, batch=args.batch,
        real_batch=args.real_batch, lr=args.lr, minutes=args.minutes, steps=args.steps, body_weight=args.body_weight,
        photo_weight=args.photo_weight, smooth_weight=args.smooth_weight, threads=args.threads, seed=args.seed,
        val_clips=args.val_clips, net=net,
    )
    print(f"training the flow network: {json.dumps(cfg.to_dict())}", flush=True)
    _, summary = train_flow(cfg)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
