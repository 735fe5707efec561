"""AMASS motion for the motion discriminator: load ``.npz`` sequences, resample, cut into windows.

An AMASS file holds ``poses`` (N, 3·K) axis-angle (K joints, root first), ``trans`` (N, 3),
``mocap_framerate`` (or ``mocap_frame_rate``) and ``betas``. We keep SMPL's 24 joints:

* K = 24 (72 values, SMPL): taken as is;
* K ≥ 22 otherwise (SMPL-H: 52 joints = 22 body + 2×15 finger joints; SMPL-X: 55): joints 0..21 are
  SMPL's body joints, but joints 22 and 23 are finger (or jaw/eye) joints, not SMPL's hands, so the
  SMPL hands (22, 23) are set to zero (identity), as is usual for SMPL-H → SMPL.

Each sequence is resampled to ``fps`` by per-joint spherical interpolation (scipy ``Slerp``); an
integer ratio (120 → 30) keeps every k-th frame exactly. Windows of T frames are cut per sequence
(:mod:`training.data.windows`; sequences shorter than T are dropped).

Items: ``pose6d`` (T, 138) float32, 6D rotations (:func:`training.body.rotations.matrix_to_rot6d`) of
the 23 body joints (root dropped — the discriminator's input), ``pose`` (T, 72) float32 axis-angle of
all 24 joints, ``betas`` (T, 10) float32 (the file's first 10, zero-padded), ``seq_index`` int.
In a folder, AMASS's per-subject ``shape.npz`` files (β only) are skipped.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp
from torch.utils.data import Dataset

from ..body.rotations import axis_angle_to_matrix, matrix_to_rot6d
from .windows import resolve_stride, segment_windows

__all__ = ["AmassMotionDataset", "AmassSequence", "MotionWindows", "library_motion_windows", "body_pose_6d_from_axis_angle", "list_amass_files", "load_amass_npz", "resample_rotations", "to_smpl_pose"]

NUM_SMPL_JOINTS = 24
_FPS_KEYS = ("mocap_framerate", "mocap_frame_rate")
_SKIP_NAMES = ("shape.npz",)
#: Frame rates a motion file may declare (AMASS: 60–250 fps); others are damaged files.
_FPS_RANGE = (1.0, 10000.0)
#: What numpy raises for a file that is not an .npz, or for a damaged member of one.
_NPZ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)

PathLike = Union[str, Path]


class AmassSequence:
    """One loaded AMASS sequence: ``pose`` (N, 72) axis-angle float64, ``betas`` (10,), ``fps``, ``path``."""

    def __init__(self, pose: np.ndarray, betas: np.ndarray, fps: float, path: Optional[Path] = None) -> None:
        self.pose, self.betas, self.fps, self.path = pose, betas, float(fps), path

    def __len__(self) -> int:
        return len(self.pose)


def to_smpl_pose(poses: np.ndarray, source: str = "poses") -> np.ndarray:
    """(N, 3·K) axis-angle of an SMPL/SMPL-H/SMPL-X body → (N, 72) SMPL pose (see the module docstring)."""
    try:
        poses = np.asarray(poses, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: 'poses' must be numbers, got dtype {np.asarray(poses).dtype}") from None
    if poses.ndim != 2 or poses.shape[1] % 3 or poses.shape[1] < 66:
        raise ValueError(f"{source}: 'poses' has shape {poses.shape}, expected (N, 3·K) with K ≥ 22 joints")
    if poses.shape[1] == 3 * NUM_SMPL_JOINTS:
        return poses.copy()
    out = np.zeros((len(poses), 3 * NUM_SMPL_JOINTS), np.float64)
    out[:, :66] = poses[:, :66]
    return out


def load_amass_npz(path: PathLike) -> AmassSequence:
    """Read one AMASS ``.npz`` into an :class:`AmassSequence` (clear errors for missing keys)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AMASS file {path} does not exist")
    try:
        npz = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as exc:
        raise ValueError(f"{path}: not an AMASS .npz file ({_first_line(exc)})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an AMASS .npz archive of named arrays (poses, mocap_framerate, ...)")
    with npz as f:
        keys = set(f.files)
        if "poses" not in keys:
            raise KeyError(f"{path}: no key 'poses' (found {sorted(keys)}); is this an AMASS motion file?")
        fps_key = next((k for k in _FPS_KEYS if k in keys), None)
        if fps_key is None:
            raise KeyError(f"{path}: no frame rate key ('mocap_framerate' or 'mocap_frame_rate'); add it to the file")
        try:
            poses, fps_value = f["poses"], np.asarray(f[fps_key]).reshape(-1)
            betas_value = f["betas"] if "betas" in keys else np.zeros(0)
        except _NPZ_ERRORS as exc:
            raise ValueError(f"{path}: a damaged array in the .npz ({_first_line(exc)})") from None
        pose = to_smpl_pose(poses, str(path))
        try:
            fps = float(fps_value[0])
            b = np.asarray(betas_value, np.float64).reshape(-1)[:10]
        except (IndexError, TypeError, ValueError):
            raise ValueError(f"{path}: '{fps_key}' must be a number and 'betas' numbers "
                             f"(got {fps_value.dtype} of size {fps_value.size}, {np.asarray(betas_value).dtype})") from None
        betas = np.zeros(10, np.float64)
        betas[: len(b)] = b
    if not (math.isfinite(fps) and _FPS_RANGE[0] <= fps <= _FPS_RANGE[1]):
        raise ValueError(f"{path}: frame rate {fps} must be a number of frames per second in {_FPS_RANGE[0]:g}..{_FPS_RANGE[1]:g}")
    return AmassSequence(pose, betas, fps, path)


def _first_line(exc: BaseException) -> str:
    line = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def resample_rotations(pose: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample (N, 3·J) axis-angle poses from ``src_fps`` to ``dst_fps`` → (M, 3·J).

    Output frame k is at time k / dst_fps, for all such times within the sequence (M = floor((N−1)·
    dst/src) + 1). An integer ratio src/dst takes every (src/dst)-th frame exactly; otherwise each
    joint is interpolated by Slerp between the two neighbouring frames.
    """
    pose = np.asarray(pose, np.float64)
    n, d = pose.shape
    if n == 0:
        return pose.copy()
    ratio = src_fps / dst_fps
    step = round(ratio)
    if step >= 1 and abs(ratio - step) < 1e-9:
        return pose[::step].copy()
    m = int(np.floor((n - 1) / ratio + 1e-9)) + 1
    where = np.minimum(np.arange(m) * ratio, n - 1)  # positions in source frames
    if n == 1:
        return np.repeat(pose, m, axis=0)
    rotvecs = pose.reshape(n, d // 3, 3)
    out = np.empty((m, d // 3, 3), np.float64)
    times = np.arange(n, dtype=np.float64)
    for j in range(d // 3):
        out[:, j] = Slerp(times, Rotation.from_rotvec(rotvecs[:, j]))(where).as_rotvec()
    return out.reshape(m, d)


def list_amass_files(source: Union[PathLike, Sequence[PathLike]]) -> list[Path]:
    """The ``.npz`` files of a folder (recursive, sorted, ``shape.npz`` skipped), one file, or a list."""
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*.npz") if f.name not in _SKIP_NAMES)
            if not files:
                raise FileNotFoundError(f"no AMASS .npz motion files under {p} (download AMASS and unpack it there)")
            return files
        if not p.exists():
            raise FileNotFoundError(f"AMASS path {p} does not exist (a folder of .npz files or one .npz file)")
        return [p]
    files = [Path(s) for s in source]
    if not files:
        raise FileNotFoundError("empty AMASS file list")
    return files


def body_pose_6d_from_axis_angle(pose: torch.Tensor) -> torch.Tensor:
    """(..., 72) axis-angle of 24 joints → (..., 138) 6D rotations of the 23 body joints (root dropped)."""
    mats = axis_angle_to_matrix(pose.reshape(*pose.shape[:-1], NUM_SMPL_JOINTS, 3)[..., 1:, :])
    return matrix_to_rot6d(mats).flatten(-2)


class MotionWindows(Dataset):
    """T-frame windows of recorded motion for the motion discriminator, from sequences already at the
    training frame rate: ``poses`` list of (N_i, 72) axis-angle, ``betas`` list of (B,) (or None: zeros).

    Items as described in the module docstring. :class:`AmassMotionDataset` reads AMASS files into it;
    :func:`library_motion_windows` the project's CMU motion library (the paper's AMASS role where AMASS
    is not at hand)."""

    def __init__(self, poses: Sequence[np.ndarray], betas: Optional[Sequence[np.ndarray]] = None, seq_len: int = 16,
                 stride: Optional[int] = None, overlap: Optional[int] = None, num_betas: int = 10) -> None:
        self.seq_len = int(seq_len)
        self.stride = resolve_stride(self.seq_len, stride, overlap)
        self.poses = [np.asarray(p, np.float32).reshape(len(p), -1) for p in poses]
        zeros = np.zeros(num_betas, np.float32)
        self.betas = [np.asarray(b, np.float32) for b in betas] if betas is not None else [zeros] * len(self.poses)
        index = [(k, int(s)) for k, pose in enumerate(self.poses) for s in segment_windows(len(pose), self.seq_len, self.stride)]
        #: (W, 2): sequence index, first frame of each window.
        self.index = np.array(index, np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        k, s = (int(v) for v in self.index[i])
        e = s + self.seq_len
        pose = torch.from_numpy(self.poses[k][s:e].copy())
        return {
            "pose6d": body_pose_6d_from_axis_angle(pose),
            "pose": pose,
            "betas": torch.from_numpy(np.repeat(self.betas[k][None], self.seq_len, axis=0)),
            "seq_index": k,
        }


class AmassMotionDataset(MotionWindows):
    """T-frame windows of AMASS motion at ``fps`` (default 30, VIBE's rate).

    Args:
        source: a folder (searched recursively for ``.npz``), one file, or a list of files.
        fps: target frame rate; seq_len: T; stride / overlap: window step (default T).
    """

    def __init__(
        self,
        source: Union[PathLike, Sequence[PathLike]],
        fps: float = 30.0,
        seq_len: int = 16,
        stride: Optional[int] = None,
        overlap: Optional[int] = None,
    ) -> None:
        self.fps = float(fps)
        self.files = list_amass_files(source)
        poses, betas = [], []
        for path in self.files:
            seq = load_amass_npz(path)
            poses.append(resample_rotations(seq.pose, seq.fps, self.fps))
            betas.append(seq.betas)
        super().__init__(poses, betas, seq_len, stride, overlap)


def library_motion_windows(split: str = "train", seq_len: int = 16, mirror: bool = True,
                           stride: Optional[int] = None) -> MotionWindows:
    """Windows of the project's CMU motion library (``training/synthetic/assets/cmu_motion.npz``, 30 fps),
    one ``split`` (subjects never mixed across splits), with the mirrored clips when ``mirror``."""
    from ..synthetic.motion_library import load_motion_library

    clips = load_motion_library().clips(split, mirror=mirror)
    return MotionWindows([c.pose.reshape(len(c.pose), -1) for c in clips], None, seq_len, stride)
