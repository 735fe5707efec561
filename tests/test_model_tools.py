"""The model's commands: the CPU benchmark and the attention-map figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 or not check, res.stderr[-3000:]
    return res


def test_bench_model_prints_and_writes_the_same_figures(tmp_path):
    res = run("tools/bench_model.py", "--configs", "lite", "--repeats", "2", "--persons", "1", "--out", str(tmp_path))
    data = json.loads((tmp_path / "bench_model.json").read_text())
    row = data["rows"][0]
    assert row["config"] == "lite" and row["params_total_M"] > 1
    step = row["temporal_per_new_frame"]["1"]
    assert step["step_ms"] > 0 and step["recompute_ms"] > 0
    assert f"| lite | 1 | {step['recompute_ms']:.2f} | {step['step_ms']:.2f} |" in res.stdout
    assert (tmp_path / "bench_model.md").read_text().count("| lite |") == 2


def test_plot_attention_draws_one_panel_per_head(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "att.png"
    res = run("tools/plot_attention.py", "--config", "lite", "--out", str(out))
    assert out.is_file() and out.stat().st_size > 10_000
    assert "4 heads of layer 1 over 16 frames" in res.stdout


def test_plot_attention_takes_a_checkpoint_with_its_own_config_or_says_why_not(tmp_path):
    """A checkpoint is drawn with the config stored in it (the crops model, whatever --config says); a missing one and
    one whose V-stream reads BlazePose's outputs, not crops, are refused in one line."""
    pytest.importorskip("matplotlib")
    from training.paths import CROPS_CHECKPOINT, DEFAULT_CHECKPOINT

    out = tmp_path / "att.png"
    res = run("tools/plot_attention.py", "--checkpoint", str(CROPS_CHECKPOINT), "--out", str(out))
    assert out.is_file() and "checkpoint lite_crops.pt" in res.stdout
    for ckpt, message in ((tmp_path / "none.pt", "does not exist"), (DEFAULT_CHECKPOINT, "not image crops")):
        res = run("tools/plot_attention.py", "--checkpoint", str(ckpt), "--out", str(out), check=False)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and message in res.stderr


def test_eval_baselines_takes_clips_from_every_shard_folder_given():
    """``tools/eval_baselines.py --shards A B --clips N``: the first N clips of each folder (all of a smaller one), in
    order — the fixed held-out benchmark and the extended set scored as one."""
    from tools.eval_baselines import clip_list

    class Folder(list):
        pass

    a, b = Folder(range(32)), Folder(range(96))
    clips = clip_list([a, b], 40)
    assert [i for src, i in clips if src is a] == list(range(32))
    assert [i for src, i in clips if src is b] == list(range(40))
    assert clips[31][0] is a and clips[32][0] is b
    generator = object()  # the generator has no length: N clips of it
    assert clip_list([generator], 3) == [(generator, 0), (generator, 1), (generator, 2)]
