"""Console script ``dtsvibe-live``: stream a camera, RTSP feed, video file, image folder or the demo clip
through detection, tracking, crops and flow, and the engine runtime; write results with ``--out``.

    dtsvibe-live --source demo --out out/live --stats          # the shipped clip, results + per-second stats
    dtsvibe-live --source 0                                    # webcam 0
    dtsvibe-live --source rtsp://camera/stream tracking.max_persons=2
    dtsvibe-live --source clip.mp4 --no-realtime --out out/clip --view both --record
    dtsvibe-live --source 0 --kiosk --publish ws://0.0.0.0:8765      # a kiosk that also streams the bodies out

Every ``configs/live`` key can be overridden as ``key.sub=value``. With a display the window shows the
3D view, the overlay or both (``--view``); without one (or ``--headless``) the same images are rendered
offscreen for ``--record``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from training.config import ConfigError

from .config import LiveConfig, load_live_config
from .graph import build_pipeline

PROG = "dtsvibe-live"


def _positive(text: str) -> int:
    """An argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="default", help="live config: a name under configs/live/ or a YAML path")
    p.add_argument("--source", help="0 (webcam), rtsp://… or http://…, a video file, an image folder, or demo")
    p.add_argument("--out", help="folder for per-track results (track_<id>.bin, layout.json) and index.jsonl")
    p.add_argument("--view", choices=["3d", "overlay", "both", "none"], help="what the window shows (view.view)")
    p.add_argument("--headless", action="store_true", default=None, help="never open a window (view.headless)")
    p.add_argument("--record", nargs="?", const="", metavar="MP4",
                   help="write what the window shows to MP4 (headless too); without a path: <--out>/record.mp4")
    p.add_argument("--kiosk", action="store_true", default=None, help="full screen, idle screen, reconnecting, self-healing (view.kiosk)")
    p.add_argument("--publish", metavar="URLS", help="stream the bodies out: ws://HOST:PORT (JSON) and/or osc://HOST:PORT (VMC), comma-separated")
    p.add_argument("--realtime", dest="realtime", action="store_true", default=None, help="play files at their own frame rate (default)")
    p.add_argument("--no-realtime", dest="realtime", action="store_false", help="read files as fast as possible, losing no frame")
    p.add_argument("--loop", action="store_true", default=None, help="play video files again and again (input.loop; on in kiosk mode)")
    p.add_argument("--max-persons", type=int, help="track at most this many people (tracking.max_persons)")
    p.add_argument("--bundle", help="engine bundle folder (tools/build_engine.py); default: the embedded checkpoint's")
    p.add_argument("--backend", choices=["auto", "tensorrt", "onnxruntime", "torch"], help="engine runtime (engine.backend)")
    p.add_argument("--precision", choices=["auto", "fp32", "int8"],
                   help="ONNX Runtime: auto runs a bundle's INT8 graphs on a CPU (engine.precision)")
    p.add_argument("--stats", action="store_true", default=None, help="log per-stage fps and p50/p95 latency once a second")
    p.add_argument("--max-frames", type=_positive, help="stop after this many frames")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config keys, e.g. tracking.max_persons=2")
    return p


def _overrides(args: argparse.Namespace) -> list[str]:
    pairs = {"input.source": args.source, "input.realtime": args.realtime, "input.loop": args.loop, "tracking.max_persons": args.max_persons,
             "engine.bundle": args.bundle, "engine.backend": args.backend, "engine.precision": args.precision, "out_dir": args.out, "stats": args.stats,
             "view.view": args.view, "view.headless": args.headless, "view.kiosk": args.kiosk, "publish": args.publish}
    if args.record is not None:
        if not args.record and not args.out:
            raise ConfigError("--record needs a path (--record out.mp4) or --out DIR (then DIR/record.mp4)")
        pairs["view.record"] = args.record or str(Path(args.out) / "record.mp4")
    return list(args.overrides) + [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in pairs.items() if v is not None]


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    log = lambda msg: print(f"{PROG}: {msg}", flush=True)  # noqa: E731
    from engines import BundleError

    from .sources import SourceError

    from .recording import OutputPathError, check_writable, set_aside_previous_run

    try:
        cfg = load_live_config(args.config, _overrides(args))
        if cfg.out_dir:  # before anything runs: a path that cannot be written fails now, in one line
            check_writable(cfg.out_dir, f"--out {cfg.out_dir}")
        if cfg.view.record:
            check_writable(Path(cfg.view.record).parent, f"--record {cfg.view.record}")
        if cfg.publish:
            from .publish import check_publish

            try:
                check_publish(cfg.publish)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if cfg.out_dir and (moved := set_aside_previous_run(cfg.out_dir)) is not None:
            log(f"--out {cfg.out_dir} held a previous run's results: moved to {moved}")
        if cfg.view.kiosk:
            return _kiosk(cfg, args.max_frames, log)
        pipeline, _ = build_pipeline(cfg, args.max_frames, log)
    except (ConfigError, SourceError, BundleError, OutputPathError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    log(f"source {cfg.input.source!r} ({pipeline.source.kind}, {'live' if pipeline.source.live else 'every frame'}); Ctrl-C stops")
    try:
        pipeline.run(stats_every=1.0 if cfg.stats else None, log=log)
    except SourceError as exc:  # what ran before the source failed is kept; the error is the last line
        if pipeline.stats.frames:
            print(pipeline.stats.table())
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(pipeline.stats.table())
    if pipeline.source.skipped:
        log(f"{pipeline.source.skipped} undecodable frame(s) skipped")
    if cfg.out_dir:
        log(f"results in {cfg.out_dir} (index.jsonl, track_<id>.bin, layout.json)")
    return 0


def _kiosk(cfg: LiveConfig, max_frames: Optional[int], log) -> int:
    """Run under the kiosk supervisor until Ctrl-C: files loop, sources reconnect, stalls restart."""
    from engines import BundleError

    from .kiosk import Supervisor

    sup = Supervisor(lambda: build_pipeline(cfg, max_frames, log)[0], stall_s=cfg.pipeline.watchdog_s,
                     backoff_s=(cfg.input.reconnect_min_s, cfg.input.reconnect_max_s), log=log,
                     fatal=(ConfigError, BundleError))
    log(f"kiosk on {cfg.input.source!r}; Ctrl-C stops")
    try:
        sup.run()
    except KeyboardInterrupt:
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
