"""Still test frames in the SPIN / mmpose ``.npz`` layout (Human3.6M, MPI-INF-3DHP test sets), read and checked.

The file holds, for N frames:

* ``imgname`` (N,): image paths, relative to an images folder;
* ``center`` (N, 2) and ``scale`` (N,) (or (N, 1), or (N, 2) for width and height): the person's box, SPIN's
  convention — a square of side ``scale * 200`` pixels centred on ``center``;
* ``S`` (N, 24, 4) in SPIN's 24 ground-truth joint order (LSP 14 first) or (N, 17, 4) in Human3.6M's order
  (MPI-INF-3DHP's 17 joints as mmpose writes them), x, y, z and a confidence: a joint with confidence 0 is
  not labelled. (N, J, 3) means every joint is labelled. Metres or millimetres, told apart by size;
* optionally ``joints``: which body points the labels are — ``"h36m"`` (Human3.6M's joints, what SPIN and VIBE score
  Human3.6M, MPI-INF-3DHP and 3DPW on) or ``"lsp"`` (the body's LSP joints: ``tools/make_still_frames.py``'s
  ``spin.npz``); the data sets' own files do not say, and are scored on Human3.6M's (``dtsvibe-eval --joints``).

:func:`read_still_frames` returns the LSP-14 ground truth in metres (``SPIN24_TO_LSP14`` /
``H36M17_TO_LSP14``), which joints are labelled and the boxes; anything wrong is a :class:`StillFramesError`
whose message names the problem and the fix in one line. numpy only.

Video test sets come as VIBE's db files (``3dpw_test_db.pt``, ``mpii3d_val_db.pt``, ``h36m_test_25fps_db.pt``:
``training.data.vibe_format``, read with joblib): :func:`read_vibe_sequences` takes ``vid_name``, ``frame_id``,
``img_name``, ``bbox`` (centre x, y, width, height in pixels) and ``joints3D`` (N, 49, 3), spin49 order in metres
(its LSP-14 part, ``[25:39]``, as VIBE scores them; all-zero joints are not labelled), and keeps each sequence's
frames together in ``frame_id`` order. :func:`read_test_frames` reads either by the file's suffix.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..body.joint_sets import H36M_LANDMARKS

__all__ = ["H36M17_TO_LSP14", "LAYOUTS", "SPIN24_TO_LSP14", "StillFrames", "StillFramesError", "read_still_frames",
           "read_test_frames", "read_vibe_sequences"]

#: SPIN's 24 ground-truth joints start with the 14 LSP joints.
SPIN24_TO_LSP14 = list(range(14))
#: Human3.6M's 17 joints (``training.body.joint_sets.H36M_LANDMARKS`` order, as mmpose writes Human3.6M and
#: MPI-INF-3DHP) → LSP 14, as VIBE's ``H36M_TO_J14``: the LSP neck is the thorax (8), the head top the head (10).
H36M17_TO_LSP14 = [H36M_LANDMARKS.index(n) for n in (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "thorax", "head_top")]
#: Joint count of ``S`` → (layout name, its LSP-14 indices).
LAYOUTS = {24: ("SPIN-24", SPIN24_TO_LSP14), 17: ("Human3.6M-17", H36M17_TO_LSP14)}
REQUIRED = ("imgname", "center", "scale", "S")
#: Which of a body's points labels are, the values the optional ``joints`` key may hold (defined here, in the numpy-only
#: reader; ``training.baselines.JOINT_DEFINITIONS`` is this tuple and says what each means).
JOINT_KEYS = ("lsp", "h36m")
#: A median joint distance from the skeleton's centre above this is millimetres (people are not 10 m wide).
MM_ABOVE = 10.0


class StillFramesError(ValueError):
    """The ``.npz`` cannot be used; the message says why and what to do, in one line."""


@dataclass
class StillFrames:
    """``N`` still frames: ``imgname`` (N strings), ``center`` (N, 2) and ``box_size`` (N, 2) (width, height)
    in pixels, ``lsp14`` (N, 14, 3) metres, ``labelled`` (N, 14) bool, the ``layout`` of ``S``, the ``units``
    it was in (``"m"``/``"mm"``) and ``spread``, the median joint distance from the skeleton's centre in those
    units (what told the units apart)."""

    path: Path
    imgname: list[str]
    center: np.ndarray
    box_size: np.ndarray
    lsp14: np.ndarray
    labelled: np.ndarray
    layout: str
    units: str
    spread: float
    #: The file's ``joints`` key (``"lsp"``/``"h36m"``), None when it has none.
    joints: Optional[str] = None
    #: Video test sets (:func:`read_vibe_sequences`): each frame's sequence name, the frames of a sequence next to
    #: each other in play order, and its ``frame_id`` (N,) there; None for still frames.
    sequence: Optional[list[str]] = None
    frame_id: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.imgname)

    @property
    def boxes(self) -> np.ndarray:
        """``(N, 4)`` x0, y0, x1, y1 in pixels."""
        half = self.box_size / 2
        return np.concatenate([self.center - half, self.center + half], 1)

    def subset(self, index) -> "StillFrames":
        index = np.asarray(index, np.int64)
        return StillFrames(self.path, [self.imgname[i] for i in index], self.center[index], self.box_size[index],
                           self.lsp14[index], self.labelled[index], self.layout, self.units, self.spread, self.joints,
                           None if self.sequence is None else [self.sequence[i] for i in index],
                           None if self.frame_id is None else self.frame_id[index])


def _fail(path: Path, what: str) -> StillFramesError:
    return StillFramesError(f"{path}: {what}")


def _in_metres(joints: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, str, float]:
    """Labelled joints ``(N, J, 3)`` (unlabelled ones zeroed) in metres, the units they came in (``"m"``/``"mm"``) and
    their spread: the median distance of a labelled joint from its skeleton's centre, in those units (people are not
    :data:`MM_ABOVE` metres wide)."""
    joints = np.where(labelled[..., None], joints, 0.0)
    count = labelled.sum(1, keepdims=True)
    centre = joints.sum(1, keepdims=True) / np.maximum(count, 1)[..., None]
    dist = np.linalg.norm(joints - centre, axis=-1)[labelled & (count > 1)]
    spread = float(np.median(dist)) if dist.size else 0.0
    units = "mm" if spread > MM_ABOVE else "m"
    return (joints / 1000.0 if units == "mm" else joints), units, spread


def read_still_frames(path: Union[str, Path]) -> StillFrames:
    """Read and check a SPIN/mmpose test ``.npz`` (see the module docstring)."""
    path = Path(path)
    layout_help = "expected imgname (N,), center (N, 2), scale (N,) and S (N, 24, 4) SPIN order or (N, 17, 4) Human3.6M order"
    if not path.is_file():
        raise StillFramesError(f"--frames {path} does not exist: pass the SPIN/mmpose test .npz ({layout_help})")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"not a readable .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); {layout_help}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _fail(path, f"one array, not an .npz of named arrays; {layout_help}")
    with npz:
        missing = [k for k in REQUIRED if k not in npz.files]
        if missing:
            raise _fail(path, f"no {', '.join(missing)} (it has {', '.join(npz.files) or 'nothing'}); {layout_help}")
        arrays = {}
        for key in REQUIRED:
            try:
                arrays[key] = npz[key]
            except ValueError:  # object arrays need pickle, which a data file should not
                raise _fail(path, f"{key} is stored as Python objects; re-save it as plain strings/numbers, e.g. "
                                  f"np.savez(out, {key}=np.asarray(d['{key}'], str if '{key}' == 'imgname' else float), ...)") from None
        definition = None
        if "joints" in npz.files:
            try:
                definition = str(npz["joints"].item()) if npz["joints"].size == 1 else None
            except ValueError:
                definition = None
            if definition not in JOINT_KEYS:
                raise _fail(path, f"its joints key is not one of {', '.join(JOINT_KEYS)}: say which points the labels are "
                                  "(np.savez(..., joints='h36m')) or leave the key out")
    name, center, scale, s = arrays["imgname"], arrays["center"], arrays["scale"], arrays["S"]
    if s.ndim != 3 or s.shape[1] not in LAYOUTS or s.shape[2] not in (3, 4):
        raise _fail(path, f"S has shape {s.shape}; {layout_help}")
    n = s.shape[0]
    if name.shape != (n,) or name.dtype.kind not in "US":
        raise _fail(path, f"imgname has shape {name.shape} and dtype {name.dtype}; expected ({n},) strings, one per frame of S")
    if center.shape != (n, 2):
        raise _fail(path, f"center has shape {center.shape}; expected ({n}, 2): the box centre in pixels, one per frame of S")
    if scale.shape not in ((n,), (n, 1), (n, 2)):
        raise _fail(path, f"scale has shape {scale.shape}; expected ({n},): the box side in pixels / 200, one per frame of S")
    if n == 0:
        raise _fail(path, "holds no frames")
    if not (np.issubdtype(center.dtype, np.number) and np.issubdtype(scale.dtype, np.number) and np.issubdtype(s.dtype, np.number)):
        raise _fail(path, f"center, scale and S must be numbers (they are {center.dtype}, {scale.dtype}, {s.dtype})")
    layout, to_lsp = LAYOUTS[s.shape[1]]
    joints = s[:, to_lsp, :3].astype(np.float64)
    conf = s[:, to_lsp, 3] if s.shape[2] == 4 else np.ones(joints.shape[:2])
    labelled = (conf > 0) & np.isfinite(joints).all(-1)
    if not labelled.any():
        raise _fail(path, "no joint has a confidence above 0 (the 4th column of S)")
    joints, units, spread = _in_metres(joints, labelled)
    size = np.broadcast_to(np.asarray(scale, np.float64).reshape(n, -1) * 200.0, (n, 2)).copy()
    names = [x.decode() if isinstance(x, bytes) else str(x) for x in name.tolist()]
    return StillFrames(path, names, center.astype(np.float64), size, joints.astype(np.float32), labelled, layout, units, spread,
                       definition)


#: Where the 14 LSP joints sit in the spin49 joints of a VIBE db's ``joints3D`` (its ground-truth part).
SPIN49_LSP14 = slice(25, 39)


def read_vibe_sequences(path: Union[str, Path]) -> StillFrames:
    """Read and check a VIBE test db of videos (the module docstring): the frames of each ``vid_name`` next to each
    other, in ``frame_id`` order (``StillFrames.sequence``, ``frame_id``); labels scored as the body's LSP joints."""
    from .vibe_format import VibeDbError, read_vibe_db

    path = Path(path)
    need = "vid_name, frame_id, img_name, bbox (cx, cy, w, h) and joints3D (N, 49, 3)"
    if not path.is_file():
        raise StillFramesError(f"--frames {path} does not exist: pass a VIBE test db (e.g. 3dpw_test_db.pt: {need}) or a SPIN .npz")
    try:
        db = read_vibe_db(path)
    except (VibeDbError, OSError) as exc:
        raise StillFramesError(f"{str(exc).splitlines()[0]}; a video test set needs {need}") from None
    missing = [k for k in ("img_name", "joints3D") if k not in db]
    if missing:
        raise _fail(path, f"no {', '.join(missing)}: a video test set needs {need}")
    names, frame_id = [str(x) for x in db["vid_name"]], np.asarray(db["frame_id"], np.int64)
    first = {}
    for name in names:
        first.setdefault(name, len(first))
    order = np.lexsort((frame_id, [first[n] for n in names]))  # sequences in file order, frames by frame_id
    joints = np.asarray(db["joints3D"], np.float64)[order][:, SPIN49_LSP14]
    valid = np.asarray(db["valid"], bool)[order] if "valid" in db else np.ones(len(order), bool)
    labelled = (np.abs(joints) > 0).any(-1) & np.isfinite(joints).all(-1) & valid[:, None]
    if not labelled.any():
        raise _fail(path, "joints3D holds no labelled LSP joint (its [25:39] part is all zero)")
    joints, units, spread = _in_metres(joints, labelled)
    bbox = np.asarray(db["bbox"], np.float64)[order]
    return StillFrames(path, [str(db["img_name"][i]) for i in order], bbox[:, :2].copy(), bbox[:, 2:4].copy(),
                       joints.astype(np.float32), labelled, "VIBE db (spin49)", units, spread, "lsp",
                       [names[i] for i in order], frame_id[order])


#: File suffixes read as VIBE db files (joblib); anything else as a SPIN/mmpose ``.npz``.
VIBE_DB_SUFFIXES = (".pt", ".pth", ".pkl", ".joblib")


def read_test_frames(path: Union[str, Path]) -> StillFrames:
    """A VIBE db of videos (:func:`read_vibe_sequences`: a file named ``*.pt`` as VIBE names them, or
    :data:`VIBE_DB_SUFFIXES`), else a SPIN/mmpose ``.npz`` of still frames (:func:`read_still_frames`)."""
    return read_vibe_sequences(path) if Path(path).suffix in VIBE_DB_SUFFIXES else read_still_frames(path)
