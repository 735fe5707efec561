"""Commands given something they cannot use fail before any work, in one line with exit status 2, never with a
traceback (at the end of a long run): an output path that cannot be written (``training.paths.writable_or_exit``,
``check_writable``) and arguments out of range."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from tests.tool_loader import load_tool
from training.paths import DEFAULT_CHECKPOINT

#: tool → its arguments besides ``--out`` (``{out}``: the unwritable path; a file's own name is appended for tools whose
#: --out is a file or a file prefix).
TOOLS = {
    "make_synthetic": ["--out", "{out}", "--clips", "1"],
    "eval_baselines": ["--out", "{out}"],
    "eval_clips": ["--out", "{out}"],
    "probe_inputs": ["--data-root", "{out}", "--out", "{out}"],
    "blazepose_on_renders": ["--out", "{out}"],
    "build_engine": [str(DEFAULT_CHECKPOINT), "--out", "{out}"],
    "build_motion_library": ["--out", "{out}/library.npz"],
    "side_views": ["--out", "{out}/side_views.png"],
    "bench_flow": ["--out", "{out}/flow_benchmark"],
}


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """A folder that cannot be made on any machine, as any user: its parent is a file."""
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path / "a_file" / "results"


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_tools_refuse_an_unwritable_out_first(tool, unwritable, capsys):
    argv = [a.format(out=unwritable) for a in TOOLS[tool]]
    with pytest.raises(SystemExit) as exit_:
        load_tool(tool).main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{tool}: error: --out {unwritable}") and "choose a place" in err[0]


def test_dtsvibe_train_and_eval_refuse_an_unwritable_out_first(unwritable, capsys):
    from training.cli import eval_main, train_main

    assert train_main(["--config", "smoke", "--out", str(unwritable)]) == 2  # before the (missing) data is looked at
    assert eval_main([str(DEFAULT_CHECKPOINT), "--generated", "1", "--out", str(unwritable)]) == 2  # before evaluating
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(f"--out {unwritable}: cannot create or write" in line for line in err)


@pytest.mark.parametrize("tool, argv, message", [
    ("make_synthetic", ["--out", "{tmp}/s", "--clips", "1", "--seq-len", "0"], "--seq-len must be at least 1, got 0"),
    ("make_synthetic", ["--out", "{tmp}/s", "--clips", "0"], "--clips must be at least 1, got 0"),
    ("eval_baselines", ["--shards", "{tmp}/none", "--out", "{tmp}/o"], "--shards: {tmp}/none/manifest.json not found"),
    ("bench_live", ["--scenarios", "lite-x", "--out", "{tmp}/o"], "'lite-x' is not <lite|paper>-<people>[-int8]"),
    ("bench_model", ["--configs", "lite", "nope", "--out", "{tmp}/o"], "--configs: "),
    ("bench_engines", ["--configs", "nope", "--out", "{tmp}/o"], "--configs: "),
    ("train_flow", ["--data", "{tmp}/none", "--out", "{tmp}/o"], "--data {tmp}/none: no shards there"),
    ("pck_clips", ["{tmp}/none.mp4", "--out", "{tmp}/o"], "{tmp}/none.mp4: missing, or no first frame decodes"),
])
def test_tools_refuse_bad_arguments_in_one_line(tool, argv, message, tmp_path, capsys, monkeypatch):
    module = load_tool(tool)
    argv = [a.format(tmp=tmp_path) for a in argv]
    monkeypatch.setattr("sys.argv", [f"{tool}.py", *argv])  # the bench tools read sys.argv
    takes_argv = bool(inspect.signature(module.main).parameters)
    with pytest.raises(SystemExit) as exit_:
        module.main(argv) if takes_argv else module.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(message.format(tmp=tmp_path)) or message.format(tmp=tmp_path) in err[-1]
    assert not (tmp_path / "s").exists()  # nothing made before the arguments were found wrong


def test_release_checkpoint_names_a_missing_or_foreign_source(tmp_path, capsys):
    tool = load_tool("release_checkpoint")
    assert tool.main([str(tmp_path / "missing.pt"), str(tmp_path / "r.pt")]) == 1
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    assert tool.main([str(tmp_path / "clip.mp4"), str(tmp_path / "r.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.pt does not exist" in err[0] and "not a PyTorch checkpoint file" in err[1]
    assert not (tmp_path / "r.pt").exists()


def test_dtsvibe_eval_of_a_missing_checkpoint_leaves_no_folder_behind(tmp_path, capsys):
    from training.cli import eval_main

    assert eval_main([str(tmp_path / "runs" / "x" / "best.pt"), "--generated", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "runs").exists()
