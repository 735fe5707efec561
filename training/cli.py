"""Console scripts ``dtsvibe-train`` and ``dtsvibe-eval``.

::

    dtsvibe-train --config smoke [KEY=VALUE …] [--resume runs/smoke/last.pt] [--out DIR] [--max-steps N]
    torchrun --nproc_per_node=4 -m training.cli --config paper         # DDP, one process per GPU
    dtsvibe-eval runs/smoke/best.pt [more.pt …] [--data-root data] [--out DIR] [--generated 16]
    dtsvibe-eval --frames TEST.npz --images DIR [--bundle DIR]         # still frames: realtime.frames_eval

Every problem the user can fix (a bad config key, a missing data folder, a checkpoint for another
model) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .config import ConfigError, load_train_config
from .paths import OutputPathError, check_writable

TRAIN_HELP = "Train DTS-VIBE: the main phase (L3D, L2D, Lsmpl, Ladv + motion discriminator), then the flow-loss refinement."
EVAL_HELP = "Evaluate checkpoints (PA-MPJPE, MPJPE, PVE, Accel) on VIBE-format test sets and a generated benchmark."
EVAL_FRAMES_HELP = ("Still test frames (SPIN/mmpose .npz) through the live path instead: "
                    "dtsvibe-eval --frames TEST.npz --images DIR [--bundle DIR] (options: dtsvibe-eval --frames --help).")


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dtsvibe-train", description=TRAIN_HELP)
    p.add_argument("--config", default="paper", help="training config: a name under configs/train/ (paper, lite, smoke) or a YAML path (default: paper)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override single config keys, e.g. batch_size=8 'model_overrides=[input.seq_len=8]'")
    p.add_argument("--resume", metavar="PATH", help="continue exactly from a checkpoint written by this command (last.pt)")
    p.add_argument("--out", metavar="DIR", help="folder for checkpoints (last.pt, best.pt) and TensorBoard logs (default: output_dir of the config)")
    p.add_argument("--init", metavar="PATH", help="start from this checkpoint's network weights (fine-tuning: new optimizers and schedule)")
    p.add_argument("--force-flow-provider", action="store_true", help="with --resume/--init: go on even if streams.flow.provider differs from the checkpoint's")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after global step N (writes last.pt; resume later with --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dtsvibe-eval", description=EVAL_HELP, epilog=EVAL_FRAMES_HELP)
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="checkpoint(s) written by dtsvibe-train; several give several table rows")
    p.add_argument("--data-root", metavar="DIR", help="folder with the VIBE test db files (3dpw_test_db.pt, mpii3d_val_db.pt, h36m_test_db.pt); default: the checkpoint's data_root")
    p.add_argument("--datasets", default="3dpw,mpii3d,h36m", help="comma-separated test sets to look for (default: 3dpw,mpii3d,h36m)")
    p.add_argument("--generated", type=int, default=16, metavar="N", help="clips of the held-out generated benchmark (needs training.synthetic; 0 = none; default 16)")
    p.add_argument("--out", metavar="DIR", help="where results.json, results.md and accel.png go (default: <checkpoint folder>/eval)")
    p.add_argument("--flow-provider", choices=["learned", "dis", "farneback"], help="the flow provider that feeds the O-stream (must be the one it was trained with)")
    p.add_argument("--force-flow-provider", action="store_true", help="run with --flow-provider even if the checkpoint was trained with another")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--per-frame", action="store_true", help="also evaluate the first checkpoint per frame (T=1: each frame alone), a row '<name> (T=1)'; "
                   "with a BlazePose V-stream also '<name> (T=1, raw landmarks)', without the live landmark filter before it")
    p.add_argument("--pose-filter", action="store_true", help="also evaluate the first checkpoint followed by the live app's body filter (training.pose_smoothing), a row '<name> + body filter'")
    p.add_argument("--untrained", action="store_true", help="also evaluate the first checkpoint's network with random weights, a row '<name> untrained'")
    return p


def _fail(prog: str, exc: BaseException) -> int:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    msg = lines[0] if lines else type(exc).__name__
    if len(lines) > 1 and "Original Traceback" in str(exc):  # re-raised from a DataLoader worker: its message is last
        msg = lines[-1].split(": ", 1)[-1]
    print(f"{prog}: {msg}", file=sys.stderr)
    return 2


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    """``dtsvibe-train``: returns the exit status."""
    from .batches import BatchError, provider_flow_fn
    from .checkpoint import CheckpointError
    from .synthetic.dataset import ShardError

    prog = "dtsvibe-train"
    args = _train_parser().parse_intermixed_args(argv)
    try:
        cfg = load_train_config(args.config, args.overrides)
    except ConfigError as exc:
        return _fail(prog, exc)
    from .trainer import Trainer, init_distributed, resolve_model_config

    try:
        # before any data is read: a run that cannot save its checkpoints fails now, in one line
        check_writable(args.out or cfg.output_dir, f"--out {args.out}" if args.out else f"output_dir {cfg.output_dir}")
        model_cfg = resolve_model_config(cfg)
        dist_info = init_distributed(cfg.device)
        # Crops without stored flow: the O-stream's configured provider computes it (training.flow).
        crops_flow = cfg.data_mode == "crops" and model_cfg.streams.flow.enabled
        trainer = Trainer(
            cfg, model_cfg, out_dir=args.out, dist_info=dist_info, progress_bar=not args.no_progress,
            flow_fn=provider_flow_fn(model_cfg.streams.flow.provider) if crops_flow else None,
            log=lambda m: print(f"{prog}: {m}", flush=True),
        )
        if args.resume and args.init:
            raise ConfigError("--resume continues a run, --init starts a new one from weights: pass only one")
        if args.resume:
            trainer.resume(args.resume, args.force_flow_provider)
        elif args.init:
            trainer.init_weights(args.init, args.force_flow_provider)
        summary = trainer.fit(args.max_steps)
    except (ConfigError, FileNotFoundError, BatchError, CheckpointError, OutputPathError, ShardError) as exc:  # DataMissing is a FileNotFoundError
        return _fail(prog, exc)
    finally:
        _leave_process_group()
    if trainer.dist.main:
        p = summary["progress"]
        what = f"stopped in the {p['phase_name']} phase" if summary["stopped_early"] else "done"
        best = f"; best {p['best_metric']} {p['best_value']:.2f}" if p["best_value"] != float("inf") else ""
        print(f"{prog}: {what} at step {p['global_step']}{best}; checkpoints in {summary['out_dir']} (last.pt, best.pt)")
    return 0


def _leave_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def eval_main(argv: Optional[Sequence[str]] = None) -> int:
    """``dtsvibe-eval``: returns the exit status."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .evaluation import evaluate_checkpoints, format_table, write_report
    from .synthetic.dataset import ShardError

    prog = "dtsvibe-eval"
    args = _eval_parser().parse_args(argv)
    try:
        first = load_checkpoint(args.checkpoints[0])  # (a missing one must not leave an eval/ folder where it is not)
        out = Path(args.out) if args.out else Path(args.checkpoints[0]).parent / "eval"
        check_writable(out, f"--out {out}" if args.out else f"{out} (the checkpoint's folder; pass --out)")  # before the evaluation
        data_root = args.data_root or (first.train_config.data_root if first.train_config else "data")
        results, notes = evaluate_checkpoints(
            args.checkpoints, data_root, [d.strip() for d in args.datasets.split(",") if d.strip()], args.generated,
            args.flow_provider, args.force_flow_provider, args.device, log=lambda m: print(f"{prog}: {m}", flush=True),
            per_frame=args.per_frame, untrained=args.untrained, pose_filter=args.pose_filter,
        )
    except (CheckpointError, ConfigError, OutputPathError, ShardError) as exc:
        return _fail(prog, exc)
    if not any(results.values()):
        return _fail(prog, FileNotFoundError(
            f"nothing to evaluate on{' (the notes above say why)' if notes else ''}: put VIBE test db files (3dpw_test_db.pt …) "
            f"under {data_root} (or pass --data-root), "
            "or use --generated N with training.synthetic installed"))
    print(format_table(results))
    extra = {"checkpoints": [str(c) for c in args.checkpoints], "code_version": first.code_version,
             "flow_provider": args.flow_provider or first.flow_provider}
    paths = write_report(results, out, notes, extra)
    print(f"{prog}: wrote {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":  # ``torchrun -m training.cli …`` trains
    sys.exit(train_main())
