"""The engine bundle of the embedded default checkpoint: shipped with the project, else built once and cached.

``default_bundle()`` returns a folder with the ONNX bundle of ``training/checkpoints/lite_default.pt``:

1. ``engines/assets/lite_default/``, shipped in the repository, when it was exported from exactly that
   checkpoint (the manifest's SHA-256) for at least as many people as asked: a live-only install (a kiosk,
   no PyTorch) runs it as it is;
2. else ``$DTSVIBE_CACHE/engines/<name>-<first 12 hex of the checkpoint's SHA-256>-p<people>``
   (``~/.cache/dtsvibe`` by default), exported once on first use — that needs PyTorch (the ``train``
   extra), imported only then; without it the error names ``tools/build_engine.py``.

``ship_default_bundle()`` rewrites the shipped copy; ``tools/release_checkpoint.py`` calls it whenever it
releases the embedded default, and a test checks that the two still belong together.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Callable, Optional

from training.paths import DEFAULT_CHECKPOINT

from .manifest import MANIFEST_NAME, BundleError, file_digest, read_manifest, write_manifest

__all__ = ["DEFAULT_CHECKPOINT", "SHIPPED_BUNDLE", "cache_dir", "default_bundle", "ship_default_bundle", "shipped_bundle"]

#: The embedded default checkpoint's ONNX bundle, committed with it.
SHIPPED_BUNDLE = Path(__file__).resolve().parent / "assets" / "lite_default"
#: How many people the shipped bundle serves at once (the live config allows up to 8).
SHIPPED_MAX_PERSONS = 8


def cache_dir() -> Path:
    return Path(os.environ.get("DTSVIBE_CACHE", Path.home() / ".cache" / "dtsvibe"))


def shipped_bundle(checkpoint: Path, max_persons: int) -> Optional[Path]:
    """The shipped bundle when it belongs to ``checkpoint`` and serves ``max_persons`` people, else None."""
    try:
        manifest = read_manifest(SHIPPED_BUNDLE)
    except BundleError:
        return None
    if manifest.checkpoint_sha256 != file_digest(checkpoint) or manifest.max_persons < max_persons:
        return None
    return SHIPPED_BUNDLE


def default_bundle(checkpoint: Optional[Path] = None, max_persons: int = 8, log: Callable[[str], None] = print) -> Path:
    """The ONNX bundle of ``checkpoint`` (default: the embedded one): the shipped one, or exported once and cached."""
    ckpt = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if not ckpt.is_file():
        raise BundleError(f"checkpoint {ckpt} is missing; pass engine.bundle=DIR (tools/build_engine.py) or reinstall")
    shipped = shipped_bundle(ckpt, max_persons)
    if shipped is not None:
        return shipped
    folder = cache_dir() / "engines" / f"{ckpt.stem}-{file_digest(ckpt)[:12]}-p{max_persons}"
    if (folder / MANIFEST_NAME).is_file():
        return folder
    if not _torch_available():
        raise BundleError(
            f"no engine bundle of {ckpt.name} for {max_persons} people here, and PyTorch (the train extra) is not installed to "
            f"export one: run 'python tools/build_engine.py {ckpt} --out DIR --max-persons {max_persons}' where it is, "
            "then pass --bundle DIR"
        )
    log(f"building the engine bundle of {ckpt.name} once, into {folder} (a few seconds)")
    from .build.onnx_export import export_bundle  # torch, only now

    tmp = folder.with_name(folder.name + ".tmp")
    try:
        export_bundle(ckpt, tmp, max_persons=max_persons)
    except OSError as exc:
        raise BundleError(f"cannot write the engine bundle into {folder.parent} ({exc.strerror or exc}); "
                          "set DTSVIBE_CACHE to a folder you can write to") from None
    if not folder.exists():
        tmp.replace(folder)
    return folder


def _torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # blocked or half-installed
        return False


def relative_checkpoint(manifest, checkpoint: Path, bundle: Path):
    """``manifest`` (``engines.manifest.Manifest``) with its checkpoint recorded relative to ``bundle``: what the
    shipped bundle needs to find its checkpoint in any clone of the repository."""
    manifest.checkpoint_path = os.path.relpath(Path(checkpoint).resolve(), Path(bundle).resolve())
    return manifest


def ship_default_bundle(checkpoint: Path = DEFAULT_CHECKPOINT, out: Path = SHIPPED_BUNDLE) -> Path:
    """Export ``checkpoint``'s bundle into the repository's ``engines/assets/lite_default`` (needs PyTorch).

    The manifest records the checkpoint relative to the bundle, so the torch backend finds it in any clone."""
    from .build.onnx_export import export_bundle

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    manifest, _ = export_bundle(checkpoint, tmp, max_persons=SHIPPED_MAX_PERSONS)
    write_manifest(tmp, relative_checkpoint(manifest, checkpoint, out))
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out
