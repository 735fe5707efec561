"""Reading SMPL-format body model files into one in-memory form (numpy, no torch, no chumpy).

Three sources, one result (:class:`BodyModelData`):

* the embedded **open body** (``training/body/assets/open_body.npz``, built by
  ``tools/build_open_body.py``) and any file in the same format;
* official **SMPL** files a user downloads (``SMPL_NEUTRAL.pkl``, ``SMPL_MALE.pkl``, …; pickles
  whose arrays are chumpy objects, read here *without* chumpy installed), or their ``.npz`` forms;
* the extra regressors users have from VIBE/SPIN (``J_regressor_h36m.npy``,
  ``J_regressor_extra.npy``) next to the SMPL file.

The open-body ``.npz`` format (all float32 unless noted; metres, +y up, facing +z, rest T-pose)::

    v_template (V, 3)          faces int32 (F, 3)          shapedirs (V, 3, S)
    weights (V, 24)            parents int32 (24,)         J_regressor (24, V)
    landmark_names str (L,)    landmark_regressor (L, V)   meta: JSON string
    posedirs (V, 3, 207)       optional: pose-corrective blend shapes
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .joint_sets import (
    EXTRA_LANDMARKS,
    H36M_LANDMARKS,
    MEDIAPIPE_LANDMARKS,
    NUM_SMPL_JOINTS,
    SMPL_JOINTS,
    SMPL_PARENTS,
)

__all__ = [
    "BodyModelData",
    "BodyModelFileError",
    "OPEN_BODY_PATH",
    "load_body_file",
    "load_open_body",
    "load_smpl",
    "save_body_file",
]

OPEN_BODY_PATH = Path(__file__).resolve().parent / "assets" / "open_body.npz"

SMPL_HELP = (
    "register and download 'SMPL for Python' from https://smpl.is.tue.mpg.de, then put "
    "SMPL_NEUTRAL.pkl (or SMPL_MALE.pkl / SMPL_FEMALE.pkl) in that folder"
)
EXTRA_REGRESSOR_HELP = (
    "VIBE/SPIN users have it in their data folder (vibe_data/ or data/); put it next to the SMPL file"
)


class BodyModelFileError(ValueError):
    """A body-model file that is missing, unreadable or has the wrong shapes; one-line message."""


@dataclass
class BodyModelData:
    """An SMPL-format body in numpy. ``V`` vertices, ``S`` shape components, ``L`` landmarks."""

    v_template: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3) int32
    shapedirs: np.ndarray  # (V, 3, S)
    weights: np.ndarray  # (V, 24)
    parents: np.ndarray  # (24,) int32, parents[0] == -1
    j_regressor: np.ndarray  # (24, V)
    landmark_names: tuple[str, ...] = ()
    landmark_regressor: Optional[np.ndarray] = None  # (L, V)
    posedirs: Optional[np.ndarray] = None  # (V, 3, 207)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[-1])

    def validate(self, source: str) -> "BodyModelData":
        """Check every array's shape against the others; raise a one-line error naming the key."""
        v = self.v_template.shape[0] if self.v_template.ndim == 2 else -1
        expect = {
            "v_template": (self.v_template, (v, 3)),
            "faces": (self.faces, (None, 3)),
            "shapedirs": (self.shapedirs, (v, 3, None)),
            "weights": (self.weights, (v, NUM_SMPL_JOINTS)),
            "parents": (self.parents, (NUM_SMPL_JOINTS,)),
            "J_regressor": (self.j_regressor, (NUM_SMPL_JOINTS, v)),
        }
        if self.posedirs is not None:
            expect["posedirs"] = (self.posedirs, (v, 3, 9 * (NUM_SMPL_JOINTS - 1)))
        if self.landmark_regressor is not None:
            expect["landmark_regressor"] = (self.landmark_regressor, (len(self.landmark_names), v))
        for key, (arr, shape) in expect.items():
            ok = arr.ndim == len(shape) and all(s is None or a == s for a, s in zip(arr.shape, shape))
            if not ok or v <= 0:
                want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
                raise BodyModelFileError(
                    f"{source}: {key} has shape {tuple(arr.shape)}, expected {want} for a {v}-vertex body; "
                    "the file is damaged or not an SMPL-format body model"
                )
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= v):
            raise BodyModelFileError(f"{source}: faces index vertices outside 0..{v - 1}; the file is damaged")
        if tuple(int(p) for p in self.parents) != SMPL_PARENTS:
            raise BodyModelFileError(f"{source}: kinematic tree differs from SMPL's 24-joint tree")
        return self


# ---------------------------------------------------------------------------------------------------
# Our own .npz format.


def save_body_file(data: BodyModelData, path: str | Path) -> None:
    """Write ``data`` in the open-body ``.npz`` format (compressed, float32)."""
    arrays: dict[str, Any] = {
        "v_template": data.v_template.astype(np.float32),
        "faces": data.faces.astype(np.int32),
        "shapedirs": data.shapedirs.astype(np.float32),
        "weights": data.weights.astype(np.float32),
        "parents": data.parents.astype(np.int32),
        "J_regressor": data.j_regressor.astype(np.float32),
        "landmark_names": np.array(data.landmark_names, dtype=str),
        "landmark_regressor": (
            data.landmark_regressor if data.landmark_regressor is not None else np.zeros((0, data.num_vertices))
        ).astype(np.float32),
        "meta": np.array(json.dumps(data.meta)),
    }
    if data.posedirs is not None:
        arrays["posedirs"] = data.posedirs.astype(np.float32)
    np.savez_compressed(path, **arrays)


def _load_npz_format(path: Path) -> BodyModelData:
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if "landmark_regressor" not in files:  # an SMPL .npz (converted official model)
                return _smpl_from_mapping({k: z[k] for k in files}, path)
            missing = {"v_template", "faces", "shapedirs", "weights", "parents", "J_regressor"} - files
            if missing:
                raise BodyModelFileError(f"{path}: missing arrays {', '.join(sorted(missing))}; rebuild it with tools/build_open_body.py")
            lm = z["landmark_regressor"]
            return BodyModelData(
                v_template=z["v_template"].astype(np.float32),
                faces=z["faces"].astype(np.int32),
                shapedirs=z["shapedirs"].astype(np.float32),
                weights=z["weights"].astype(np.float32),
                parents=z["parents"].astype(np.int32),
                j_regressor=z["J_regressor"].astype(np.float32),
                landmark_names=tuple(str(n) for n in z["landmark_names"]),
                landmark_regressor=lm.astype(np.float32) if lm.size else None,
                posedirs=z["posedirs"].astype(np.float32) if "posedirs" in files else None,
                meta=json.loads(str(z["meta"])) if "meta" in files else {},
            ).validate(str(path))
    except BodyModelFileError:
        raise
    except Exception as exc:  # zip/npy errors from a truncated or foreign file
        raise BodyModelFileError(f"{path}: cannot read body model ({type(exc).__name__}: {exc}); the file is damaged or truncated") from None


def load_open_body(path: str | Path = OPEN_BODY_PATH) -> BodyModelData:
    """The embedded open default body (or another file in its format)."""
    path = Path(path)
    if not path.is_file():
        raise BodyModelFileError(
            f"{path}: open body file not found; it ships with the package, rebuild it with "
            "'python tools/build_open_body.py' (needs: pip install '.[body]')"
        )
    return _load_npz_format(path)


# ---------------------------------------------------------------------------------------------------
# Official SMPL files, without chumpy.


class _ChumpyStandIn:
    """Receives the pickled state of any chumpy object; :func:`_to_array` takes its values out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state


class _NoChumpyUnpickler(pickle.Unpickler):
    """Maps every class from the ``chumpy`` package to :class:`_ChumpyStandIn`."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        return super().find_class(module, name)


def _to_array(value: Any) -> Any:
    """ndarray from a chumpy stand-in (its ``x``/``a`` value), a scipy sparse matrix, or as is."""
    if isinstance(value, _ChumpyStandIn):
        for key in ("x", "a", "_state"):
            if key in value.__dict__:
                return _to_array(value.__dict__[key])
        raise BodyModelFileError("a chumpy object in the SMPL file holds no array value")
    if hasattr(value, "toarray"):  # scipy.sparse (J_regressor)
        return np.asarray(value.toarray())
    return value


def _read_smpl_pickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = _NoChumpyUnpickler(fh, encoding="latin1").load()
    except Exception as exc:
        raise BodyModelFileError(f"{path}: cannot unpickle SMPL model ({type(exc).__name__}: {exc}); download it again") from None
    if not isinstance(raw, dict):
        raise BodyModelFileError(f"{path}: expected a dict of SMPL arrays, got {type(raw).__name__}")
    return {k: _to_array(v) for k, v in raw.items()}


# Vertex ids of surface landmarks on SMPL's 6890-vertex topology (the ids widely used with SMPL, as
# published with the smplx package's vertex_ids; tests check them against it).
SMPL_VERTEX_IDS: dict[str, int] = {
    "nose": 332, "right_eye": 6260, "left_eye": 2800, "right_ear": 4071, "left_ear": 583,
    "left_big_toe": 3216, "left_small_toe": 3226, "left_heel": 3387,
    "right_big_toe": 6617, "right_small_toe": 6624, "right_heel": 6787,
    "left_thumb": 2746, "left_index": 2319, "left_pinky": 2673,
    "right_thumb": 6191, "right_index": 5782, "right_pinky": 6133,
}
# MediaPipe landmarks on SMPL. Body joints reuse J_regressor rows; face, hand and foot points reuse
# the vertex ids above. Eye corners and mouth corners have no published ids: they are the template
# vertices nearest to a fixed offset (metres, rest pose) from a known point — approximate.
_MP_FROM_JOINT = {n: n for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                                 "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
                                 "left_ankle", "right_ankle")}
_MP_FROM_VERTEX = {"nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear",
                   "right_ear": "right_ear", "left_pinky": "left_pinky", "right_pinky": "right_pinky",
                   "left_index": "left_index", "right_index": "right_index", "left_thumb": "left_thumb",
                   "right_thumb": "right_thumb", "left_heel": "left_heel", "right_heel": "right_heel",
                   "left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe"}
_MP_FROM_OFFSET = {  # name: (anchor vertex landmark, offset x, y, z); +x is the body's left
    "left_eye_inner": ("left_eye", -0.015, 0.0, 0.0), "left_eye_outer": ("left_eye", 0.015, 0.0, -0.005),
    "right_eye_inner": ("right_eye", 0.015, 0.0, 0.0), "right_eye_outer": ("right_eye", -0.015, 0.0, -0.005),
    "mouth_left": ("nose", 0.025, -0.045, -0.015), "mouth_right": ("nose", -0.025, -0.045, -0.015),
}


def _smpl_landmarks(v_template: np.ndarray, j_regressor: np.ndarray, folder: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Landmark names and regressor for official SMPL (extra regressors only when their files exist)."""
    n_verts = v_template.shape[0]

    def one_hot(idx: int) -> np.ndarray:
        row = np.zeros(n_verts, np.float32)
        row[idx] = 1.0
        return row

    names: list[str] = []
    rows: list[np.ndarray] = []
    for file_name, prefix, joint_names in (
        ("J_regressor_h36m.npy", "h36m", H36M_LANDMARKS),
        ("J_regressor_extra.npy", "extra", EXTRA_LANDMARKS),
    ):
        reg_path = folder / file_name
        if reg_path.is_file():
            reg = np.load(reg_path).astype(np.float32)
            if reg.shape != (len(joint_names), n_verts):
                raise BodyModelFileError(
                    f"{reg_path}: shape {reg.shape}, expected {(len(joint_names), n_verts)}; it belongs to another body model"
                )
            names += [f"{prefix}/{n}" for n in joint_names]
            rows += list(reg)
    if n_verts == 6890:  # surface landmarks are defined on SMPL's own topology
        vertex_names = ("nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
                        "left_heel", "right_big_toe", "right_small_toe", "right_heel")
        names += [f"vertex/{n}" for n in vertex_names]
        rows += [one_hot(SMPL_VERTEX_IDS[n]) for n in vertex_names]
        for mp in MEDIAPIPE_LANDMARKS:
            if mp in _MP_FROM_JOINT:
                row = j_regressor[SMPL_JOINTS.index(_MP_FROM_JOINT[mp])]
            elif mp in _MP_FROM_VERTEX:
                row = one_hot(SMPL_VERTEX_IDS[_MP_FROM_VERTEX[mp]])
            else:
                anchor, *offset = _MP_FROM_OFFSET[mp]
                target = v_template[SMPL_VERTEX_IDS[anchor]] + np.asarray(offset, np.float32)
                row = one_hot(int(np.argmin(np.linalg.norm(v_template - target, axis=1))))
            names.append(f"mp/{mp}")
            rows.append(row.astype(np.float32))
    regressor = np.stack(rows) if rows else np.zeros((0, n_verts), np.float32)
    return tuple(names), regressor


def _smpl_from_mapping(raw: dict[str, Any], path: Path) -> BodyModelData:
    missing = {"v_template", "f", "shapedirs", "weights", "J_regressor", "kintree_table"} - set(raw)
    if missing:
        raise BodyModelFileError(f"{path}: not an SMPL model file (missing {', '.join(sorted(missing))}); {SMPL_HELP}")
    v_template = np.asarray(raw["v_template"], np.float32)
    kintree = np.asarray(raw["kintree_table"]).astype(np.int64)
    parents = kintree[0].copy()
    parents[0] = -1
    j_regressor = np.asarray(raw["J_regressor"], np.float32)
    posedirs = np.asarray(raw["posedirs"], np.float32) if "posedirs" in raw else None
    names, landmark_regressor = _smpl_landmarks(v_template, j_regressor, path.parent)
    return BodyModelData(
        v_template=v_template,
        faces=np.asarray(raw["f"]).astype(np.int32),
        shapedirs=np.asarray(raw["shapedirs"], np.float32),
        weights=np.asarray(raw["weights"], np.float32),
        parents=parents.astype(np.int32),
        j_regressor=j_regressor,
        landmark_names=names,
        landmark_regressor=landmark_regressor if len(names) else None,
        posedirs=posedirs,
        meta={"name": "smpl", "source": str(path), "units": "m", "up": "+y", "forward": "+z"},
    ).validate(str(path))


def load_smpl(path: str | Path, gender: str = "neutral") -> BodyModelData:
    """Official SMPL: a ``.pkl``/``.npz`` file, or a folder holding ``SMPL_<GENDER>.pkl``/``.npz``."""
    path = Path(path)
    if path.is_dir():
        folder = path
        stem = f"SMPL_{gender.upper()}"
        candidates = [folder / f"{stem}.pkl", folder / f"{stem}.npz", folder / "smpl" / f"{stem}.pkl"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise BodyModelFileError(f"{folder}: no {stem}.pkl or {stem}.npz here; {SMPL_HELP}")
        path = found
    elif not path.is_file():
        raise BodyModelFileError(f"{path}: SMPL model file not found; {SMPL_HELP}")
    if path.suffix == ".npz":
        return _load_npz_format(path)
    return _smpl_from_mapping(_read_smpl_pickle(path), path)


def load_body_file(path: str | Path, gender: str = "neutral") -> BodyModelData:
    """Any supported body file: the open-body ``.npz`` format or official SMPL (file or folder)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".npz":
        return _load_npz_format(path)
    return load_smpl(path, gender)
