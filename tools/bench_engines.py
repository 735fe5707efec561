#!/usr/bin/env python3
"""Per-graph latency of the engine bundle on this machine: PyTorch vs ONNX Runtime, for the
paper and lite configs, person batch 1 and 4. Median and p95 over ``--repeats`` calls.

    python tools/bench_engines.py                       # paper + lite, random weights, batch 1 and 4
    python tools/bench_engines.py --configs lite --repeats 50 --out out/bench_engines
    python tools/bench_engines.py --bundles engines/assets/lite_default OTHER_BUNDLE --batches 1 3   # built bundles, side by side

Each config gets a random-weight checkpoint (latency does not depend on the weights; the paper config with
``temporal_encoder.attention=causal``, since only a causal model streams frame by frame) exported with
``engines.build.onnx_export.export_bundle``; every backend then runs the same inputs through
``EngineSession.encode`` (``frame_encoder``) and ``EngineSession.step`` (``temporal_step``, with the
ring buffers of a person already 40 frames in). Prints a table; writes Markdown and JSON.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


import numpy as np
import torch

from tools.bench_report import check_model_configs, environment, latencies, report
from engines import EngineSession
from engines.build.onnx_export import example_inputs, export_bundle
from engines.gpu import tensorrt_unavailable
from training.checkpoint import save_checkpoint
from training.config import load_model_config
from training.model import build_model

OFFLINE = ["streams.rgb.pretrained=none", "streams.flow.pretrained=none"]


def time_graphs(session: EngineSession, model: torch.nn.Module, batch: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median and p95 ms of ``frame_encoder`` and ``temporal_step`` for ``batch`` people 40 frames in (every
    ring-buffer slot in use), on :func:`example_inputs` of ``model``; the people are released after."""
    inputs = {k: v.numpy() for k, v in example_inputs(model, batch=batch).items()}
    ids = list(range(batch))
    feats = session.encode(inputs)
    for _ in range(40):
        session.step(ids, feats)
    out = {graph: latencies(fn, repeats) for graph, fn in
           (("frame_encoder", lambda: session.encode(inputs)), ("temporal_step", lambda: session.step(ids, feats)))}
    for i in ids:
        session.release(i)
    return out


def bench_config(name: str, workdir: Path, batches: list[int], repeats: int, backends: list[str], threads: int) -> list[dict]:
    torch.manual_seed(0)
    cfg = load_model_config(name, OFFLINE)
    if cfg.temporal_encoder.attention != "causal":  # the paper's window looks ahead: streaming needs causal attention
        cfg = load_model_config(name, [*OFFLINE, "temporal_encoder.attention=causal"])
    model = build_model(cfg).eval()
    ckpt = save_checkpoint(workdir / f"{name}.pt", model, cfg)
    if "tensorrt" in backends:  # the ONNX graphs and their FP16 plans, as tools/build_engine.py makes them
        from tools.build_engine import main as build_engine

        if build_engine([str(ckpt), "--out", str(workdir / name), "--max-persons", str(max(batches))]) != 0:
            raise SystemExit(f"bench_engines: building the TensorRT plans of {name} failed")
    else:
        export_bundle(ckpt, workdir / name, max_persons=max(batches))
    rows = []
    for backend in backends:
        session = EngineSession(workdir / name, backend=backend, intra_op_threads=threads)
        for batch in batches:
            for graph, (median, p95) in time_graphs(session, model, batch, repeats).items():
                rows.append({"config": name, "backend": f"{session.backend} ({session.device})", "graph": graph,
                             "batch": batch, "median_ms": round(median, 2), "p95_ms": round(p95, 2)})
                print(f"  {name:5s} {rows[-1]['backend']:20s} {graph:13s} batch {batch}: {median:8.2f} ms (p95 {p95:.2f})", flush=True)
    return rows


def bench_bundles(folders: list[str], batches: list[int], repeats: int, threads: int, rounds: int = 5) -> list[dict]:
    """Built bundles (their own weights and graphs, e.g. the shipped default before and after a change) on ONNX
    Runtime, taking turns ``rounds`` times so that a busy moment of the machine falls on all of them alike; the
    inputs come from :func:`example_inputs` of each bundle's model config."""
    from engines.manifest import read_manifest
    from training.config.schema import ModelConfig

    sessions = {}
    for folder in folders:
        model = build_model(ModelConfig(**read_manifest(folder).model_config)).eval()
        sessions[folder] = (EngineSession(folder, backend="onnxruntime", intra_op_threads=threads), model)
    rows = []
    for batch in batches:
        times: dict[str, dict[str, list[float]]] = {f: {"frame_encoder": [], "temporal_step": []} for f in folders}
        for _ in range(rounds):
            for folder, (session, model) in sessions.items():
                torch.manual_seed(0)
                for graph, (median, _) in time_graphs(session, model, batch, max(1, repeats // rounds)).items():
                    times[folder][graph].append(median)
        for folder in folders:
            for graph, values in times[folder].items():
                median = float(np.median(values))
                rows.append({"config": folder, "backend": f"{sessions[folder][0].backend} ({sessions[folder][0].device})",
                             "graph": graph, "batch": batch, "median_ms": round(median, 2), "p95_ms": round(float(np.max(values)), 2)})
                print(f"  {folder} {graph:13s} batch {batch}: {median:8.2f} ms", flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=["paper", "lite"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime / torch intra-op threads (0 = library default)")
    p.add_argument("--bundles", nargs="+", default=[], metavar="DIR",
                   help="time these built bundles on ONNX Runtime instead, taking turns (e.g. before and after a change)")
    p.add_argument("--out", default="out/bench_engines")
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("bench_engines", args.out)  # before any work: a path that cannot be written fails now, in one line
    check_model_configs(p, args.configs, OFFLINE)  # every config named resolves before the first is measured
    if args.threads:
        torch.set_num_threads(args.threads)
    why = tensorrt_unavailable()
    backends = ["torch", "onnxruntime"] + ([] if why else ["tensorrt"])  # FP16 plans where TensorRT and a GPU are here
    rows = []
    if args.bundles:
        rows = bench_bundles(args.bundles, args.batches, args.repeats, args.threads)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.configs:
                rows += bench_config(name, Path(tmp), args.batches, args.repeats, backends, args.threads)
    head = "| config | backend | graph | batch | median ms | p95 ms |\n|---|---|---|---:|---:|---:|"
    body = "\n".join(f"| {r['config']} | {r['backend']} | {r['graph']} | {r['batch']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} |" for r in rows)
    extra = f"no TensorRT row: {why}" if why else "TensorRT rows: FP16 plans built by tools/build_engine.py"
    if args.bundles:
        extra = "built bundles on ONNX Runtime, taking turns in 5 rounds (p95 column: the slowest round's median)"
    report(args.out, "bench_engines", "Engine graphs: latency per call", [head + "\n" + body],
           environment(f"{args.repeats} calls per row; {extra}"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
