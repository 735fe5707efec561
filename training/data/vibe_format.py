"""VIBE's preprocessed data set files ("db" files): read, validate, write.

A db file is a joblib dump of a dict of equal-length arrays, one row per frame (N frames):

============  =============  =========================================================
key           shape          meaning
============  =============  =========================================================
vid_name      (N,) str       video/person id (a change starts a new sequence)
frame_id      (N,) int       frame index inside the video (consecutive within a sequence)
joints2D      (N, 49, 3)     ``spin49`` keypoints: x, y in image pixels + confidence
joints3D      (N, 49, 3)     ``spin49`` joints in metres (absent or zeros in 2D-only sets)
shape         (N, 10)        SMPL β
pose          (N, 72)        SMPL θ, axis-angle of the 24 joints (root first)
bbox          (N, 4)         centre x, centre y, width, height in pixels (square in VIBE)
img_name      (N,) str       path of the frame's image
features      (N, F)         precomputed backbone features (F = 2048 for ResNet-50)
valid         (N,) 0/1       whether the frame's labels are usable
============  =============  =========================================================

Required: ``vid_name``, ``frame_id``, ``joints2D``, ``bbox`` and at least one of ``img_name`` /
``features``. Other keys are optional (which exist depends on the data set: InstaVariety,
PennAction and PoseTrack have no 3D labels or SMPL; MPI-INF-3DHP has ``joints3D`` but no SMPL;
3DPW and Human3.6M have everything). Unknown keys are passed through unchecked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

__all__ = [
    "NUM_KEYPOINTS",
    "REQUIRED_KEYS",
    "VibeDbError",
    "find_vibe_db",
    "read_vibe_db",
    "validate_vibe_db",
    "write_vibe_db",
]

#: VIBE's joints2D / joints3D use the 49-joint ``spin49`` set (OpenPose 25 + ground truth 24).
NUM_KEYPOINTS = 49
REQUIRED_KEYS: tuple[str, ...] = ("vid_name", "frame_id", "joints2D", "bbox")
#: Trailing shape of each known key (None = any size there).
KEY_SHAPES: dict[str, tuple[Optional[int], ...]] = {
    "vid_name": (),
    "img_name": (),
    "frame_id": (),
    "valid": (),
    "joints2D": (NUM_KEYPOINTS, 3),
    "joints3D": (NUM_KEYPOINTS, 3),
    "shape": (10,),
    "pose": (72,),
    "bbox": (4,),
    "features": (None,),
}
_STRING_KEYS = ("vid_name", "img_name")
_FLOAT_KEYS = ("joints2D", "joints3D", "shape", "pose", "bbox", "features")

PathLike = Union[str, Path]


class VibeDbError(ValueError):
    """A db file (or dict) that does not follow the format above."""


def _to_str_array(values: Any) -> np.ndarray:
    """Per-frame names (str, bytes or numbers) → a ``(N,)`` array of str (bytes are UTF-8 decoded)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "U":
        return arr
    flat = [v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v) for v in arr.reshape(-1)]
    return np.array(flat, dtype=str).reshape(arr.shape)


def _as_array(value: Any, key: Any, source: str) -> np.ndarray:
    """``value`` as an array (names as str); VibeDbError when it cannot be one (ragged rows, names not UTF-8)."""
    try:
        return _to_str_array(value) if key in _STRING_KEYS else np.asarray(value)
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        problem = (str(exc).splitlines() or [""])[0]
        raise VibeDbError(f"{source}: key {key!r} is not an array of one row per frame ({type(exc).__name__}: {problem})") from None


def validate_vibe_db(data: Mapping[str, Any], source: str = "<dict>") -> dict[str, np.ndarray]:
    """Check a db dict and return it with normalised dtypes (str names, int64 ids, float32 arrays).

    Raises :class:`VibeDbError` with one line naming ``source``, the key and the fix.
    """
    if not isinstance(data, Mapping):
        raise VibeDbError(f"{source}: expected a dict of per-frame arrays, got {type(data).__name__}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise VibeDbError(
                f"{source}: missing required key '{key}' (a VIBE db needs {', '.join(REQUIRED_KEYS)}; "
                f"regenerate the file with write_vibe_db or add the key)"
            )
    if "img_name" not in data and "features" not in data:
        raise VibeDbError(
            f"{source}: needs 'img_name' (for crops) or 'features' (precomputed), has neither; "
            "add one of them to the file"
        )
    out: dict[str, np.ndarray] = {}
    names = _as_array(data["vid_name"], "vid_name", source)
    if names.ndim == 0:
        raise VibeDbError(f"{source}: key 'vid_name' is a single value; it needs one name per frame")
    n = len(names)
    for key, value in data.items():
        arr = _as_array(value, key, source)
        if key in KEY_SHAPES:
            if arr.ndim == 0 or len(arr) != n:
                got = "a scalar" if arr.ndim == 0 else f"{len(arr)} rows"
                raise VibeDbError(f"{source}: key '{key}' has {got} but 'vid_name' has {n}; all keys need one row per frame")
            want = KEY_SHAPES[key]
            tail = arr.shape[1:]
            if len(tail) != len(want) or any(w is not None and w != t for w, t in zip(want, tail)):
                pretty = "(N" + "".join(f", {'F' if w is None else w}" for w in want) + ")"
                raise VibeDbError(f"{source}: key '{key}' has shape {arr.shape}, expected {pretty}")
            if key in _FLOAT_KEYS:
                if arr.dtype.kind not in "fiub":
                    raise VibeDbError(f"{source}: key '{key}' must be numeric, got dtype {arr.dtype}")
                arr = arr.astype(np.float32, copy=False)
            elif key == "frame_id":
                if arr.dtype.kind == "f":
                    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(np.abs(arr) > 2.0**62):
                        raise VibeDbError(f"{source}: key 'frame_id' must hold whole numbers")
                elif arr.dtype.kind not in "iu":
                    raise VibeDbError(f"{source}: key 'frame_id' must be integers, got dtype {arr.dtype}")
                arr = arr.astype(np.int64)
            elif key == "valid":
                if arr.dtype.kind not in "fiub":
                    raise VibeDbError(f"{source}: key 'valid' must be 0/1, got dtype {arr.dtype}")
                arr = arr.astype(bool)
        out[key] = arr
    return out


def write_vibe_db(path: PathLike, data: Mapping[str, Any]) -> Path:
    """Validate ``data`` and joblib-dump it to ``path`` (parent folders created). Returns the path."""
    import joblib

    path = Path(path)
    checked = validate_vibe_db(data, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(checked, path)
    return path


def read_vibe_db(path: PathLike) -> dict[str, np.ndarray]:
    """Load and validate a db file: dict of ``(N, ...)`` arrays (dtypes as :func:`validate_vibe_db`)."""
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VIBE db file {path} does not exist (check data_root and the data set name)")
    try:
        data = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a db file"
        problem = (str(exc).splitlines() or [""])[0]
        raise VibeDbError(f"{path}: not a joblib db file ({type(exc).__name__}: {problem})") from exc
    return validate_vibe_db(data, source=str(path))


def find_vibe_db(data_root: PathLike, name: str, split: str = "train") -> Path:
    """The db file of data set ``name`` under ``data_root``, named as VIBE does: ``<name>_<split>*db.pt``.

    E.g. ``3dpw_train_db.pt``, ``h36m_train_25fps_db.pt``. Exactly one match is required.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist (set data_root to the folder with the *_db.pt files)")
    matches = sorted(root.glob(f"{name}_{split}*db.pt"))
    if not matches:
        raise FileNotFoundError(f"no db file for data set '{name}' ({split}) in {root}: expected {name}_{split}_db.pt")
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches)
        raise FileNotFoundError(f"several db files for data set '{name}' ({split}) in {root}: {names}; pass one path")
    return matches[0]
