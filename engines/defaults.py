"""The engine bundle of the embedded default checkpoint, built once and cached.

``default_bundle()`` returns a folder with the ONNX bundle of ``training/checkpoints/lite_default.pt``:
``$DTSVIBE_CACHE/engines/<first 12 hex of the checkpoint's SHA-256>`` (``~/.cache/dtsvibe`` by default).
When it is missing it is exported once (that needs torch, imported only then); afterwards the live app
runs it without torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from training.paths import DEFAULT_CHECKPOINT

from .manifest import MANIFEST_NAME, BundleError, file_digest

__all__ = ["DEFAULT_CHECKPOINT", "cache_dir", "default_bundle"]



def cache_dir() -> Path:
    return Path(os.environ.get("DTSVIBE_CACHE", Path.home() / ".cache" / "dtsvibe"))


def default_bundle(checkpoint: Optional[Path] = None, max_persons: int = 8, log: Callable[[str], None] = print) -> Path:
    """The cached ONNX bundle of ``checkpoint`` (default: the embedded one), exported on first use."""
    ckpt = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if not ckpt.is_file():
        raise BundleError(f"checkpoint {ckpt} is missing; pass engine.bundle=DIR (tools/build_engine.py) or reinstall")
    folder = cache_dir() / "engines" / f"{ckpt.stem}-{file_digest(ckpt)[:12]}-p{max_persons}"
    if (folder / MANIFEST_NAME).is_file():
        return folder
    log(f"building the engine bundle of {ckpt.name} once, into {folder} (about a minute)")
    from .export import export_bundle  # torch, only now

    tmp = folder.with_name(folder.name + ".tmp")
    export_bundle(ckpt, tmp, max_persons=max_persons)
    if not folder.exists():
        tmp.replace(folder)
    return folder
