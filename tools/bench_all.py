#!/usr/bin/env python3
"""The performance report: every benchmark of the project in one run on this machine, side by side with the
alternatives, written as Markdown and a plot.

    python tools/bench_all.py [--out docs/bench] [--quick]

Runs, in order (each also usable alone):

1. ``tools/bench_live.py`` — the live pipeline end to end, lite and paper configs: fps, capture→output
   latency, per-stage p50/p95 (the plot ``latency_per_stage.png``);
2. ``tools/bench_engines.py`` — each engine graph in ONNX Runtime vs PyTorch;
3. ``tools/bench_model.py`` — the streaming step (one new frame against the ring buffers) vs the whole
   T-frame window through the temporal part again, as a sliding-window model must per frame;
4. ``tools/bench_flow.py`` — the optical-flow providers' accuracy and cost (the learned network too when
   ``out/flow/flow_net.pt`` exists);
5. MediaPipe's cost: our TFLite detector and landmark passes, and MediaPipe's own Pose solution on CPU;
6. TensorRT FP16: timed where ``tensorrt`` imports and a GPU is present; otherwise the report says why not;
7. ``tools/bench_int8.py`` — the INT8 frame encoder (the CPU's counterpart of the FP16 plans): its speed-up
   and how far its outputs are from fp32, per clip;
8. the last kept soak run (``<out>/soak.md``, copied from ``out/soak/soak.md`` of ``pytest tests/test_soak.py --soak``;
   twenty minutes is too long to repeat here).

``report.md`` gathers the tables exactly as the commands printed them, with the literature anchors
(VIBE, MediaPipe) labelled as such where they cannot run here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from tools.bench_report import environment, latencies

ANCHORS = """| alternative | figure | where it comes from |
|---|---|---|
| VIBE (Kocabas et al., CVPR 2020), the paper's baseline | about 29 fps including tracking, on one RTX 2080 Ti, over 16-frame windows (it looks 8 frames ahead, so its output lags the camera by at least 8 frames ≈ 270 ms at 30 fps) | literature (VIBE's paper and README); it needs a CUDA GPU and cannot run here |
| DTS-VIBE (the paper) | no speed reported; two ResNet-50 streams plus transformers make it heavier than VIBE | literature |
| MediaPipe Pose (BlazePose GHUM, `model_complexity=1`) on this CPU | see section 5 (measured here) | measured |
"""


def standing(out: Path, mp_pose_ms: float | None) -> str:
    """Our measured figures next to the anchors, computed from this run's JSON (so they match the tables)."""
    runs = {(r["scenario"], r["mode"]): r for r in json.loads((out / "live" / "bench_live.json").read_text())["rows"]["runs"]}
    engines = json.loads((out / "engines" / "bench_engines.json").read_text())["rows"]
    lines = []
    lite, paper, three = runs.get(("lite-1", "live")), runs.get(("paper-1", "live")), runs.get(("lite-3", "live"))
    paper8 = runs.get(("paper-1-int8", "live"))
    if lite:
        lines.append(f"- **Ours, lite, one person, this 2-core CPU, no GPU:** {lite['fps']} fps delivered from a 30 fps camera-like "
                     f"source, capture→output {lite['latency_p50_ms']} ms p50 (causal: no look-ahead) — against VIBE's ~29 fps on "
                     "a GPU with at least 8 frames of look-ahead.")
    if three:
        lines.append(f"- **Ours, lite, three people:** {three['fps']} fps, {three['latency_p50_ms']} ms p50.")
    if paper:
        enc = next((r["median_ms"] for r in engines if r["config"] == "paper" and r["graph"] == "frame_encoder"
                    and r["batch"] == 1 and r["backend"].startswith("onnxruntime")), None)
        lines.append(f"- **Ours, paper config (two ResNet-50 streams at 224²), one person:** {paper['fps']} fps, "
                     f"{paper['latency_p50_ms']} ms p50. Its frame encoder alone takes {enc} ms in ONNX Runtime here, i.e. "
                     f"~{enc / 2:.0f} ms per ResNet-50 (the live-app issue planned with ~19 ms), which caps the pipeline near 10 fps "
                     "on these two cores; on a GPU with TensorRT FP16 this is the part that gets fast.")
    if paper8:
        lines.append(f"- **Ours, paper config with the INT8 frame encoder** (`build_engine.py --int8`, the CPU's counterpart of "
                     f"the FP16 plans): {paper8['fps']} fps, {paper8['latency_p50_ms']} ms p50; what INT8 changes in the "
                     "outputs is in section 7.")
    if mp_pose_ms:
        lines.append(f"- **MediaPipe's own Pose** takes {mp_pose_ms:.1f} ms per frame for one person here (2D/3D landmarks only). "
                     "The lite pipeline adds the whole body mesh, β and the camera on top and still follows a 30 fps camera, "
                     "because the stages run on their own threads and the detector runs every 10th frame.")
    return "\n".join(lines)


def run_tool(args: list[str], log: Path) -> str:
    """Run a benchmark tool, echo and return its output (the report quotes what it printed)."""
    print(f"$ python {' '.join(args)}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    out = proc.stdout + (f"\n{proc.stderr}" if proc.returncode else "")
    log.write_text(out)
    print(out[-4000:], flush=True)
    if proc.returncode:
        raise SystemExit(f"bench_all: {args[0]} failed (exit {proc.returncode}); its output is in {log}")
    print(f"({time.monotonic() - t0:.0f} s)", flush=True)
    return out


def tables_of(md: Path) -> str:
    """The tables and notes of a tool's Markdown output, without its title."""
    lines = md.read_text().splitlines()
    return "\n".join(lines[1:]).strip() if lines and lines[0].startswith("# ") else "\n".join(lines)


def mediapipe_cost(repeats: int) -> tuple[str, float | None]:
    import cv2

    from realtime.detection import LandmarkEstimator, PersonDetector
    from realtime.sources import DEMO_CLIP

    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = [cap.read()[1] for _ in range(60)]
    cap.release()
    det, est = PersonDetector(), LandmarkEstimator()
    roi = det.detect(frames[0])[0].roi()
    i = iter(range(10**9))
    rows = ["| what (640×360 demo frames, 1 thread) | ms p50 | ms p95 |", "|---|---:|---:|"]
    for label, fn in {
        "BlazePose detector (`pose_detection.tflite`), ours": lambda: det.detect(frames[next(i) % 60]),
        "landmarks on one person (`pose_landmark_full.tflite`), ours": lambda: est.estimate(frames[next(i) % 60], roi),
    }.items():
        p50, p95 = latencies(fn, repeats)
        rows.append(f"| {label} | {p50:.1f} | {p95:.1f} |")
    try:
        import mediapipe as mp

        pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
        rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
        p50, p95 = latencies(lambda: pose.process(rgb[next(i) % 60]), repeats)
        pose.close()
        rows.append(f"| MediaPipe's own Pose solution (one person, tracking between frames), the reference | {p50:.1f} | {p95:.1f} |")
        return "\n".join(rows), p50
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        rows.append(f"| MediaPipe's own Pose solution | – | – ({str(exc).splitlines()[0]}) |")
    return "\n".join(rows), None


def tensorrt_line() -> str:
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return (f"**TensorRT FP16: skipped** — `import tensorrt` fails here ({exc}); this machine has no NVIDIA GPU. "
                "On a GPU machine with `pip install -e .[trt]`, this same command builds the FP16 plans and times them "
                "next to ONNX Runtime in section 2. What ran on the one GPU machine lent so far (an H200 without TensorRT, "
                "which it could not install) is in [gpu_check.md](gpu_check.md).")
    return "TensorRT imports here: its FP16 plans are timed next to ONNX Runtime in section 2 (`tools/bench_engines.py`)."


def plot_stages(live_json: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = json.loads(live_json.read_text())["rows"]["stages"]
    runs = [(r["scenario"], r["mode"]) for r in stages]
    runs = list(dict.fromkeys(runs))
    names = ["capture", "detect+track", "crop+flow", "inference", "outputs"]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(runs) + 1.5))
    for y, run in enumerate(runs):
        left = 0.0
        for k, name in enumerate(names):
            v = next((r["p50_ms"] for r in stages if (r["scenario"], r["mode"]) == run and r["stage"] == name), 0.0)
            ax.barh(y, v, left=left, color=plt.cm.tab10(k), label=name if y == 0 else None)
            left += v
    ax.set_yticks(range(len(runs)), [f"{s} ({m})" for s, m in runs])
    ax.invert_yaxis()
    ax.set_xlabel("p50 latency per frame, ms (each stage runs on its own thread)")
    ax.set_title("Live pipeline: latency per stage")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--quick", action="store_true", help="shorter runs (for a smoke test of the command)")
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("bench_all", args.out)  # before any work: a path that cannot be written fails now, in one line
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reps = 10 if args.quick else 30
    sections = []
    started = time.strftime("%Y-%m-%d %H:%M")

    run_tool(["tools/bench_live.py", "--out", str(out / "live"), *(["--seconds", "4", "--warmup", "1"] if args.quick else [])],
             out / "live.log")
    plot_stages(out / "live" / "bench_live.json", out / "latency_per_stage.png")
    sections.append(("1. The live pipeline end to end (`tools/bench_live.py`)",
                     tables_of(out / "live" / "bench_live.md") + "\n\n![latency per stage](latency_per_stage.png)"))

    run_tool(["tools/bench_engines.py", "--out", str(out / "engines"), "--repeats", str(reps)], out / "engines.log")
    sections.append(("2. ONNX Runtime vs PyTorch, per engine graph (`tools/bench_engines.py`)", tables_of(out / "engines" / "bench_engines.md")))

    run_tool(["tools/bench_model.py", "--out", str(out / "model"), "--repeats", str(reps)], out / "model.log")
    sections.append(("3. Streaming step vs recomputing the window, and the network's cost (`tools/bench_model.py`, PyTorch)",
                     tables_of(out / "model" / "bench_model.md")))

    flow_args = ["tools/bench_flow.py", "--out", str(out / "flow"), "--clips", "4" if args.quick else "8", "--reps", str(reps)]
    if not (ROOT / "out/flow/flow_net.pt").is_file():
        flow_args += ["--checkpoint", "", "--onnx", "", "--onnx-128", ""]
    run_tool(flow_args, out / "flow.log")
    sections.append(("4. Optical flow providers (`tools/bench_flow.py`)", tables_of(out / "flow.md")))

    table, mp_pose_ms = mediapipe_cost(reps)
    print(table, flush=True)
    sections.append(("5. MediaPipe's cost", table))

    sections.append(("6. TensorRT FP16", tensorrt_line()))
    run_tool(["tools/bench_int8.py", "--out", str(out / "int8"), *(["--frames", "20"] if args.quick else [])], out / "int8.log")
    sections.append(("7. INT8 frame encoder against fp32 on the CPU (`tools/bench_int8.py`)", tables_of(out / "int8" / "bench_int8.md")))
    soak = out / "soak.md"
    sections.append(("8. Soak (the opt-in `pytest tests/test_soak.py --soak`, last kept run)",
                     tables_of(soak) if soak.is_file() else
                     f"No soak result in {soak}: run `pytest tests/test_soak.py --soak` and copy out/soak/soak.md there."))
    verdict = standing(out, mp_pose_ms)
    print(verdict, flush=True)
    sections.append(("Where we stand against the alternatives", ANCHORS + "\n" + verdict))
    body = "\n\n".join(f"## {title}\n\n{text}" for title, text in sections)
    (out / "report.md").write_text(
        f"# Performance report\n\n`python tools/bench_all.py --out {args.out}{' --quick' if args.quick else ''}`, started {started}; "
        f"{environment()}.\nEvery table below is what the command printed.\n\n{body}\n")
    print(f"wrote {out / 'report.md'} and {out / 'latency_per_stage.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
