"""Console scripts ``dtsvibe-train`` and ``dtsvibe-eval``.

Both validate their config (with ``key=value`` overrides) today; the trainer and the evaluator
themselves are tracked in the project's issues and are not part of this release yet.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .config import ConfigError, load_train_config


def _parser(prog: str, what: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=what)
    p.add_argument("--config", default="paper", help="training config: a name under configs/train/ or a YAML path (default: paper)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override single config keys, e.g. batch_size=8")
    return p


def _run(prog: str, what: str, argv: Optional[Sequence[str]]) -> int:
    args = _parser(prog, what).parse_args(argv)
    try:
        cfg = load_train_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    print(f"{prog}: config OK (model {cfg.model!r}, batch {cfg.batch_size}, seed {cfg.seed})")
    print(f"{prog}: {what.lower()} is not available in this release yet", file=sys.stderr)
    return 2


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    return _run("dtsvibe-train", "Train DTS-VIBE (main phase, then flow-loss refinement)", argv)


def eval_main(argv: Optional[Sequence[str]] = None) -> int:
    return _run("dtsvibe-eval", "Evaluate a checkpoint (PA-MPJPE, MPJPE, PVE, Accel)", argv)
