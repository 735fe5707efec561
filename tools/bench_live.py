#!/usr/bin/env python3
"""End-to-end benchmark of the live pipeline on a video file, for the lite and paper configs.

    python tools/bench_live.py [--video FILE] [--configs lite paper] [--frames 150] [--out out/bench_live]

For each config, two runs of ``dtsvibe-live``'s pipeline (ONNX Runtime on this CPU):

* **throughput** — the file read as fast as possible, every frame processed (``--no-realtime``):
  end-to-end fps and per-stage p50/p95 latency;
* **live** — the file played at its own frame rate like a camera (newest frame kept, the rest dropped
  and counted): delivered fps and capture-to-output latency p50/p95.

The lite row uses the embedded default checkpoint's bundle; the paper row a random-weight paper model
(latency does not depend on the weights). Prints the tables and writes them as Markdown and JSON.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import environment, report  # noqa: E402
from realtime.cli import build_pipeline  # noqa: E402
from realtime.config import load_live_config  # noqa: E402
from realtime.sources import DEMO_CLIP  # noqa: E402


def _bundle(name: str, tmp: Path) -> str | None:
    """None = the default bundle (lite); else a random-weight bundle of model config ``name``."""
    if name == "lite":
        return None
    import torch

    from engines.export import export_bundle
    from training.checkpoint import save_checkpoint
    from training.config import load_model_config
    from training.model import build_model

    torch.manual_seed(0)
    cfg = load_model_config(name, ["streams.rgb.pretrained=none", "streams.flow.pretrained=none", "streams.flow.provider=dis",
                                   "temporal_encoder.attention=causal"])  # only a causal model streams frame by frame
    ckpt = save_checkpoint(tmp / f"{name}.pt", build_model(cfg).eval(), cfg)
    export_bundle(ckpt, tmp / name, max_persons=4)
    return str(tmp / name)


def run(video: str, bundle: str | None, realtime: bool, frames: int, threads: int) -> dict:
    overrides = [f"input.source={video}", f"input.realtime={str(realtime).lower()}", f"engine.intra_op_threads={threads}"]
    if bundle:
        overrides.append(f"engine.bundle={bundle}")
    pipeline, session = build_pipeline(load_live_config("default", overrides), max_frames=frames, log=lambda m: None)
    pipeline.run()
    s = pipeline.stats.summary()
    wall = max(s["capture→output"]["count"], 1) / max(_elapsed(pipeline), 1e-6)
    return {"summary": s, "fps": wall, "dropped": s.get("capture", {}).get("dropped", 0), "backend": f"{session.backend} ({session.device})"}


def _elapsed(pipeline) -> float:
    import time

    return time.monotonic() - pipeline.stats.started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(DEMO_CLIP), help="a video file (default: the demo clip, 640×360, one person)")
    p.add_argument("--configs", nargs="+", default=["lite", "paper"])
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = its default)")
    p.add_argument("--out", default="out/bench_live")
    args = p.parse_args()
    rows, stage_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            bundle = _bundle(name, Path(tmp))
            for mode, realtime in (("throughput", False), ("live", True)):
                r = run(args.video, bundle, realtime, args.frames, args.threads)
                e2e = r["summary"]["capture→output"]
                rows.append({"config": name, "mode": mode, "backend": r["backend"], "fps": round(r["fps"], 1), "dropped": r["dropped"],
                             "latency_p50_ms": round(e2e["p50_ms"], 1), "latency_p95_ms": round(e2e["p95_ms"], 1)})
                print(f"  {name} {mode}: {rows[-1]}", flush=True)
                if mode == "throughput":
                    for stage, v in r["summary"].items():
                        stage_rows.append({"config": name, "stage": stage, "p50_ms": round(v["p50_ms"], 1), "p95_ms": round(v["p95_ms"], 1)})
    t1 = "| config | mode | backend | fps | frames dropped | capture→output p50 ms | p95 ms |\n|---|---|---|---:|---:|---:|---:|\n" + "\n".join(
        f"| {r['config']} | {r['mode']} | {r['backend']} | {r['fps']} | {r['dropped']} | {r['latency_p50_ms']} | {r['latency_p95_ms']} |" for r in rows)
    t2 = "| config | stage | p50 ms | p95 ms |\n|---|---|---:|---:|\n" + "\n".join(
        f"| {r['config']} | {r['stage']} | {r['p50_ms']} | {r['p95_ms']} |" for r in stage_rows)
    report(args.out, "bench_live", "Live pipeline end to end", [t1, t2],
           environment(f"video {Path(args.video).name}, {args.frames} frames per run"), {"runs": rows, "stages": stage_rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
