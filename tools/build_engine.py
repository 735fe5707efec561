"""Build an engine bundle from a checkpoint: ONNX graphs, the body's faces, a manifest, and TensorRT
FP16 plans when TensorRT and a GPU are here, and INT8 graphs for CPUs with ``--int8`` (see DESIGN.md §5
and ``engines/``).

Usage::

    python tools/build_engine.py CHECKPOINT --out DIR [--precision fp16|fp32] [--max-persons N] [--onnx-only]
                                 [--flow-onnx FILE] [--timing-cache FILE]
                                 [--int8 [--calibrate SOURCE] [--calibration-samples N] [--min-cosine C]]

Without TensorRT (or without a GPU) the ONNX bundle is still written and one line says why no plan
was built; ONNX Runtime runs that bundle on the CPU. ``--int8`` adds an INT8 frame encoder calibrated on
the crops the live pipeline makes of SOURCE (default: the demo clip), refused if its outputs drift from
fp32 on held-out crops (``engines/build/quantize.py``); ONNX Runtime on a CPU then runs it by default
(``engine.precision=auto``). Ends with a table: graph, file, size, precision, time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="build_engine.py", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a DTS-VIBE checkpoint (dtsvibe-train's best.pt/last.pt, or the embedded default)")
    p.add_argument("--out", required=True, help="bundle folder to write (created; its graphs are replaced)")
    p.add_argument("--precision", choices=["fp16", "fp32"], default="fp16", help="TensorRT plan precision (default fp16)")
    p.add_argument("--max-persons", type=int, default=8, help="largest person batch the plans and the runtime's state accept")
    p.add_argument("--onnx-only", action="store_true", help="write the ONNX bundle only, no TensorRT plans")
    p.add_argument("--flow-onnx", help="the learned flow network's ONNX file (when the O-stream was trained on it)")
    p.add_argument("--timing-cache", help="TensorRT timing cache file, read and updated (default: DIR/timing.cache)")
    p.add_argument("--int8", action="store_true", help="also write an INT8 frame encoder for ONNX Runtime on CPUs")
    p.add_argument("--calibrate", default="demo", metavar="SOURCE",
                   help="clip, image folder or 'demo' whose person crops calibrate the INT8 graph (default demo)")
    p.add_argument("--calibration-samples", type=int, default=64, metavar="N",
                   help="person crops to collect; a quarter is held out for the check (default 64)")
    p.add_argument("--int8-streams", metavar="S,S", default=None,
                   help="the frame encoder's streams to run in INT8, comma-separated (default: all of them)")
    p.add_argument("--min-cosine", type=float, default=None, metavar="C",
                   help="refuse the INT8 graph when a held-out output's cosine similarity to fp32 is below C (default 0.85)")
    return p


def _table(rows: list[tuple[str, ...]]) -> str:
    head = ("graph", "file", "size", "precision", "time")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(tuple("-" * w for w in widths)), *(fmt(r) for r in rows)])


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} kB"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("build_engine", args.out)  # before any work: a path that cannot be written fails now, in one line
    if args.max_persons < 1:
        print("build_engine: error: --max-persons must be ≥ 1", file=sys.stderr)
        return 2
    if args.calibration_samples < 8:
        print("build_engine: error: --calibration-samples must be ≥ 8", file=sys.stderr)
        return 2
    if args.int8:  # a calibration source that cannot open fails now, not after the export
        from realtime.sources import SourceError, open_source

        try:
            open_source(args.calibrate, realtime=False).close()
        except SourceError as exc:
            print(f"build_engine: error: --calibrate: {exc}", file=sys.stderr)
            return 1
    from tqdm import tqdm

    from engines.build.onnx_export import export_bundle
    from engines.defaults import SHIPPED_BUNDLE, relative_checkpoint
    from engines.manifest import FileEntry, file_digest, write_manifest
    from engines.build.tensorrt_plan import PlanBuildError, build_plan
    from engines.gpu import tensorrt_unavailable
    from training.checkpoint import CheckpointError

    out = Path(args.out)
    bar = tqdm(total=3, desc="export", unit="graph")
    try:
        manifest, exported = export_bundle(
            args.checkpoint, out, max_persons=args.max_persons, flow_onnx=args.flow_onnx,
            progress=lambda msg: (bar.set_postfix_str(msg), bar.update(1 if msg.startswith("exported") else 0)),
        )
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        bar.close()
        print(f"build_engine: error: {exc}", file=sys.stderr)
        return 1
    bar.update(bar.total - bar.n)
    bar.close()
    if out.resolve() == SHIPPED_BUNDLE.resolve():  # the repository's own bundle: found from any clone
        write_manifest(out, relative_checkpoint(manifest, Path(args.checkpoint), out))
    rows = [(e.spec.name, e.spec.file, _size(out / e.spec.file), "fp32 (ONNX)", f"{e.seconds:.1f} s") for e in exported]
    why = "--onnx-only" if args.onnx_only else tensorrt_unavailable()
    if why:
        print(f"build_engine: no TensorRT plans: {why}")
    else:
        cache = Path(args.timing_cache) if args.timing_cache else out / "timing.cache"
        for name, spec in tqdm(manifest.graphs.items(), desc="TensorRT", unit="graph"):
            start = time.perf_counter()
            try:
                plan = build_plan(out / spec.file, out / f"{name}.plan", spec, args.max_persons, args.precision, cache,
                                  report=lambda msg: tqdm.write(f"  {name}: {msg}"))
            except PlanBuildError as exc:
                print(f"build_engine: error: {exc}", file=sys.stderr)
                return 1
            manifest.plans[name] = plan
            manifest.files[plan.file] = FileEntry((out / plan.file).stat().st_size, file_digest(out / plan.file))
            rows.append((name, plan.file, _size(out / plan.file), f"{args.precision} TensorRT {plan.tensorrt}",
                         f"{time.perf_counter() - start:.1f} s"))
        manifest.versions["tensorrt"] = next(iter(manifest.plans.values())).tensorrt
        manifest.versions["gpu"] = next(iter(manifest.plans.values())).gpu
        write_manifest(out, manifest)
    if args.int8:
        row = _int8(out, manifest, args)
        if row is None:
            return 1
        rows.append(row)
    print(_table(rows))
    print(f"bundle: {out} ({manifest.model_name}, crop {manifest.crop_size}, window {manifest.window}, "
          f"streams {'+'.join(manifest.streams)}, flow {manifest.flow_provider}, up to {manifest.max_persons} people)")
    return 0


def _int8(out: Path, manifest, args: argparse.Namespace) -> Optional[tuple[str, ...]]:
    """Calibrate and write the INT8 frame encoder; its table row, or None after printing why not."""
    from tqdm import tqdm

    from engines.build.quantize import DEFAULT_MIN_COSINE, QuantizationError, quantize_graph
    from realtime.calibration import frame_encoder_samples
    from realtime.sources import SourceError

    start = time.perf_counter()
    bar = tqdm(total=args.calibration_samples, desc=f"crops of {args.calibrate}", unit="crop")
    try:
        samples = frame_encoder_samples(args.calibrate, manifest, args.calibration_samples, flow_provider=manifest.flow_provider,
                                        progress=lambda n: bar.update(n - bar.n))
    except SourceError as exc:
        bar.close()
        print(f"build_engine: error: --calibrate: {exc}", file=sys.stderr)
        return None
    bar.close()
    try:
        q = quantize_graph(out, "frame_encoder", samples, calibration=f"{len(samples)} person crops of {args.calibrate}",
                           min_cosine=args.min_cosine if args.min_cosine is not None else DEFAULT_MIN_COSINE,
                           streams=args.int8_streams.split(",") if args.int8_streams else None, progress=tqdm.write)
    except QuantizationError as exc:
        print(f"build_engine: error: {exc}", file=sys.stderr)
        return None
    return (q.graph, q.file, _size(out / q.file), f"int8 {'+'.join(q.streams)} (ONNX Runtime CPU; cosine ≥ {min(q.cosine_min.values()):.3f})",
            f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
