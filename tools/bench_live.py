#!/usr/bin/env python3
"""End-to-end benchmark of the live pipeline against the targets of the live-app issue.

    python tools/bench_live.py [--seconds 10] [--scenarios lite-1 lite-3 paper-1 ...] [--out out/bench_live]

Scenarios (``<config>-<people>[-int8]``): a camera-like clip is made from the demo clip — 640×480 at 30 fps,
with one person, or three people side by side (three moments of the clip, one mirrored) — and played
through ``dtsvibe-live``'s pipeline (ONNX Runtime on this CPU) in two modes:

* **live** — at its own frame rate like a camera: the newest frame is kept, the rest dropped and
  counted. Delivered fps and capture-to-output latency p50/p95 are the figures the targets speak of.
* **throughput** — as fast as possible, every frame processed (``--no-realtime``): the pipeline's
  capacity in fps and each stage's p50/p95 latency.

The first ``--warmup`` seconds of each run are not measured. The lite rows use the embedded default
checkpoint's bundle; the paper rows a random-weight paper model, exported causal because only a causal
model streams (latency does not depend on the weights). ``-int8`` runs the bundle's INT8 frame encoder
(``tools/build_engine.py --int8``, calibrated on the demo clip's crops); the others run fp32. Prints the
tables, writes Markdown and JSON.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


from tools.bench_report import environment, report
from engines import read_manifest
from realtime.graph import build_pipeline
from realtime.config import load_live_config
from realtime.sources import open_source
from training.paths import CROPS_CHECKPOINT

#: The issues' targets per scenario: (minimum live fps, maximum capture→output p50 ms or None); lite-1 and
#: lite-3 are the model issue's (18), which tightened the live-app issue's 80 ms to 40.
TARGETS = {"lite-1": (30.0, 40.0), "lite-3": (20.0, None), "paper-1": (10.0, None), "paper-1-int8": (10.0, None)}
SIZE, FPS = (640, 480), 30.0


def camera_clip(path: Path, people: int, seconds: float) -> Path:
    """A 640×480, 30 fps clip with ``people`` people made from the demo clip (640×360, one person)."""
    with open_source("demo", realtime=False) as src:
        frames = [f.image for f in iter(src.read, None)]
    n = int(seconds * FPS)
    w, h = SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for t in range(n):
        if people == 1:  # the middle 4:3 of the frame, scaled up to 640×480
            out = cv2.resize(frames[t % len(frames)][:, 80:560], SIZE)
        else:  # strips around the performer (x ≈ 330) at different moments, every other one mirrored
            strips = []
            for k in range(people):
                f = frames[(t + 60 * k) % len(frames)][:, 330 - 75 : 330 + 75]
                strips.append(f[:, ::-1] if k % 2 else f)
            out = cv2.resize(np.concatenate(strips, axis=1), SIZE)
        writer.write(np.ascontiguousarray(out))
    writer.release()
    return path


def paper_bundle(tmp: Path, int8: bool = False, streams: list[str] | None = None) -> str:
    import torch

    from engines.build.onnx_export import export_bundle
    from training.checkpoint import save_checkpoint
    from training.config import load_model_config
    from training.model import build_model

    torch.manual_seed(0)
    cfg = load_model_config("paper", ["streams.rgb.pretrained=none", "streams.flow.pretrained=none", "streams.flow.provider=dis",
                                      "temporal_encoder.attention=causal"])
    ckpt = save_checkpoint(tmp / "paper.pt", build_model(cfg).eval(), cfg)
    manifest, _ = export_bundle(ckpt, tmp / "paper", max_persons=4)
    if int8:
        from engines.build.quantize import quantize_graph
        from realtime.calibration import frame_encoder_samples

        quantize_graph(tmp / "paper", "frame_encoder", frame_encoder_samples("demo", manifest, 64), "64 person crops of demo",
                       streams=streams, min_cosine=-1.0)  # measured here, not judged
    return str(tmp / "paper")


def lite_int8_bundle(tmp: Path, gates_fp32: bool = True, name: str = "lite_int8") -> str:
    """The crops model's bundle (``training.paths.CROPS_CHECKPOINT``: MobileNetV3 trunks, what INT8 is for) with
    an INT8 frame encoder calibrated on the demo clip, as
    ``build_engine.py --int8`` makes it, but never refused: a benchmark measures the held-out cosine, it does
    not judge it. ``gates_fp32=False`` is the earlier recipe (squeeze-and-excitation gates in INT8 too)."""
    from tools import build_engine

    from engines.build.quantize import quantize_graph
    from realtime.calibration import frame_encoder_samples

    out = tmp / name
    if build_engine.main([str(CROPS_CHECKPOINT), "--out", str(out), "--onnx-only"]) != 0:
        raise SystemExit("bench_live: exporting the lite bundle failed")
    manifest = read_manifest(out)
    quantize_graph(out, "frame_encoder", frame_encoder_samples("demo", manifest, 64), "64 person crops of demo",
                   min_cosine=-1.0, gates_fp32=gates_fp32)
    return str(out)


def run(video: Path, bundle: str | None, realtime: bool, warmup: float, threads: int, precision: str = "fp32") -> dict:
    overrides = [f"input.source={video}", f"input.realtime={str(realtime).lower()}", f"engine.intra_op_threads={threads}", "view.view=none",
                 f"engine.precision={precision}"]
    if bundle:
        overrides.append(f"engine.bundle={bundle}")
    pipeline, session = build_pipeline(load_live_config("default", overrides), log=lambda m: None)
    pipeline.start()
    t_end = time.monotonic() + warmup
    while time.monotonic() < t_end and any(t.is_alive() for t in pipeline.threads):
        time.sleep(0.05)
    pipeline.stats.reset()
    out0 = pipeline.frames_out
    pipeline.join()
    if pipeline.error is not None:
        raise pipeline.error
    elapsed = time.monotonic() - pipeline.stats.started
    s = pipeline.stats.summary()
    pose = next(stage.pose for stage in pipeline.stages if hasattr(stage, "pose"))  # the detect+track stage's
    passes = pose.landmark_runs / max(pose.people_out, 1)  # BlazePose landmark passes per person and frame, whole run
    return {"summary": s, "fps": (pipeline.frames_out - out0) / max(elapsed, 1e-6), "blazepose_passes": passes,
            "dropped": s.get("capture", {}).get("dropped", 0), "backend": f"{session.backend} ({session.device}, {session.precision_label})"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", nargs="+", default=["lite-1", "lite-3", "paper-1", "paper-1-int8"], help="<lite|paper>-<people>[-int8]")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length (the live run lasts this long)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds at the start of each run not measured")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = its default)")
    p.add_argument("--out", default="out/bench_live")
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("bench_live", args.out)  # before any work: a path that cannot be written fails now, in one line
    for scenario in args.scenarios:
        parts = scenario.split("-")
        if not (len(parts) in (2, 3) and parts[0] in ("lite", "paper") and parts[1].isdigit() and int(parts[1]) >= 1
                and parts[2:] in ([], ["int8"])):
            p.error(f"--scenarios: {scenario!r} is not <lite|paper>-<people>[-int8] (e.g. lite-1, paper-1-int8)")
    rows, stage_rows = [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bundles: dict[str, str | None] = {}
        for scenario in args.scenarios:
            config, people, *precision = scenario.split("-")
            precision = precision[0] if precision else "fp32"
            if config not in bundles:  # one bundle per config, with an INT8 frame encoder when a scenario runs it
                int8 = any(s.startswith(f"{config}-") and s.endswith("-int8") for s in args.scenarios)
                bundles[config] = paper_bundle(tmp, int8) if config == "paper" else (lite_int8_bundle(tmp) if int8 else None)
            clip = tmp / f"camera_{people}.mp4"
            if not clip.exists():
                camera_clip(clip, int(people), args.seconds)
            for mode, realtime in (("live", True), ("throughput", False)):
                r = run(clip, bundles[config], realtime, args.warmup, args.threads, precision)
                e2e = r["summary"]["capture→output"]
                fps_min, lat_max = TARGETS.get(scenario, (None, None))
                target = "" if mode != "live" or fps_min is None else f"≥ {fps_min:g} fps" + (f", p50 ≤ {lat_max:g} ms" if lat_max else "")
                # Keeping up with the camera is measured against its own rate: allow 3% for the clip's frame timing.
                need = 0.97 * fps_min if fps_min == FPS else fps_min
                met = "" if not target else ("yes" if r["fps"] >= need and (lat_max is None or e2e["p50_ms"] <= lat_max) else "no")
                rows.append({"scenario": scenario, "mode": mode, "backend": r["backend"], "fps": round(r["fps"], 2), "dropped": r["dropped"],
                             "blazepose_passes_per_person_frame": round(r["blazepose_passes"], 3),
                             "latency_p50_ms": round(e2e["p50_ms"], 1), "latency_p95_ms": round(e2e["p95_ms"], 1), "target": target, "met": met})
                print(f"  {scenario} {mode}: {rows[-1]}", flush=True)
                for stage, v in r["summary"].items():
                    if stage != "capture→output":
                        stage_rows.append({"scenario": scenario, "mode": mode, "stage": stage, "p50_ms": round(v["p50_ms"], 1), "p95_ms": round(v["p95_ms"], 1)})
    t1 = ("| scenario | mode | backend | fps | frames dropped | capture→output p50 ms | p95 ms | BlazePose passes per person-frame | target | met |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---|---|\n") + "\n".join(
        f"| {r['scenario']} | {r['mode']} | {r['backend']} | {r['fps']} | {r['dropped']} | {r['latency_p50_ms']} | {r['latency_p95_ms']} | "
        f"{r['blazepose_passes_per_person_frame']:.3f} | {r['target']} | {r['met']} |" for r in rows)
    t2 = "| scenario | mode | stage | p50 ms | p95 ms |\n|---|---|---|---:|---:|\n" + "\n".join(
        f"| {r['scenario']} | {r['mode']} | {r['stage']} | {r['p50_ms']} | {r['p95_ms']} |" for r in stage_rows)
    note = (f"camera-like clips 640×480 at {FPS:g} fps made from the demo clip, {args.seconds:g} s each, first {args.warmup:g} s not measured; "
            "'met': keeping up with the 30 fps source allows 3% for the clip's own frame timing, other targets none; BlazePose passes "
            "per person-frame: every landmark pass of the run (followed people's and new candidates' on detection frames) over "
            "the person-frames given to the model, which reads each person's one pass and runs none of its own")
    report(args.out, "bench_live", "Live pipeline end to end", [t1, t2], environment(note), {"runs": rows, "stages": stage_rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
