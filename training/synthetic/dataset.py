"""Torch data sets over synthetic clips: on the fly (:class:`SyntheticVideoDataset`) or from shards
on disk (:class:`SyntheticShardDataset`, written by :func:`write_shards` /
``tools/make_synthetic.py``). Both return the same dict of tensors for the same (seed, index, config):

=====================  ===================  ==========================================================
key                    shape, dtype         meaning
=====================  ===================  ==========================================================
``rgb``                (T, 3, S, S) float   crops, ImageNet-normalised (mean 0.485/0.456/0.406, std 0.229/0.224/0.225)
``flow``               (T, 2, S, S) float   exact backward flow in crop pixels (``flow[0] = 0``), see ``training.losses``
``mask``               (T, S, S) float      1 where the labelled person is visible
``pose``               (T, 72) float        axis-angle, root in the camera frame
``betas``              (T, B) float         shape (B = 10 by default)
``cam``                (T, 3) float         weak-perspective (s, tx, ty) fitted to the 2D joints
``kp3d``               (T, 49, 3) float     spin49 joints of body(pose, betas), metres, camera axes
``kp2d``               (T, 49, 3) float     spin49: x, y normalised crop coords + visibility (0/1)
``kp2d_<set>``         (T, K, 3) float      smpl24, lsp14, h36m17, mediapipe33 likewise
``has_kp3d``           (T,) bool            all true
``has_smpl``           (T,) bool            all true
``has_kp2d``, ``valid``  (T,) bool            all true (as in VIBE-format items, so the two mix in a batch)
=====================  ===================  ==========================================================

With ``extra_keys=True`` also: ``transl`` (T, 3), ``crop_K`` (T, 3, 3) (the crop's pinhole
intrinsics), ``bbox`` (T, 3) (crop box in the virtual image), ``K`` (3, 3), ``R`` (T, 3, 3), ``t`` (T, 3).

**Shard format** (``format = "dtsvibe-synthetic"``, version 1): ``manifest.json`` (seed, generator
config, clip count, shard list) and ``shard-00000.tar`` … Each clip ``i`` is two tar members:
``{i:08d}.rgb.png`` (the T frames stacked vertically, RGB, lossless) and ``{i:08d}.npz`` (flow
float16, mask bit-packed, every label array, ``meta`` JSON, and any ``mp_*`` arrays: what BlazePose, run
as the live app runs it, said about the person in each frame — ``tools/make_synthetic.py --blazepose``).
Writing resumes: a shard already complete on disk is kept, not generated again.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..blazepose_input import shard_features, world_in_image_axes
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD
from .generator import KP_SETS, SyntheticConfig, SyntheticGenerator
from .motion import MotionSource

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "clip_to_sample", "SyntheticVideoDataset", "SyntheticShardDataset",
    "write_shards", "encode_clip", "decode_clip", "FORMAT", "FORMAT_VERSION", "ShardError",
]

#: Arrays that carry BlazePose's outputs (MediaPipe in the loop) start with this.
MP_PREFIX = "mp_"
#: Marks clips whose ``mp_world`` is in the image's axes (all written since 2026-11-29; older ones are turned on reading).
WORLD_AXES_KEY = "world_axes"
FORMAT = "dtsvibe-synthetic"
FORMAT_VERSION = 1
_LABELS = ("pose", "betas", "transl", "cam", "kp3d", "K", "R", "t", "bbox", "crop_K", "crop_proj") + tuple(
    f"kp2d_{s}" for s in KP_SETS
)
_EXTRA = ("transl", "crop_K", "bbox", "K", "R", "t")


def clip_to_sample(clip: dict[str, Any], extra_keys: bool = False) -> dict[str, torch.Tensor]:
    """A generator clip (numpy) → the data set's dict of tensors (see the module docstring)."""
    t = clip["rgb"].shape[0]
    rgb = torch.from_numpy(clip["rgb"]).permute(0, 3, 1, 2).float().div_(255.0)
    rgb = (rgb - torch.from_numpy(IMAGENET_MEAN)[:, None, None]) / torch.from_numpy(IMAGENET_STD)[:, None, None]
    out = {
        "rgb": rgb.contiguous(),
        "flow": torch.from_numpy(clip["flow"].astype(np.float32)),
        "mask": torch.from_numpy(clip["mask"].astype(np.float32)),
        "pose": torch.from_numpy(clip["pose"]),
        "betas": torch.from_numpy(clip["betas"]),
        "cam": torch.from_numpy(clip["cam"]),
        "kp3d": torch.from_numpy(clip["kp3d"]),
        "kp2d": torch.from_numpy(clip["kp2d_spin49"]),
        "has_kp3d": torch.ones(t, dtype=torch.bool),
        "has_smpl": torch.ones(t, dtype=torch.bool),
        "has_kp2d": torch.ones(t, dtype=torch.bool),
        "valid": torch.ones(t, dtype=torch.bool),
    }
    for s in KP_SETS:
        if s != "spin49":
            out[f"kp2d_{s}"] = torch.from_numpy(clip[f"kp2d_{s}"])
    if extra_keys:
        for k in _EXTRA:
            out[k] = torch.from_numpy(np.asarray(clip[k], np.float32))
    if f"{MP_PREFIX}landmarks" in clip:  # the BlazePose V-stream's input, made as the live app makes it
        out["blazepose"] = torch.from_numpy(shard_features(clip))
    for k, v in clip.items():  # BlazePose's outputs (``mp_*``): found as bool, the mask as 0‥1, the rest float32
        if k.startswith(MP_PREFIX):
            v = np.asarray(v)
            out[k] = torch.from_numpy(v.astype(bool) if k == f"{MP_PREFIX}found" else
                                      v.astype(np.float32) / (255.0 if v.dtype == np.uint8 else 1.0))
    return out


class SyntheticVideoDataset(Dataset):
    """Synthetic clips made on demand: item ``i`` is clip ``i`` of generator ``seed`` (deterministic).

    Works with DataLoader workers (each makes its own GL context). ``config`` overrides every
    generator setting; ``seq_len``/``crop_size``/``num_betas`` are shortcuts for the common ones.
    """

    def __init__(
        self,
        seed: int = 0,
        length: int = 10000,
        seq_len: int = 16,
        crop_size: int = 224,
        num_betas: int = 10,
        config: Optional[SyntheticConfig] = None,
        motion_source: Optional[MotionSource] = None,
        extra_keys: bool = False,
        body=None,
    ) -> None:
        cfg = config or SyntheticConfig()
        if config is None:
            cfg.seq_len, cfg.crop_size, cfg.num_betas = seq_len, crop_size, num_betas
        self.config = cfg
        self.seed, self.length, self.extra_keys = int(seed), int(length), extra_keys
        self.generator = SyntheticGenerator(seed, cfg, body=body, motion_source=motion_source)

    def __len__(self) -> int:
        return self.length

    def clip(self, index: int) -> dict[str, Any]:
        """The raw numpy clip (uint8 images, float16 flow, labels, ``meta``)."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.generator.clip(index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return clip_to_sample(self.clip(index), self.extra_keys)


# -- shards ---------------------------------------------------------------------------------------
def encode_clip(clip: dict[str, Any]) -> tuple[bytes, bytes]:
    """A clip → (PNG bytes of the stacked frames, npz bytes of everything else)."""
    t, s = clip["rgb"].shape[:2]
    stacked = clip["rgb"].reshape(t * s, s, 3)
    ok, png = cv2.imencode(".png", cv2.cvtColor(stacked, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    arrays = {k: clip[k] for k in _LABELS}
    arrays["flow"] = clip["flow"].astype(np.float16)
    arrays["mask"] = np.packbits(clip["mask"].astype(bool), axis=-1)
    arrays["mask_shape"] = np.array(clip["mask"].shape)
    arrays["meta"] = np.array(json.dumps(clip["meta"]))
    arrays.update({k: v for k, v in clip.items() if k.startswith(MP_PREFIX)})
    if "mp_world" in clip:
        arrays[WORLD_AXES_KEY] = np.array("image")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return png.tobytes(), buf.getvalue()


def decode_clip(png: bytes, npz: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode_clip`."""
    z = np.load(io.BytesIO(npz), allow_pickle=False)
    out: dict[str, Any] = {k: z[k] for k in _LABELS}
    t, s, _ = (int(v) for v in z["mask_shape"])
    out["mask"] = np.unpackbits(z["mask"], axis=-1, count=s).astype(np.uint8).reshape(t, s, s)
    out["flow"] = z["flow"]
    out["meta"] = json.loads(str(z["meta"]))
    out.update({k: z[k] for k in z.files if k.startswith(MP_PREFIX)})
    if "mp_world" in out and "mp_roi" in out and WORLD_AXES_KEY not in z.files:
        # written before 2026-11-29: BlazePose's world landmarks in its turned region's axes; into the image's
        out["mp_world"] = world_in_image_axes(out["mp_world"], np.asarray(out["mp_roi"])[..., 3])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    out["rgb"] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).reshape(t, s, s, 3)
    return out


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # reproducible archives
    tar.addfile(info, io.BytesIO(data))


def write_shards(
    out_dir: str | os.PathLike,
    num_clips: int,
    shard_size: int = 64,
    seed: int = 0,
    config: Optional[SyntheticConfig] = None,
    motion_source: Optional[MotionSource] = None,
    progress: Optional[Callable[[int], None]] = None,
    annotate: Optional[Callable[[dict[str, Any]], None]] = None,
    annotation: Optional[dict[str, Any]] = None,
) -> Path:
    """Generate clips ``0 … num_clips−1`` of ``seed`` into tar shards + ``manifest.json``; returns its path.

    ``annotate(clip)`` adds arrays to each clip before it is written (``mp_*``: BlazePose's outputs);
    ``annotation`` describes it in the manifest. A shard file already there with its clips is kept (resume
    after an interruption: clips are deterministic per (seed, index), so the result is the same)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config or SyntheticConfig()
    gen = SyntheticGenerator(seed, cfg, motion_source=motion_source)
    shards = []
    t0 = time.time()
    for first in range(0, num_clips, shard_size):
        count = min(shard_size, num_clips - first)
        name = f"shard-{first // shard_size:05d}.tar"
        shards.append({"file": name, "first": first, "count": count})
        if _complete(out / name, first, count):
            if progress is not None:
                progress(count)
            continue
        tmp = out / (name + ".part")
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for i in range(first, first + count):
                clip = gen.clip(i)
                if annotate is not None:
                    annotate(clip)
                png, npz = encode_clip(clip)
                _add(tar, f"{i:08d}.rgb.png", png)
                _add(tar, f"{i:08d}.npz", npz)
                if progress is not None:
                    progress(1)
        os.replace(tmp, out / name)
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "seed": int(seed),
        "num_clips": int(num_clips),
        "shard_size": int(shard_size),
        "seq_len": cfg.seq_len,
        "crop_size": cfg.crop_size,
        "num_betas": cfg.num_betas,
        "config": cfg.to_dict(),
        "custom_motion_source": motion_source is not None,
        "annotation": annotation,
        "shards": shards,
        "seconds": round(time.time() - t0, 2),
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def _complete(path: Path, first: int, count: int) -> bool:
    """Whether the shard file at ``path`` holds clips ``first … first+count−1`` (two members each)."""
    if not path.is_file():
        return False
    try:
        with tarfile.open(path, "r") as tar:
            names = set(tar.getnames())
    except (tarfile.TarError, OSError):
        return False
    return all(f"{i:08d}.rgb.png" in names and f"{i:08d}.npz" in names for i in range(first, first + count))


class ShardError(ValueError):
    """A shard file that cannot be read (cut short, damaged, or not ours); the message names it and the fix."""


class SyntheticShardDataset(Dataset):
    """Clips read back from a folder written by :func:`write_shards` (same dict as the on-the-fly set)."""

    def __init__(self, root: str | os.PathLike, extra_keys: bool = False) -> None:
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: write shards with tools/make_synthetic.py --out {self.root}")
        self.manifest = json.loads(path.read_text())
        if self.manifest.get("format") != FORMAT or self.manifest.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a {FORMAT} v{FORMAT_VERSION} manifest")
        self.extra_keys = extra_keys
        self._shard_of = {}
        for k, sh in enumerate(self.manifest["shards"]):
            for i in range(sh["first"], sh["first"] + sh["count"]):
                self._shard_of[i] = k
        self._open: dict[int, tarfile.TarFile] = {}
        self._pid = None

    def __len__(self) -> int:
        return int(self.manifest["num_clips"])

    def _tar(self, k: int) -> tarfile.TarFile:
        if self._pid != os.getpid():  # a worker after fork: reopen
            self._open, self._pid = {}, os.getpid()
        if k not in self._open:
            self._open[k] = tarfile.open(self.root / self.manifest["shards"][k]["file"], "r")
        return self._open[k]

    def clip(self, index: int) -> dict[str, Any]:
        if index not in self._shard_of:
            raise IndexError(index)
        k = self._shard_of[index]
        try:
            tar = self._tar(k)
            png = tar.extractfile(f"{index:08d}.rgb.png").read()
            npz = tar.extractfile(f"{index:08d}.npz").read()
            return decode_clip(png, npz)
        except (tarfile.TarError, OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            self._open.pop(k, None)
            raise ShardError(
                f"{self.root / self.manifest['shards'][k]['file']}: clip {index} cannot be read ({type(exc).__name__}: "
                f"{exc}); run tools/make_synthetic.py --out {self.root} again with the arguments that made it (its "
                "manifest.json): it remakes shards that are cut short or damaged") from None

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return clip_to_sample(self.clip(index), self.extra_keys)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_open"], state["_pid"] = {}, None
        return state
