#!/usr/bin/env python3
"""Benchmark the body model's forward pass (vertices + joints + landmarks) on this machine.

Prints a table and writes it as Markdown and JSON (``--out``, default ``out/bench_body``).

    python tools/bench_body.py                 # the embedded open body, batch 1 and 16, CPU
    python tools/bench_body.py --smpl DIR      # official SMPL instead
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


import torch

from tools.bench_report import environment, report
from training.body import BodyModel


def time_forward(body: BodyModel, batch: int, repeats: int, device: str) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    pose = ((torch.rand(batch, 24, 3, generator=gen) - 0.5) * 1.0).to(device)
    betas = torch.randn(batch, body.num_betas, generator=gen).to(device)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            body(pose=pose, betas=betas)
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= 3:  # warm-up excluded
                times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))], "min_ms": min(times)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smpl", help="folder or file of official SMPL (default: the embedded open body)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    p.add_argument("--out", default="out/bench_body", help="folder for bench_body.md / .json")
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("bench_body", args.out)  # before any work: a path that cannot be written fails now, in one line
    if args.threads:
        torch.set_num_threads(args.threads)
    body = (BodyModel.smpl(args.smpl) if args.smpl else BodyModel.open()).to(args.device)
    name = body.meta.get("name", "body")
    rows = []
    for b in args.batches:
        r = time_forward(body, b, args.repeats, args.device)
        rows.append({"body": name, "vertices": body.num_vertices, "batch": b, **r, "per_body_ms": r["median_ms"] / b})
    header = "| body | vertices | batch | median ms | p95 ms | min ms | ms per body |\n|---|---:|---:|---:|---:|---:|---:|"
    lines = [
        f"| {r['body']} | {r['vertices']} | {r['batch']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['min_ms']:.2f} | {r['per_body_ms']:.2f} |"
        for r in rows
    ]
    table = "\n".join([header, *lines])
    env = environment(f"device {args.device}; {args.repeats} runs after 3 warm-up")
    report(args.out, "bench_body", "Body model forward", [table], env, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
