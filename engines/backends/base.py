"""What every backend's graph runner offers, and per-call latency bookkeeping."""

from __future__ import annotations

import time
from collections import deque
from typing import Mapping, Protocol

import numpy as np

__all__ = ["GraphRunner", "LatencyLog"]


class GraphRunner(Protocol):
    """One loaded graph. ``run`` takes and returns host numpy arrays keyed by the manifest's tensor names."""

    name: str
    backend: str

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class LatencyLog:
    """The last ``keep`` call durations (ms) of each graph; :meth:`summary` gives median and p95."""

    def __init__(self, keep: int = 500) -> None:
        self.keep = keep
        self.calls: dict[str, deque[float]] = {}

    def timed(self, runner: GraphRunner, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        out = runner.run(inputs)
        self.add(runner.name, (time.perf_counter() - start) * 1e3)
        return out

    def add(self, name: str, ms: float) -> None:
        self.calls.setdefault(name, deque(maxlen=self.keep)).append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        """``{graph: {"calls", "median_ms", "p95_ms"}}`` over the kept calls."""
        out = {}
        for name, values in self.calls.items():
            arr = np.asarray(values)
            out[name] = {"calls": float(len(arr)), "median_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95))}
        return out
