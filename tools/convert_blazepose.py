#!/usr/bin/env python3
"""MediaPipe's BlazePose landmark model (``pose_landmark_full.tflite``) as ONNX, checked against LiteRT.

    python tools/convert_blazepose.py [--no-convert] [--media /work/shared/media] [--report docs/bench/blazepose_onnx.md]

1. Converts the ``.tflite`` that the mediapipe wheel ships with tf2onnx's TFLite reader (``tf2onnx.convert
   --tflite --opset 17``). tf2onnx needs TensorFlow, which the live app must not: it runs in a scratch venv
   outside the repo (``~/.cache/dtsvibe/tf2onnx-venv``, made and filled from PyPI on first use, ~1.3 GB).
   The model's float16 weights, which tf2onnx widens to float32, are stored back as float16 initializers
   each behind a ``Cast`` (ONNX Runtime and TensorRT fold the casts at load): the file halves (~6.5 MB)
   and gives bit-identical outputs to the float32 one (checked).
2. Parity: LiteRT and ONNX Runtime on real model inputs, i.e. frames of the shipped demo clip and of the
   shared clips cut by the tracker's own code (``PersonDetector`` regions and the ``next_roi`` that
   following uses, through ``LandmarkEstimator.input_tensor``): the largest absolute difference of every
   output. Landmarks (in MediaPipe's normalised units, x, y, z ÷ 256; visibility and presence after the
   sigmoid), pose score and world landmarks must agree within ``--tolerance`` (1e-3), or nothing is written
   and the exit status is 1. LiteRT's reference kernels against its XNNPACK path give the noise floor.
3. Speed: per-call latency of LiteRT (XNNPACK) and ONNX Runtime on this CPU, 1 and 2 threads, measured
   in interleaved rounds so that other load on the machine hits every runtime alike.

Writes the ONNX file (default ``realtime/detection/assets/pose_landmark_full.onnx``, where
``LandmarkEstimator(runtime="onnxruntime")`` looks) and the report (Markdown + JSON).

The person detector (``pose_detection.tflite``) is not converted: its weights are sparse (38 ``DENSIFY``
ops), which tf2onnx 1.17 has no handler for, and TensorFlow's interpreter crashes reading them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from realtime.detection.runtime import (
    CPU_LANDMARK_RUNTIME,
    LANDMARK_MODEL,
    LANDMARK_ONNX,
    OnnxModel,
    TFLiteModel,
    mediapipe_model,
)

DEFAULT_VENV = Path.home() / ".cache" / "dtsvibe" / "tf2onnx-venv"
#: tf2onnx 1.17 is tested on TensorFlow 2.13–2.15; TF 2.15 pins ml_dtypes 0.2/0.3, which onnx ≥ 1.17 outgrew.
CONVERTER_PINS = {
    (3, 10): ("tf2onnx==1.17.0", "tensorflow-cpu==2.15.1", "onnx==1.16.2", "numpy<2"),
    (3, 11): ("tf2onnx==1.17.0", "tensorflow-cpu==2.15.1", "onnx==1.16.2", "numpy<2"),
    (3, 12): ("tf2onnx==1.17.0", "tensorflow-cpu==2.16.2", "onnx==1.16.2", "numpy<2"),  # no TF 2.15 wheel
}
OPSET = 17
#: The landmark model's outputs, in the order both graphs give them (tflite and ONNX names agree).
OUTPUT_NAMES = ("Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4")
#: What parity compares: name → (what it is, whether ``--tolerance`` binds it). Landmarks are compared in
#: MediaPipe's own units (``pose_landmarks``: x, y, z divided by the 256-px input; visibility and presence
#: as probabilities); the raw tensor, in input pixels and logits, is reported too.
QUANTITIES = {
    "landmarks": ("landmarks x, y, z ÷ 256 (MediaPipe's normalised units), 39 × 3", True),
    "visibility": ("landmark visibility and presence (sigmoid), 39 × 2", True),
    "score": ("pose score (Identity_1)", True),
    "world": ("world landmarks, 39 × 3, metres (Identity_4)", True),
    "raw_landmarks": ("raw Identity: x, y, z in input px; visibility, presence logits", False),
    "heatmaps": ("heatmaps 64 × 64 × 39 (Identity_3)", False),
    "segmentation": ("segmentation logits 256 × 256 (Identity_2)", False),
}
SHARED_MEDIA = [ROOT.parent / "shared" / "media", Path("/work/shared/media")]
DEMO_CLIP = ROOT / "realtime" / "assets" / "demo.mp4"


# ----------------------------------------------------------------------------------------------- convert


def converter_python(venv: Path = DEFAULT_VENV) -> Path:
    """The scratch venv's Python with tf2onnx and TensorFlow, made and filled (pinned) when missing."""
    py = venv / "bin" / "python"
    if py.is_file() and subprocess.run([str(py), "-c", "import tf2onnx, tensorflow"], capture_output=True).returncode == 0:
        return py
    pins = CONVERTER_PINS.get(sys.version_info[:2])
    if pins is None:
        raise SystemExit(f"no tf2onnx/TensorFlow pins for Python {platform.python_version()} (3.10–3.12 have them)")
    print(f"making {venv} with {' '.join(pins)} (once; several minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *pins], check=True)
    return py


def fp16_weights(model, min_size: int = 16):
    """``model`` with every float32 initializer that float16 holds exactly stored as float16 behind a ``Cast``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    casts = []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(init)
        half = w.astype(np.float16)
        if w.size < min_size or not np.array_equal(half.astype(np.float32), w):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], name=f"{name}__cast", to=TensorProto.FLOAT))
    nodes = casts + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def same_outputs(a, b, seed: int = 0) -> bool:
    """Whether two ONNX models give bit-identical outputs on ONNX Runtime (CPU) for one random input."""
    import onnxruntime as ort

    runs = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]) for m in (a, b)]
    inp = runs[0].get_inputs()[0]
    x = np.random.default_rng(seed).random([int(d) for d in inp.shape], np.float32)
    return all(np.array_equal(u, v) for u, v in zip(*(r.run(None, {inp.name: x}) for r in runs)))


def convert(tflite: Path, out: Path, venv: Path = DEFAULT_VENV) -> dict:
    """``tflite`` → ``out`` (ONNX, fp16-stored weights, provenance in its metadata); returns the provenance."""
    import onnx

    py = converter_python(venv)
    tools = subprocess.run([str(py), "-c", "import tf2onnx, tensorflow as tf; print(tf2onnx.__version__, tf.__version__)"],
                           capture_output=True, text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    tf2onnx_version, tf_version = tools.stdout.split()[-2:]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        cmd = [str(py), "-m", "tf2onnx.convert", "--tflite", str(tflite), "--output", str(raw), "--opset", str(OPSET)]
        print("running", " ".join(cmd), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if done.returncode != 0:
            raise SystemExit(f"tf2onnx failed ({done.returncode}):\n{done.stderr[-3000:]}")
        model = onnx.load(str(raw))
        packed = fp16_weights(onnx.ModelProto.FromString(model.SerializeToString()))
    if not same_outputs(model, packed):
        raise SystemExit("the float16-stored weights change the outputs: not written")
    model = packed
    meta = {
        "source": f"mediapipe=={version('mediapipe')} mediapipe/{LANDMARK_MODEL} (Apache-2.0, Google LLC)",
        "source_sha256": hashlib.sha256(tflite.read_bytes()).hexdigest(),
        "converter": f"tf2onnx {tf2onnx_version} (--tflite, opset {OPSET}) on tensorflow-cpu {tf_version}; "
                     "float16 weights stored as float16 initializers + Cast (tools/convert_blazepose.py)",
        "license": "Apache-2.0",
    }
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = "MediaPipe BlazePose GHUM landmark model (full), converted from TFLite."
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return meta


# ---------------------------------------------------------------------------------------------- inputs


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over a video (BGR)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    frames = []
    for index in np.linspace(0, n - 1, count + 2)[1:-1].round().astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = cap.read()
        if ok:
            frames.append(frame)
    cap.release()
    return frames


def tracker_inputs(clips: Sequence[Path], per_clip: int = 2, max_persons: int = 2) -> list[tuple[str, np.ndarray]]:
    """What the tracker feeds the landmark model on these clips: for each of ``per_clip`` frames, each
    detected person's region (``Detection.roi``) and the region following it gives (``Landmarks.next_roi``),
    cut by ``LandmarkEstimator.input_tensor``; ``(label, (1, 256, 256, 3) float32)`` pairs."""
    from realtime.detection import LandmarkEstimator, PersonDetector

    detector, estimator = PersonDetector(max_persons=max_persons), LandmarkEstimator(runtime="litert")
    out = []
    for clip in clips:
        for k, frame in enumerate(clip_frames(clip, per_clip)):
            for p, det in enumerate(detector.detect(frame)):
                roi = det.roi()
                follow = estimator.estimate(frame, roi).next_roi()
                out.append((f"{clip.stem}:{k}:{p}:detected", estimator.input_tensor(frame, roi)))
                out.append((f"{clip.stem}:{k}:{p}:followed", estimator.input_tensor(frame, follow)))
    return out


def default_clips(media: Optional[Path]) -> list[Path]:
    """The shipped demo clip plus every ``*.mp4`` of the shared media folder (when there is one)."""
    folder = media or next((d for d in SHARED_MEDIA if d.is_dir()), None)
    return [DEMO_CLIP] + (sorted(folder.glob("*.mp4")) if folder and folder.is_dir() else [])


# ---------------------------------------------------------------------------------------------- checks


def quantities(outputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The compared quantities (:data:`QUANTITIES`) of one call's outputs (in :data:`OUTPUT_NAMES` order)."""
    out = dict(zip(OUTPUT_NAMES, (np.asarray(o, np.float64) for o in outputs)))
    raw = out["Identity"].reshape(39, 5)
    return {
        "landmarks": raw[:, :3] / 256.0,
        "visibility": 1.0 / (1.0 + np.exp(-raw[:, 3:])),
        "score": out["Identity_1"].reshape(-1),
        "world": out["Identity_4"].reshape(39, 3),
        "raw_landmarks": raw,
        "heatmaps": out["Identity_3"].reshape(64, 64, 39),
        "segmentation": out["Identity_2"].reshape(256, 256),
    }


def parity(reference: Callable, candidate: Callable, inputs: Sequence[np.ndarray]) -> dict[str, dict]:
    """Per quantity: largest and mean absolute difference over ``inputs``, and the largest reference magnitude."""
    worst = {n: {"max_abs": 0.0, "mean_abs": 0.0, "max_ref": 0.0} for n in QUANTITIES}
    for x in inputs:
        a, b = quantities(reference(x)), quantities(candidate(x))
        for name, w in worst.items():
            d = np.abs(a[name] - b[name])
            w["max_abs"] = max(w["max_abs"], float(d.max()))
            w["mean_abs"] += float(d.mean()) / len(inputs)
            w["max_ref"] = max(w["max_ref"], float(np.abs(a[name]).max()))
    return worst


def within(checks: dict[str, dict], tolerance: float) -> bool:
    """Whether every bound quantity agrees within ``tolerance``."""
    return all(checks[n]["max_abs"] <= tolerance for n, (_, bound) in QUANTITIES.items() if bound)


class ReferenceKernels:
    """LiteRT on its built-in reference kernels (no XNNPACK): how far LiteRT is from itself, the noise floor."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self._it = Interpreter(model_path=str(path), num_threads=1,
                               experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        self._out = [o["index"] for o in self._it.get_output_details()]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        self._it.set_tensor(self._in, np.ascontiguousarray(x, np.float32))
        self._it.invoke()
        return [self._it.get_tensor(i).copy() for i in self._out]


def interleaved_latency(runners: dict, x: np.ndarray, rounds: int = 20, calls: int = 10, warmup: int = 5) -> dict:
    """Per runner, taking turns ``calls`` at a time for ``rounds``: wall-clock ms per call (median, 90th
    percentile, best) and the process's CPU ms per call (median; other load on the machine barely moves it)."""
    for run in runners.values():
        for _ in range(warmup):
            run(x)
    wall: dict = {k: [] for k in runners}
    cpu: dict = {k: [] for k in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            for _ in range(calls):
                c0, t0 = time.process_time(), time.perf_counter()
                run(x)
                wall[name].append((time.perf_counter() - t0) * 1e3)
                cpu[name].append((time.process_time() - c0) * 1e3)
    return {k: {"median_ms": float(np.median(v)), "p90_ms": float(np.percentile(v, 90)), "min_ms": float(np.min(v)),
                "cpu_ms": float(np.median(cpu[k])), "calls": len(v)} for k, v in wall.items()}


def timed(make: Callable):
    t0 = time.perf_counter()
    obj = make()
    return obj, (time.perf_counter() - t0) * 1e3


# ---------------------------------------------------------------------------------------------- report


def markdown(result: dict) -> str:
    lines = [
        "# BlazePose landmark model: LiteRT vs ONNX",
        "",
        f"Source: {result['source']}. Converted: {result['converter']}; the float16-stored file gives bit-identical "
        "outputs to tf2onnx's float32 one (checked on every conversion).",
        "",
        f"Command: `{result['command']}`",
        "",
        f"## Parity: ONNX Runtime (CPU, 1 thread) against LiteRT (XNNPACK, 1 thread), {result['inputs']} real inputs",
        "",
        f"Inputs: {result['input_note']}. Tolerance {result['tolerance']:g} on the quantities marked *bound*. "
        "The last difference column is LiteRT against itself (its reference kernels against XNNPACK, the "
        "tracker's path): the float32 noise floor of this model.",
        "",
        "| quantity | bound | ONNX Runtime: max abs diff | mean abs diff | LiteRT ref. kernels: max abs diff | max abs value |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, (what, bound) in QUANTITIES.items():
        p, f = result["parity"][name], result["noise_floor"][name]
        lines.append(f"| {what} | {'yes' if bound else 'no'} | {p['max_abs']:.2e} | {p['mean_abs']:.2e} | {f['max_abs']:.2e} | {p['max_ref']:.4g} |")
    lines += ["", f"Verdict: **{'pass' if result['pass'] else 'FAIL'}**.", ""]
    if result.get("speed"):
        lines += [
            f"## Speed on this CPU ({result['cpu']})",
            "",
            f"Per call, one 256² input, {result['speed_note']}.",
            "",
            "| runtime | threads | median ms | p90 ms | best ms | CPU ms per call | session load ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label, s in result["speed"].items():
            lines.append(f"| {s['label']} | {s['threads']} | {s['median_ms']:.2f} | {s['p90_ms']:.2f} | {s['min_ms']:.2f} | {s['cpu_ms']:.2f} | {s['load_ms']:.0f} |")
        lines += ["", result["decision"], ""]
    lines += ["## Notes", "", *[f"* {n}" for n in result["notes"]], ""]
    return "\n".join(lines)


def decide(speed: dict) -> str:
    """Which runtime is faster on this CPU at 1 and 2 threads, by median wall time and by CPU time per call,
    and whether ``CPU_LANDMARK_RUNTIME`` agrees with the 1-thread winner."""
    parts, winners = [], set()
    for threads in (1, 2):
        for metric, label in (("median_ms", "median"), ("cpu_ms", "CPU")):
            rows = {s["runtime"]: s[metric] for s in speed.values() if s["threads"] == threads}
            best, other = min(rows, key=rows.get), max(rows, key=rows.get)
            if threads == 1:
                winners.add(best)
            parts.append(f"{threads} thread{'s' if threads > 1 else ''}, {label}: {best} ({rows[best]:.2f} vs {rows[other]:.2f} ms)")
    if len(winners) == 1:
        (one,) = winners
        agree = "agrees" if one == CPU_LANDMARK_RUNTIME else f"DISAGREES: set it to {one!r}"
    else:
        agree = "stands: wall time and CPU time disagree at 1 thread, so neither runtime is clearly faster"
    return (f"Faster on this CPU: {'; '.join(parts)}. The live tracker runs 1 thread; "
            f"`realtime.detection.runtime.CPU_LANDMARK_RUNTIME = {CPU_LANDMARK_RUNTIME!r}` (what `auto` takes on a CPU) {agree}. "
            "On a GPU, `auto` takes ONNX Runtime (CUDA provider), and TensorRT can build the same ONNX file; LiteRT has no GPU path here.")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=LANDMARK_ONNX, help="the ONNX file to write (default: %(default)s)")
    ap.add_argument("--no-convert", action="store_true", help="check and time the existing --out file only")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="scratch venv with tf2onnx and TensorFlow")
    ap.add_argument("--media", type=Path, default=None, help="folder of *.mp4 clips (default: the shared media)")
    ap.add_argument("--per-clip", type=int, default=2, help="frames per clip for the parity check")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--rounds", type=int, default=20, help="timing rounds (each runner 10 calls a round); 0 = no timing")
    ap.add_argument("--report", type=Path, default=ROOT / "docs" / "bench" / "blazepose_onnx.md")
    args = ap.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("convert_blazepose", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line

    tflite = mediapipe_model(LANDMARK_MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        if args.no_convert:
            candidate = args.out
            import onnx

            meta = {p.key: p.value for p in onnx.load(str(candidate), load_external_data=False).metadata_props}
        else:
            candidate = Path(tmp) / "pose_landmark_full.onnx"
            meta = convert(tflite, candidate, args.venv)
        if meta.get("source_sha256") != hashlib.sha256(tflite.read_bytes()).hexdigest():
            print(f"warning: {candidate} was not converted from the installed {tflite}", file=sys.stderr)

        clips = default_clips(args.media)
        inputs = tracker_inputs(clips, args.per_clip)
        lite, onnx_cpu = TFLiteModel(tflite, 1), OnnxModel(candidate, 1, device="cpu")
        names = tuple(onnx_cpu.output_names)
        assert names == OUTPUT_NAMES, names
        xs = [x for _, x in inputs]
        checks = parity(lite, onnx_cpu, xs)
        ok = within(checks, args.tolerance)
        result = {
            "source": meta.get("source", "?"), "converter": meta.get("converter", "?"),
            "command": " ".join(["python tools/convert_blazepose.py", *(argv if argv is not None else sys.argv[1:])]),
            "inputs": len(inputs), "tolerance": args.tolerance, "parity": checks, "pass": ok,
            "noise_floor": parity(lite, ReferenceKernels(tflite), xs),
            "input_note": f"{args.per_clip} frames of each of {len(clips)} clips ({', '.join(c.name for c in clips)}), "
                          "each detected person's region and the region following it gives, cut by the tracker's code",
            "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "notes": [
                "The raw landmark tensor holds x, y, z in pixels of the 256² input (|z| up to a few hundred): "
                "float32 rounding alone moves it by ~1e-3 there, as LiteRT's two kernel sets show; the bound "
                "applies in MediaPipe's normalised units (÷ 256), where the tracker's 1e-3 means 1/1000 of the region.",
                "The detector (`pose_detection.tflite`) stays on LiteRT: its weights are sparse (`DENSIFY` ops), which "
                "tf2onnx 1.17 cannot convert (TensorFlow 2.15's interpreter crashes reading them).",
                "Wall-clock medians include waiting for a core when the machine is busy (load average above); the best "
                "call and the CPU time per call are the figures closest to an idle machine. Session load: the first "
                "ONNX Runtime session also pays for the library's start-up, and folds the weights' casts.",
                f"onnxruntime {version('onnxruntime')}, ai-edge-litert {version('ai-edge-litert')}, numpy {np.__version__}.",
            ],
        }
        for name, (what, bound) in QUANTITIES.items():
            c, f = checks[name], result["noise_floor"][name]
            print(f"{what:66s} max |Δ| {c['max_abs']:.2e}  mean {c['mean_abs']:.2e}  (LiteRT self {f['max_abs']:.2e}, "
                  f"max |x| {c['max_ref']:.4g})" + ("  > tolerance" if bound and c["max_abs"] > args.tolerance else ""))
        if not ok:
            print(f"parity FAILED on {len(inputs)} inputs: nothing written", file=sys.stderr)
            return 1

        if args.rounds > 0:
            x = inputs[0][1]
            makers = {("LiteRT (XNNPACK)", t): (lambda t=t: TFLiteModel(tflite, t)) for t in (1, 2)}
            makers.update({("ONNX Runtime (CPU EP)", t): (lambda t=t: OnnxModel(candidate, t, device="cpu")) for t in (1, 2)})
            runners, loads = {}, {}
            for key, make in makers.items():
                runners[key], loads[key] = timed(make)
            load = os.getloadavg()[0]
            speed = interleaved_latency(runners, x, rounds=args.rounds)
            result["speed"] = {f"{r} {t}": {"runtime": "litert" if r.startswith("LiteRT") else "onnxruntime",
                                            "label": r, "threads": t, "load_ms": loads[(r, t)], **speed[(r, t)]}
                               for (r, t) in runners}
            result["speed_note"] = (f"{args.rounds} rounds × 10 calls per runtime, taking turns; load average "
                                    f"{load:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while measuring")
            result["decision"] = decide(result["speed"])
            for s in result["speed"].values():
                print(f"{s['runtime']:12s} {s['threads']} thread(s): median {s['median_ms']:.2f} ms, p90 {s['p90_ms']:.2f}, "
                      f"best {s['min_ms']:.2f}, CPU {s['cpu_ms']:.2f} ms per call")
            print(result["decision"])

        if not args.no_convert:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(candidate, args.out)
            print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(markdown(result))
        args.report.with_suffix(".json").write_text(json.dumps(result, indent=2))
        print(f"wrote {args.report} and {args.report.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
