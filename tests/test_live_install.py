"""A live-only install (a kiosk: ``EXTRAS=live``, no PyTorch) runs the main job on the shipped bundle of the
embedded default, and every bad output path fails in one line before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engines import read_manifest
from engines.defaults import SHIPPED_BUNDLE, default_bundle
from engines.manifest import file_digest
from training.paths import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "python tools/release_checkpoint.py ... training/checkpoints/lite_default.pt (or engines.defaults.ship_default_bundle())"

#: Runs ``realtime.cli.main(argv)`` in a fresh interpreter where torch and torchvision cannot be imported,
#: as on a kiosk, and reports whether anything imported them anyway.
NO_TORCH = textwrap.dedent("""
    import importlib.abc, json, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: a live-only install)")
            return None

    sys.meta_path.insert(0, NoTorch())
    from realtime.cli import main
    code = main(json.loads(sys.argv[1]))
    print("TORCH_LOADED" if "torch" in sys.modules else "NO_TORCH")
    sys.exit(code)
""")


def run_without_torch(argv: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DTSVIBE_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-c", NO_TORCH, json.dumps(argv)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


def test_shipped_bundle_belongs_to_the_embedded_checkpoint():
    m = read_manifest(SHIPPED_BUNDLE)
    assert m.checkpoint_sha256 == file_digest(DEFAULT_CHECKPOINT), f"the shipped bundle is stale: run {REGENERATE}"
    m.verify_files(SHIPPED_BUNDLE)  # every graph as exported (size and SHA-256)
    assert m.max_persons >= 8 and set(m.graphs) >= {"frame_encoder", "temporal_step"}
    # the torch backend finds the checkpoint through the manifest's path, relative to the bundle, in any clone
    assert (SHIPPED_BUNDLE / m.checkpoint_path).resolve() == DEFAULT_CHECKPOINT
    assert default_bundle(max_persons=4) == SHIPPED_BUNDLE


def test_live_app_runs_without_torch_on_the_shipped_bundle(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    res = run_without_torch(["--source", "demo", "--no-realtime", "--max-frames", "12", "--view", "none", "--out", str(out)], cache)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "NO_TORCH" in res.stdout and "building the engine bundle" not in res.stdout
    assert len((out / "index.jsonl").read_text().splitlines()) == 12
    assert not (cache / "engines").exists()  # nothing exported, nothing cached


def test_no_bundle_and_no_torch_fails_in_one_line(tmp_path):
    # 12 people: more than the shipped bundle serves, so one would have to be exported, and torch is missing
    res = run_without_torch(["--source", "demo", "--no-realtime", "--max-frames", "3", "--view", "none", "--max-persons", "12"],
                            tmp_path / "cache")
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert err[0].startswith("dtsvibe-live: error: no engine bundle of lite_default.pt for 12 people")
    assert "tools/build_engine.py" in err[0] and "--bundle DIR" in err[0] and "Traceback" not in res.stderr


@pytest.mark.parametrize("flag, value", [("--out", "/proc/dtsvibe/out"), ("--record", "/proc/dtsvibe/r.mp4"),
                                         ("--out", "FILE/out"), ("--record", "FILE/r.mp4")])
def test_unwritable_output_paths_fail_in_one_line(tmp_path, flag, value):
    (tmp_path / "FILE").write_text("a file, not a folder")
    value = value.replace("FILE", str(tmp_path / "FILE"))
    res = subprocess.run([sys.executable, "-m", "realtime.cli", "--source", "demo", "--view", "none", flag, value],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert err[0].startswith(f"dtsvibe-live: error: {flag} {value}: cannot create or write to the folder")
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_headless_run_prints_nothing_on_stderr(tmp_path):
    """No desktop session (no DISPLAY, no XDG_RUNTIME_DIR): the views render offscreen and stderr stays empty —
    no Wayland error from the renderer's window library, no INFO line from the TFLite runtime."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR")}
    record = tmp_path / "record.mp4"
    res = subprocess.run([sys.executable, "-m", "realtime.cli", "--source", "demo", "--no-realtime", "--max-frames", "6",
                          "--view", "both", "--record", str(record)], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stderr == ""
    assert record.stat().st_size > 0
