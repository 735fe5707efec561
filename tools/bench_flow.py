#!/usr/bin/env python3
"""Benchmark the flow providers: end-point error on held-out generated clips and time per 224² pair.

    python tools/bench_flow.py --checkpoint out/flow/flow_net.pt --onnx out/flow/flow_net.onnx \
        --clips 16 --seed 424242 --out docs/flow/flow_benchmark

For DIS (ultrafast, fast, medium), Farneback and the learned network (PyTorch and ONNX Runtime):
EPE (pixels, mean over pixels of every pair t−1→t, t ≥ 1) on all pixels and on the person's
pixels of ``--clips`` generated clips of a seed the training set did not use, plus the zero flow
as a reference; the median time per pair at 224² (single thread and the default thread count)
and at 128² (single thread). Prints the table and writes ``OUT.md`` and ``OUT.json``.

The rule (issue 5): the learned network becomes the default only if it beats the DIS preset of
similar cost (the preset whose single-thread time at 224² is nearest to the network's ONNX Runtime
time, on a log scale) on both EPEs; the report states the outcome.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import cv2
import numpy as np
from tqdm import tqdm

from training.flow.providers import DISFlow, FarnebackFlow, LearnedFlow, normalise_imagenet


def _median_ms(fn, reps: int) -> float:
    fn()
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(ts))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(ROOT / "out/flow/flow_net.pt"), help="learned network (.pt); '' to skip")
    p.add_argument("--onnx", default=str(ROOT / "out/flow/flow_net.onnx"), help="its 224² ONNX graph; '' to skip")
    p.add_argument("--onnx-128", default=str(ROOT / "out/flow/flow_net_128.onnx"), help="its 128² ONNX graph (timing)")
    p.add_argument("--clips", type=int, default=16, help="held-out generated clips")
    p.add_argument("--seq-len", type=int, default=8)
    p.add_argument("--seed", type=int, default=424242, help="generator seed (not a training seed)")
    p.add_argument("--reps", type=int, default=40, help="timed repetitions per setting")
    p.add_argument("--out", default=str(ROOT / "docs/flow/flow_benchmark"), help="writes OUT.md and OUT.json")
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("bench_flow", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line

    import torch

    from training.flow.network import load_flow_net
    from training.synthetic import SyntheticVideoDataset

    default_threads = {"cv2": cv2.getNumThreads(), "torch": torch.get_num_threads()}
    ds = SyntheticVideoDataset(seed=args.seed, length=args.clips, seq_len=args.seq_len, crop_size=224)
    clips = [ds.clip(i) for i in tqdm(range(args.clips), desc="held-out clips", unit="clip")]

    methods: dict[str, object] = {
        "dis-ultrafast": DISFlow("ultrafast"), "dis-fast": DISFlow("fast"), "dis-medium": DISFlow("medium"),
        "farneback": FarnebackFlow(),
    }
    model = None
    if args.checkpoint and Path(args.checkpoint).is_file():
        model, ckpt = load_flow_net(args.checkpoint)
    if args.onnx and Path(args.onnx).is_file():
        methods["learned (ONNX Runtime)"] = LearnedFlow(args.onnx)

    def torch_flow(prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            a = torch.from_numpy(normalise_imagenet(prev)[None])
            b = torch.from_numpy(normalise_imagenet(curr)[None])
            return model(a, b)[0].numpy()

    # accuracy
    names = ["zero flow"] + list(methods) + (["learned (PyTorch)"] if model is not None else [])
    sums = {n: [0.0, 0.0, 0.0, 0.0] for n in names}  # all err, all count, body err, body count
    for c in tqdm(clips, desc="EPE", unit="clip"):
        for t in range(1, c["rgb"].shape[0]):
            gt = c["flow"][t].astype(np.float32)
            m = c["mask"][t] > 0
            for n in names:
                if n == "zero flow":
                    f = np.zeros_like(gt)
                elif n == "learned (PyTorch)":
                    f = torch_flow(c["rgb"][t - 1], c["rgb"][t])
                else:
                    f = methods[n].flow(c["rgb"][t - 1], c["rgb"][t])
                e = np.linalg.norm(f - gt, axis=0)
                s = sums[n]
                s[0] += float(e.sum()); s[1] += e.size; s[2] += float(e[m].sum()); s[3] += int(m.sum())

    # timing on one held-out pair at 224² (and 128²)
    prev, curr = clips[0]["rgb"][0], clips[0]["rgb"][1]
    prev128, curr128 = (cv2.resize(x, (128, 128), interpolation=cv2.INTER_AREA) for x in (prev, curr))
    timing: dict[str, dict[str, float]] = {n: {} for n in names if n != "zero flow"}
    onnx_paths = {224: args.onnx, 128: args.onnx_128}
    for threads in ("1", "default"):
        single = threads == "1"
        cv2.setNumThreads(1 if single else default_threads["cv2"])
        torch.set_num_threads(1 if single else default_threads["torch"])
        for n in timing:
            sizes = (224, 128) if single else (224,)
            for s in sizes:
                a, b = (prev, curr) if s == 224 else (prev128, curr128)
                if n == "learned (ONNX Runtime)":
                    path = onnx_paths[s]
                    if not path or not Path(path).is_file():
                        continue
                    prov = LearnedFlow(path, threads=1 if single else None)
                    fn = lambda prov=prov, a=a, b=b: prov.flow(a, b)  # noqa: E731
                elif n == "learned (PyTorch)":
                    fn = lambda a=a, b=b: torch_flow(a, b)  # noqa: E731
                else:
                    fn = lambda m=methods[n], a=a, b=b: m.flow(a, b)  # noqa: E731
                timing[n][f"ms_{s}_{threads}"] = round(_median_ms(fn, args.reps), 3)
    cv2.setNumThreads(default_threads["cv2"])

    rows = []
    for n in names:
        s = sums[n]
        rows.append({
            "method": n,
            "epe_all": round(s[0] / max(s[1], 1), 4),
            "epe_body": round(s[2] / max(s[3], 1), 4),
            **timing.get(n, {}),
        })

    # the rule
    by = {r["method"]: r for r in rows}
    learned = by.get("learned (ONNX Runtime)")
    verdict: dict[str, object] = {}
    if learned and "ms_224_1" in learned:
        dis = [r for r in rows if r["method"].startswith("dis-")]
        peer = min(dis, key=lambda r: abs(math.log(r["ms_224_1"] / learned["ms_224_1"])))
        wins = learned["epe_all"] < peer["epe_all"] and learned["epe_body"] < peer["epe_body"]
        best_dis = min(dis, key=lambda r: r["epe_body"])
        verdict = {
            "peer": peer["method"],
            "learned_beats_peer": bool(wins),
            "default": "learned" if wins else "dis",
            "text": (
                f"The learned network ({learned['ms_224_1']:.2f} ms single-thread at 224²) is compared with the DIS "
                f"preset of nearest cost, {peer['method']} ({peer['ms_224_1']:.2f} ms): EPE all "
                f"{learned['epe_all']:.3f} vs {peer['epe_all']:.3f} px, body {learned['epe_body']:.3f} vs "
                f"{peer['epe_body']:.3f} px. "
                + ("It beats it on both, so `learned` becomes the default provider."
                   if wins else "It does not beat it on both, so the learned network does not become the default: "
                   "the default provider stays `dis` (OpenCV DIS).")
                + f" The most accurate DIS preset on the body is {best_dis['method']}."
            ),
        }

    env = {
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "default_threads": default_threads,
        "platform": platform.platform(),
        "cv2": cv2.__version__,
        "torch": torch.__version__,
    }
    try:
        import onnxruntime as ort

        env["onnxruntime"] = ort.__version__
    except ImportError:  # pragma: no cover
        pass
    if model is not None:
        env["checkpoint"] = {"path": str(args.checkpoint), "step": ckpt.get("step"), "net_config": ckpt.get("net_config"),
                             "params": sum(p.numel() for p in model.parameters())}
    cmd = "python tools/bench_flow.py " + " ".join(argv if argv is not None else sys.argv[1:])
    pairs = sum(c["rgb"].shape[0] - 1 for c in clips)
    report = {"command": cmd.strip(), "held_out": {"seed": args.seed, "clips": args.clips, "pairs": pairs, "crop": 224},
              "rows": rows, "verdict": verdict, "environment": env}

    def cell(r, k):
        v = r.get(k)
        return "–" if v is None else f"{v:.2f}"

    lines = [
        "| method | EPE all (px) | EPE body (px) | ms/pair 224² 1 thread | ms/pair 224² default threads | ms/pair 128² 1 thread |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['epe_all']:.3f} | {r['epe_body']:.3f} | {cell(r, 'ms_224_1')} | "
                     f"{cell(r, 'ms_224_default')} | {cell(r, 'ms_128_1')} |")
    table = "\n".join(lines)
    print()
    print(table)
    if verdict:
        print()
        print(verdict["text"])
    md = [
        "# Optical flow providers: accuracy and speed",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Held-out generated clips: seed {args.seed} (the training set used seed 9101), {args.clips} clips × "
        f"{args.seq_len} frames at 224², {pairs} pairs. EPE = end-point error of the backward flow (pixels), the mean "
        "over all pixels and over the person's pixels (generator mask) of every pair. Times are medians of "
        f"{args.reps} runs on one pair, including the grey/normalisation conversions, on {os.cpu_count()} shared CPU "
        f"cores (load average {env['load_average'][0]} at the end: treat times as relative).",
        "",
        table,
        "",
        "**Rule (issue 5):** the learned network becomes the default only if it beats the DIS preset of similar cost. "
        + (verdict.get("text", "No learned network was benchmarked.") if verdict else "No learned network was benchmarked."),
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(md))
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
