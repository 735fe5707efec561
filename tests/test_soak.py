"""Soak (opt-in: ``pytest tests/test_soak.py --soak [--soak-minutes 20]``): the live pipeline on the demo clip
played in a loop like a camera, for many minutes, sampled once a minute — resident memory, queue fill,
capture→output latency, fps, drops. It must not grow. The table goes to ``out/soak/soak.md`` (and ``.json``);
copy it to ``docs/bench/soak.md`` when it is the run to keep."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.soak

OUT = Path(__file__).resolve().parents[1] / "out" / "soak"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_the_pipeline_runs_for_minutes_without_growing(request):
    pytest.importorskip("mediapipe", reason="the live app's detector needs mediapipe")
    from realtime.graph import build_pipeline
    from realtime.config import load_live_config

    minutes = float(request.config.getoption("--soak-minutes"))
    cfg = load_live_config("default", ["input.source=demo", "input.realtime=true", "input.loop=true", "view.view=none"])
    pipeline, _ = build_pipeline(cfg, log=lambda m: None)
    pipeline.start()
    rows = []
    try:
        for minute in range(int(np.ceil(minutes)) + 1):
            if minute:
                end = time.monotonic() + 60 * min(1.0, minutes - (minute - 1))
                while time.monotonic() < end:
                    assert pipeline.error is None, pipeline.error
                    assert all(t.is_alive() for t in pipeline.threads), "a pipeline thread died"
                    time.sleep(1.0)
            s = pipeline.stats.summary()
            e2e = s.get(pipeline.stats.END_TO_END, {})
            rows.append({"minute": minute, "rss_mb": round(_rss_mb(), 1), "frames_out": pipeline.frames_out,
                         "queued": sum(q.qsize() for q in pipeline.queues),
                         "latency_p50_ms": round(e2e.get("p50_ms", float("nan")), 1),
                         "latency_p95_ms": round(e2e.get("p95_ms", float("nan")), 1),
                         "fps": round(e2e.get("fps", 0.0), 1), "dropped": s.get("capture", {}).get("dropped", 0)})
            print(rows[-1], flush=True)
    finally:
        pipeline.stop()
        pipeline.join(timeout=5)
    OUT.mkdir(parents=True, exist_ok=True)
    table = "| minute | RSS MB | frames out | queued | latency p50 ms | p95 ms | fps | dropped |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    table += "\n".join(f"| {r['minute']} | {r['rss_mb']} | {r['frames_out']} | {r['queued']} | {r['latency_p50_ms']} | "
                       f"{r['latency_p95_ms']} | {r['fps']} | {r['dropped']} |" for r in rows)
    growth = rows[-1]["rss_mb"] - rows[1]["rss_mb"]
    verdict = (f"{minutes:g} min on the looping demo clip (lite, ONNX Runtime, live pacing); resident memory from minute 1 to the end: "
               f"{growth:+.1f} MB; frames out {rows[-1]['frames_out']}")
    (OUT / "soak.md").write_text(f"# Soak\n\n{table}\n\n{verdict}\n")
    (OUT / "soak.json").write_text(json.dumps(rows, indent=1))
    print(verdict)
    # After the first minute (models loaded, caches warm) memory stays within a small bound, nothing piles up
    # in the queues (each holds at most one packet behind a live source) and latency does not drift.
    assert growth < 30.0
    assert all(r["queued"] <= len(pipeline.queues) for r in rows)
    late = [r["latency_p50_ms"] for r in rows[2:]] or [rows[-1]["latency_p50_ms"]]
    assert max(late) < 3 * rows[1]["latency_p50_ms"] + 50
    assert rows[-1]["frames_out"] > 0.5 * 23.976 * 60 * minutes * 0.5  # it kept producing
