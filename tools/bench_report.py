"""Shared output of the ``tools/bench*`` commands: print the tables, write them as Markdown and JSON."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np


def environment(extra: str = "") -> str:
    """One line describing where the figures were measured."""
    import torch

    line = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    return f"{line}; {extra}" if extra else line


def report(out_dir: str | Path, name: str, title: str, tables: Sequence[str], env: str, rows: Any) -> None:
    """Print ``tables`` and ``env``; write ``<out_dir>/<name>.md`` and ``<name>.json`` with the same figures."""
    text = "\n\n".join(tables)
    print(text)
    print(f"({env})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(f"# {title}\n\n{text}\n\n{env}\n")
    (out / f"{name}.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    print(f"wrote {out / (name + '.md')} and {out / (name + '.json')}")


def latencies(fn: Callable[[], object], repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median and 95th percentile wall time of ``fn`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 95))


def check_model_configs(parser, names: Sequence[str], overrides: Sequence[str] = ()) -> None:
    """Every model config named on a benchmark's command line resolves before the first is measured; else the
    parser's one-line error (``--configs: …``)."""
    from training.config import ConfigError, load_model_config

    for name in names:
        try:
            load_model_config(name, list(overrides))
        except ConfigError as exc:
            parser.error(f"--configs: {exc}")
