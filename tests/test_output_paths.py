"""Every command that writes results checks its output path before any work: one line and exit status 2, never a
traceback at the end of a long run (``training.paths.writable_or_exit``, ``check_writable``)."""

from __future__ import annotations

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
