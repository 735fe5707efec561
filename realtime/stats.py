"""Per-stage latency and throughput of the live pipeline, measured continuously.

Each stage records how long it spent on each item; the pipeline also records capture-to-output
latency per frame. ``summary()`` gives p50/p95 over the last ``keep`` items and the rate over the last
second; ``table()`` is the exit summary; ``line()`` the once-a-second ``--stats`` log line.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PipelineStats", "StageStats"]


@dataclass
class StageStats:
    keep: int = 300
    latencies_ms: deque = field(default_factory=deque)
    stamps: deque = field(default_factory=deque)
    count: int = 0
    dropped: int = 0

    def add(self, ms: float, now: float) -> None:
        self.count += 1
        self.latencies_ms.append(ms)
        self.stamps.append(now)
        while len(self.latencies_ms) > self.keep:
            self.latencies_ms.popleft()
        while self.stamps and now - self.stamps[0] > 2.0:
            self.stamps.popleft()

    def rate(self, now: float) -> float:
        """Items per second over the last (up to two) seconds."""
        recent = [t for t in self.stamps if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def percentiles(self) -> tuple[float, float]:
        if not self.latencies_ms:
            return float("nan"), float("nan")
        arr = np.fromiter(self.latencies_ms, float)
        return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


class PipelineStats:
    """Thread-safe collection of :class:`StageStats`, one per stage name, plus ``end_to_end``."""

    END_TO_END = "capture→output"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stages: dict[str, StageStats] = {}
        self.started = time.monotonic()

    def reset(self) -> None:
        """Forget everything measured so far (e.g. after a warm-up) and restart the clock."""
        with self._lock:
            self.stages = {}
            self.started = time.monotonic()

    def add(self, stage: str, ms: float) -> None:
        now = time.monotonic()
        with self._lock:
            self.stages.setdefault(stage, StageStats()).add(ms, now)

    def drop(self, stage: str, n: int = 1) -> None:
        with self._lock:
            self.stages.setdefault(stage, StageStats()).dropped += n

    def summary(self) -> dict[str, dict[str, float]]:
        now = time.monotonic()
        with self._lock:
            out = {}
            for name, s in self.stages.items():
                p50, p95 = s.percentiles()
                out[name] = {"count": s.count, "dropped": s.dropped, "fps": s.rate(now), "p50_ms": p50, "p95_ms": p95}
            return out

    def line(self) -> str:
        parts = []
        for name, s in self.summary().items():
            drop = f", {s['dropped']} dropped" if s["dropped"] else ""
            parts.append(f"{name} {s['fps']:.1f}/s p50 {s['p50_ms']:.1f} p95 {s['p95_ms']:.1f} ms{drop}")
        return " | ".join(parts)

    @property
    def frames(self) -> int:
        """Frames that came out of the pipeline (its end-to-end stage's count)."""
        return self.stages.get(self.END_TO_END, StageStats()).count

    def table(self) -> str:
        rows = [("stage", "items", "dropped", "p50 ms", "p95 ms")]
        for name, s in self.summary().items():
            rows.append((name, str(s["count"]), str(s["dropped"]), f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
        wall = time.monotonic() - self.started
        frames = self.frames
        lines = [fmt(rows[0]), fmt(tuple("-" * w for w in widths)), *(fmt(r) for r in rows[1:])]
        lines.append(f"{frames} frames in {wall:.1f} s: {frames / max(wall, 1e-6):.1f} fps end to end")
        return "\n".join(lines)
