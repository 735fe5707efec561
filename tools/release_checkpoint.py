"""Write an inference-only copy of a training checkpoint: float16 weights, configs, metrics and
provenance, without optimizer or discriminator states (what gets committed as the embedded default).

    python tools/release_checkpoint.py runs/embedded/best.pt training/checkpoints/lite_default.pt [--fp32] [--set KEY=VALUE]

Releasing onto the embedded default also rewrites its shipped ONNX bundle (``engines/assets/lite_default``),
which live-only installs (no PyTorch) run; commit both together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from engines.defaults import DEFAULT_CHECKPOINT, ship_default_bundle
from training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, release_checkpoint
from training.config import ConfigError
from training.paths import writable_or_exit


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a checkpoint written by dtsvibe-train (best.pt / last.pt)")
    p.add_argument("out", help="where the release goes")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default float16)")
    p.add_argument("--set", dest="model_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change a model-config setting that has no weights, e.g. landmark_fit.enabled=true (repeatable)")
    args = p.parse_args(argv)
    writable_or_exit("release_checkpoint", args.out, option="out", file=True)  # before the checkpoint is read
    try:
        out = release_checkpoint(args.checkpoint, args.out, half=not args.fp32, model_overrides=args.model_overrides)
        ckpt = load_checkpoint(out)
        if args.model_overrides:
            try:
                model_from_checkpoint(ckpt)  # the weights still fit the changed config (strict load)
            except CheckpointError:
                Path(out).unlink()
                raise
    except (CheckpointError, ConfigError, OSError) as exc:
        print(f"release_checkpoint: error: {exc}", file=sys.stderr)
        return 1
    size = Path(args.checkpoint).stat().st_size / 2**20, out.stat().st_size / 2**20
    print(f"{out}: {size[1]:.1f} MB (from {size[0]:.1f} MB), model {ckpt.model_config.name}, "
          f"{ckpt.progress.phase_name} step {ckpt.progress.global_step}, flow {ckpt.flow_provider}, metrics {ckpt.metrics}")
    if Path(out).resolve() == DEFAULT_CHECKPOINT:
        print(f"{ship_default_bundle()}: the embedded default's ONNX bundle, rewritten (commit it with the checkpoint)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
