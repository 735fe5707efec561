"""Where the project's shipped files live, and whether a place to write results can be written to (torch-free, so
the live app can import it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn, Union

__all__ = ["CROPS_CHECKPOINT", "DEFAULT_CHECKPOINT", "OutputPathError", "check_writable", "writable_or_exit"]

#: The embedded default checkpoint (lite model trained on the project's own data; see its README).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "lite_default.pt"

#: The previous default: the lite model on image crops (MobileNetV3-Small RGB and flow trunks, keypoint stream).
#: Kept as the reference for the INT8 recipe (its squeeze-and-excitation gates) and as a row in comparisons.
CROPS_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "lite_crops.pt"


class OutputPathError(ValueError):
    """A place to write results that cannot be made or written to; the message says which and what to do."""


def check_writable(folder: Union[str, Path], what: str) -> Path:
    """Create ``folder`` (and its parents) and write a probe file in it, before anything runs.

    ``what`` names the setting and its value in the message (``--out out/live``). OutputPathError in one line otherwise."""
    folder = Path(folder)
    probe = folder / ".dtsvibe-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputPathError(f"{what}: cannot create or write to the folder {folder} ({reason}); "
                              "choose a place you can write to") from None
    return folder


def writable_or_exit(prog: str, path: Union[str, Path], option: str = "--out", file: bool = False) -> Path:
    """A command-line tool's output ``path`` checked before any work: the folder (a ``file``'s own folder) is made
    and written to, or ``prog: error: …`` goes to stderr in one line and the tool exits with status 2 — long runs
    never end in a traceback over a path that could not be written."""
    path = Path(path)
    try:
        check_writable(path.parent if file else path, f"{option} {path}")
    except OutputPathError as exc:
        _exit(prog, exc)
    return path


def _exit(prog: str, exc: Exception) -> NoReturn:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    raise SystemExit(2)
