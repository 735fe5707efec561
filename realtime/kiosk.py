"""Kiosk mode: keep the pipeline running for days, whatever the source and the stages do.

:class:`Supervisor` builds a pipeline, runs it, and builds a fresh one when

* the source cannot be opened (a camera unplugged, a feed down): it retries with back-off;
* a stage or the capture hangs on one item for longer than ``stall_s`` (the watchdog): the stuck
  pipeline is told to stop and abandoned (its threads are daemons), and a new one starts;
* the pipeline fails, or its source ends (a file loops, a stream that closed is reopened).

Only Ctrl-C (or ``stop()``) ends it. Nothing accumulates across restarts except counters.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

__all__ = ["Supervisor"]


class Supervisor:
    """Args:
        build: makes a ready (not started) :class:`~realtime.pipeline.LivePipeline`; may raise when the
            source cannot be opened.
        stall_s: the watchdog's limit for one item in one stage.
        backoff_s: (first, longest) wait before rebuilding after a failure; doubles each time in a row.
        max_restarts: stop after this many restarts (None: never; tests use a bound).
        fatal: exception types from ``build`` that no retry can fix (a bad bundle): they propagate.
    """

    def __init__(self, build: Callable[[], object], stall_s: float = 10.0, backoff_s: tuple[float, float] = (0.5, 30.0),
                 max_restarts: Optional[int] = None, log: Callable[[str], None] = print,
                 fatal: tuple[type[BaseException], ...] = ()) -> None:
        self.build, self.stall_s, self.backoff_s, self.fatal = build, stall_s, backoff_s, fatal
        self.max_restarts, self.log = max_restarts, log
        self.restarts = 0
        self.reasons: list[str] = []
        self.pipeline = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        if self.pipeline is not None:
            self.pipeline.stop()

    def run(self) -> None:
        wait = self.backoff_s[0]
        while not self._stop.is_set():
            reason = self._run_once()
            if reason is None or self._stop.is_set():
                return
            self.reasons.append(reason)
            if self.max_restarts is not None and self.restarts >= self.max_restarts:
                self.log(f"kiosk: {reason}; giving up after {self.restarts} restarts")
                return
            self.restarts += 1
            healthy = reason.startswith("source ended")
            self.log(f"kiosk: {reason}; restarting{'' if healthy else f' in {wait:.1f} s'}")
            if not healthy:
                self._stop.wait(wait)
                wait = min(wait * 2, self.backoff_s[1])
            else:
                wait = self.backoff_s[0]

    def _run_once(self) -> Optional[str]:
        """One pipeline's life; returns why it ended (None: stopped on request)."""
        try:
            pipeline = self.pipeline = self.build()
        except self.fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - a source that cannot open yet, etc.: retry
            return f"cannot start ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        pipeline.start()
        try:
            while any(t.is_alive() for t in pipeline.threads):
                if self._stop.wait(0.2):
                    pipeline.stop()
                    pipeline.join(timeout=2.0)
                    return None
                stuck = pipeline.stalled(self.stall_s)
                if stuck is not None:
                    pipeline.stop()
                    pipeline.join(timeout=1.0)  # a thread that is really stuck is abandoned (daemon)
                    return f"watchdog: '{stuck}' made no progress for {self.stall_s:g} s"
        except KeyboardInterrupt:
            self.stop()
            pipeline.join(timeout=2.0)
            raise
        if pipeline.error is not None:
            return f"pipeline failed ({str(pipeline.error).splitlines()[0] if str(pipeline.error) else type(pipeline.error).__name__})"
        return f"source ended after {pipeline.frames_out} frames"
