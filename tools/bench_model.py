#!/usr/bin/env python3
"""Benchmark the DTS-VIBE network on this CPU: parameter counts, batch forward time per frame, and the
streaming step against recomputing the whole T-frame window for every new frame.

Prints two tables and writes them as Markdown and JSON (``--out``, default ``out/bench_model``).

    python tools/bench_model.py                  # paper and lite configs
    python tools/bench_model.py --configs lite --repeats 20

Rows:
* ``batch T=16`` — one forward over a T-frame window from crops (CNN streams included), time / T;
* ``frame encoder`` — the CNN (and keypoint) streams for one new frame;
* ``temporal: recompute window`` — for each new frame, encoder, fusion, FC and regressor over the
  last T frames' features (as a causal model without a ring buffer must), then the body model for
  the newest frame;
* ``temporal: streaming step`` — the same output from the ring-buffered step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable


import torch

from tools.bench_report import check_model_configs, environment, latencies, report
from training.config import load_model_config
from training.model import build_model

OFFLINE = ["streams.rgb.pretrained=none", "streams.flow.pretrained=none"]


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    return latencies(fn, repeats, warmup)[0]


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bench_config(name: str, repeats: int, persons_list: list[int]) -> dict:
    # Causal attention so that the same weights run batch, recompute and streaming alike.
    cfg = load_model_config(name, [*OFFLINE, "temporal_encoder.attention=causal"])
    model = build_model(cfg).eval()
    t_len, size, d = cfg.input.seq_len, cfg.input.crop_size, cfg.embed_dim
    inputs = {
        "rgb": torch.randn(1, t_len, 3, size, size),
        "flow": torch.randn(1, t_len, 2, size, size) if "flow" in model.stream_names else None,
        "keypoints": torch.rand(1, t_len, 33, 4) if "keypoints" in model.stream_names else None,
    }
    with torch.no_grad():
        batch_ms = timed(lambda: model(**inputs), max(3, repeats // 4))
        one = {k: (v[:, :1] if v is not None else None) for k, v in inputs.items()}
        encode_ms = timed(lambda: model.encode_frames(**one), max(3, repeats // 4))
        temporal = {}
        for persons in persons_list:
            feats = {k: torch.randn(persons, t_len, d) for k in model.stream_names}
            frame = {k: v[:, -1] for k, v in feats.items()}
            state = model.init_state(persons)
            for t in range(t_len):  # a full ring buffer, as in steady state
                _, state = model.step({k: v[:, t] for k, v in feats.items()}, state)
            recompute = timed(lambda: model.decode(model.temporal(feats)[0][:, -1]), repeats)
            step = timed(lambda: model.step(frame, state), repeats)
            temporal[persons] = {"recompute_ms": recompute, "step_ms": step, "ratio": recompute / step}
    return {
        "config": name,
        "params_total_M": count(model) / 1e6,
        "params": {
            **{f"stream {k}": count(m) / 1e6 for k, m in model.streams.items()},
            "temporal encoder": count(model.encoder) / 1e6,
            "fc + regressor": (count(model.fc) + count(model.regressor)) / 1e6,
        },
        "crop": size,
        "window": t_len,
        "batch_forward_ms_per_frame": batch_ms / t_len,
        "frame_encoder_ms": encode_ms,
        "temporal_per_new_frame": temporal,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["paper", "lite"])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--persons", type=int, nargs="+", default=[1, 8], help="people per frame for the temporal rows")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    p.add_argument("--out", default="out/bench_model")
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("bench_model", args.out)  # before any work: a path that cannot be written fails now, in one line
    check_model_configs(p, args.configs, OFFLINE)  # every config named resolves before the first is measured
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = [bench_config(name, args.repeats, args.persons) for name in args.configs]

    t1 = ["| config | parameters (M) | of which | crop | batch T=16: ms / frame | frame encoder: ms for 1 frame |",
          "|---|---:|---|---:|---:|---:|"]
    for r in rows:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in r["params"].items())
        t1.append(f"| {r['config']} | {r['params_total_M']:.1f} | {parts} | {r['crop']} | "
                  f"{r['batch_forward_ms_per_frame']:.1f} | {r['frame_encoder_ms']:.1f} |")
    t2 = ["| config | people | recompute T-frame window: ms per new frame | streaming step: ms per new frame | ratio |",
          "|---|---:|---:|---:|---:|"]
    for r in rows:
        for persons, m in r["temporal_per_new_frame"].items():
            t2.append(f"| {r['config']} | {persons} | {m['recompute_ms']:.2f} | {m['step_ms']:.2f} | {m['ratio']:.1f}× |")
    env = environment(f"median of {args.repeats} runs; causal attention for every row; "
                      "batch T=16 and frame encoder for 1 person")
    report(args.out, "bench_model", "DTS-VIBE network on the CPU", ["\n".join(t1), "\n".join(t2)], env, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
