"""The recorded-motion library: CMU mocap retargeted onto the body's 24 SMPL joints (numpy only).

The file (``assets/cmu_motion.npz``, built by ``tools/build_motion_library.py``) holds every clip at
30 fps in the body's axes (+y up, the T-pose faces +z, left = +x; the generator's world frame):

* ``pose`` (N, 24, 3) float16 axis-angle (SMPL joint order, ``joint_names``), ``transl`` (N, 3)
  float32 metres (``body(pose, betas).joints + transl`` puts the body, with its subject's ``betas``,
  where the subject was; floor ≈ y 0);
* per subject: ``subject_ids``, ``subject_betas`` (S, 10) float16 — the body's shape fitted to the
  subject's skeleton, the shape the poses were retargeted onto (within the generator's own shapes);
* per clip: ``clip_names``, ``clip_subjects``, ``clip_splits`` (train / val / test, by subject),
  ``clip_starts``, ``clip_lengths``, ``retarget_error_m`` (mean joint error against the CMU skeleton,
  subject shape; ``retarget_error_mean_shape_m`` the same on the mean shape);
* ``fps``, ``split_subjects`` (JSON), ``acknowledgement`` and ``terms`` (CMU's, verbatim), ``source``.

Mirrored motion is not stored: :func:`mirror_motion` makes it exactly (swap left/right joints, negate
the y and z axis-angle components and the x translation), and :meth:`MotionLibrary.clips` adds the
mirrored copies with ``mirrored=True`` when asked.

    lib = load_motion_library()
    train = lib.clips("train", mirror=True)
    pose, transl = lib.sample_window(np.random.default_rng(0), 16, split="train")
    source = lib.motion_source("train")    # a ``motion_source`` for SyntheticGenerator
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = [
    "MOTION_LIBRARY_PATH", "SPLITS", "BODY_PARTS", "MotionClip", "MotionLibrary", "load_motion_library", "mirror_motion",
    "mirror_permutation", "body_part_joints",
]

MOTION_LIBRARY_PATH = Path(__file__).resolve().parent / "assets" / "cmu_motion.npz"
SPLITS = ("train", "val", "test")
#: The limbs :meth:`MotionLibrary.sample_window` can take from other windows (``part_mix``): each one's
#: joints carry local rotations only, so a limb moved onto another body keeps its own bends.
BODY_PARTS = ("legs", "left_arm", "right_arm")


def body_part_joints(joint_names: tuple[str, ...] | list[str], part: str) -> np.ndarray:
    """Indices of the joints whose local rotations make ``part`` (one of :data:`BODY_PARTS`)."""
    limb = {
        "legs": lambda n: any(k in n for k in ("hip", "knee", "ankle", "foot")),
        "left_arm": lambda n: n.startswith("left_") and any(k in n for k in ("collar", "shoulder", "elbow", "wrist", "hand")),
        "right_arm": lambda n: n.startswith("right_") and any(k in n for k in ("collar", "shoulder", "elbow", "wrist", "hand")),
    }
    if part not in limb:
        raise ValueError(f"part must be one of {BODY_PARTS}, got {part!r}")
    return np.array([i for i, n in enumerate(joint_names) if limb[part](n)], dtype=int)


def mirror_permutation(joint_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Index array (J,) that swaps every ``left_*`` joint with its ``right_*`` partner."""
    index = {n: i for i, n in enumerate(joint_names)}
    swap = {"left_": "right_", "right_": "left_"}
    out = []
    for n in joint_names:
        side = next((s for s in swap if n.startswith(s)), None)
        out.append(index[swap[side] + n[len(side):]] if side else index[n])
    return np.asarray(out)


def mirror_motion(pose: np.ndarray, transl: Optional[np.ndarray], joint_names) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The left-right mirror image (reflection x → −x) of pose (..., 24, 3) axis-angle and transl (..., 3).

    A rotation R reflected is M·R·M with M = diag(−1, 1, 1), whose axis-angle is (x, −y, −z); left and
    right joints trade places. Valid for a body symmetric about x = 0 in its rest pose.
    """
    perm = mirror_permutation(joint_names)
    flip = np.array([1.0, -1.0, -1.0], dtype=pose.dtype)
    out = pose[..., perm, :] * flip
    if transl is None:
        return out, None
    t = np.array(transl, copy=True)
    t[..., 0] *= -1
    return out, t


@dataclass
class MotionClip:
    name: str  # CMU trial, e.g. "02_03"
    subject: int
    split: str
    pose: np.ndarray  # (T, 24, 3) float32 axis-angle
    transl: np.ndarray  # (T, 3) float32 metres
    mirrored: bool = False
    betas: Optional[np.ndarray] = None  # (10,) float32, the subject's fitted shape (None in older library files)

    def __len__(self) -> int:
        return len(self.pose)


class MotionLibrary:
    """Clips of one library file; see the module docstring."""

    def __init__(self, path: str | Path = MOTION_LIBRARY_PATH) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.pose = z["pose"]
            self.transl = z["transl"]
            self.fps = float(z["fps"])
            self.joint_names = tuple(str(n) for n in z["joint_names"])
            self.clip_names = [str(n) for n in z["clip_names"]]
            self.clip_subjects = z["clip_subjects"].astype(int)
            self.clip_splits = [str(s) for s in z["clip_splits"]]
            self.clip_starts = z["clip_starts"].astype(int)
            self.clip_lengths = z["clip_lengths"].astype(int)
            self.retarget_error_m = z["retarget_error_m"]
            # Library files from before the shape fit lack these: no subject shapes, no mean-shape errors.
            fitted = "subject_betas" in z.files
            #: subject → fitted betas (10,) float32
            self.subject_betas: dict[int, np.ndarray] = (
                {int(s): b.astype(np.float32) for s, b in zip(z["subject_ids"], z["subject_betas"])} if fitted else {}
            )
            self.retarget_error_mean_shape_m: Optional[np.ndarray] = z["retarget_error_mean_shape_m"] if fitted else None
            self.split_subjects: dict[str, list[int]] = json.loads(str(z["split_subjects"]))
            self.acknowledgement = str(z["acknowledgement"])
            self.terms = str(z["terms"])
            self.source = str(z["source"])

    def __len__(self) -> int:
        return len(self.clip_names)

    def _clip(self, i: int, mirrored: bool) -> MotionClip:
        s, n = self.clip_starts[i], self.clip_lengths[i]
        pose = self.pose[s : s + n].astype(np.float32)
        transl = self.transl[s : s + n].astype(np.float32)
        if mirrored:
            pose, transl = mirror_motion(pose, transl, self.joint_names)
        subject = int(self.clip_subjects[i])
        return MotionClip(self.clip_names[i], subject, self.clip_splits[i], pose, transl, mirrored, self.subject_betas.get(subject))

    def clips(self, split: Optional[str] = None, mirror: bool = False) -> list[MotionClip]:
        """Clips of ``split`` (None: all), plus their mirror images (``mirrored=True``) if ``mirror``."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        idx = [i for i in range(len(self)) if split is None or self.clip_splits[i] == split]
        out = [self._clip(i, False) for i in idx]
        if mirror:
            out += [self._clip(i, True) for i in idx]
        return out

    def sample_window(
        self, rng: np.random.Generator, num_frames: int, split: str = "train", fps: Optional[float] = None,
        p_mirror: float = 0.5, part_mix: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A random window → (pose (T, 24, 3) float64, transl (T, 3) float64), T = ``num_frames``.

        Clips are drawn in proportion to their length; ``fps`` (default: the library's) resamples by
        nearest-frame stepping; the window is mirrored with probability ``p_mirror``. ``part_mix``: the
        probability that the window's legs, and each arm on its own, move as in another random window
        (of the same split): poses the few training subjects never made together — a dancer's arms over
        a climber's legs — while each limb still moves as a person moved it. The root orientation, the
        horizontal translation, spine and head stay the first window's; the root's height comes with the legs. With ``part_mix`` 0 no extra draws are made.
        """
        pose, transl = self._window(rng, num_frames, split, fps, p_mirror)
        if part_mix > 0:
            for part in BODY_PARTS:
                if rng.random() < part_mix:
                    other, other_transl = self._window(rng, num_frames, split, fps, p_mirror)
                    idx = body_part_joints(self.joint_names, part)
                    pose[:, idx] = other[:, idx]
                    if part == "legs":  # the pelvis rides as high as the legs hold it (a crouch's low, a jump's high)
                        transl[:, 1] = other_transl[:, 1]
        return pose, transl

    def _window(
        self, rng: np.random.Generator, num_frames: int, split: str, fps: Optional[float], p_mirror: float
    ) -> tuple[np.ndarray, np.ndarray]:
        idx = [i for i in range(len(self)) if self.clip_splits[i] == split]
        if not idx:
            raise ValueError(f"the motion library has no clips in split {split!r}")
        step = self.fps / (fps or self.fps)
        lengths = self.clip_lengths[idx].astype(float)
        i = idx[int(rng.choice(len(idx), p=lengths / lengths.sum()))]
        span = int(np.ceil((num_frames - 1) * step)) + 1
        n = self.clip_lengths[i]
        start = int(rng.integers(0, max(n - span, 0) + 1))
        frames = self.clip_starts[i] + np.minimum(start + np.round(np.arange(num_frames) * step).astype(int), n - 1)
        pose = self.pose[frames].astype(np.float64)
        transl = self.transl[frames].astype(np.float64)
        if rng.random() < p_mirror:
            pose, transl = mirror_motion(pose, transl, self.joint_names)
        return pose, transl

    def motion_source(self, split: str = "train", p_mirror: float = 0.5, random_yaw: bool = True, part_mix: float = 0.0):
        """A ``motion_source(rng, num_frames, fps) → (pose (T, 72), transl (T, 3))`` for the synthetic
        generator: windows of ``split`` (limbs mixed across windows with ``part_mix``, see
        :meth:`sample_window`), turned by a random yaw about +y, starting at x = z = 0."""
        from scipy.spatial.transform import Rotation

        def source(rng: np.random.Generator, num_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
            pose, transl = self.sample_window(rng, num_frames, split, fps, p_mirror, part_mix)
            if random_yaw:
                turn = Rotation.from_rotvec([0.0, rng.uniform(-np.pi, np.pi), 0.0])
                pose[:, 0] = (turn * Rotation.from_rotvec(pose[:, 0])).as_rotvec()
                transl = turn.apply(transl)
            transl[:, [0, 2]] -= transl[0, [0, 2]]
            return pose.reshape(num_frames, 72), transl

        return source


def load_motion_library(path: str | Path = MOTION_LIBRARY_PATH) -> MotionLibrary:
    """The committed CMU motion library (or another file of the same layout)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no motion library at {path}; build it with tools/build_motion_library.py")
    return MotionLibrary(path)
