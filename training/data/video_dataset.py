"""T-frame windows of a VIBE db as a torch Dataset (features or image crops + labels + masks).

Each item is one window (see :mod:`training.data.windows`) as a dict:

=============  =================  ======================================================
key            shape / type       meaning
=============  =================  ======================================================
features       (T, F) float32     precomputed backbone features (``mode="features"``)
rgb            (T, 3, S, S) f32   ImageNet-normalised RGB crops (``mode="crops"``)
kp2d           (T, 49, 3) f32     x, y in the crop's [-1, 1] coordinates + confidence
kp3d           (T, 49, 3) f32     3D joints in metres (zeros where ``has_kp3d`` is False)
pose           (T, 72) f32        SMPL θ axis-angle (zeros where ``has_smpl`` is False)
betas          (T, 10) f32        SMPL β (zeros where ``has_smpl`` is False)
bbox           (T, 4) f32         the db's ``(cx, cy, w, h)`` in image pixels
frame_ids      (T,) int64         the db's ``frame_id``
valid          (T,) bool          the db's ``valid`` (all True if absent)
has_kp2d       (T,) bool          valid and some 2D confidence > 0
has_kp3d       (T,) bool          valid, ``joints3D`` present and not all zero
has_smpl       (T,) bool          valid, ``pose``/``shape`` present and not both all zero
vid_name       str                the window's video/person id
=============  =================  ======================================================

Where a mask is False, the label is zero-filled (and the 2D confidence set to 0), so items of 2D-only
and 3D data sets share one layout and can be batched together; the losses take the masks as
``valid``. An all-zero ``joints3D`` frame, or a frame whose ``pose`` and ``shape`` are both all zero,
counts as unlabelled (2D-only db files often carry zero-filled 3D arrays).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..preprocessing import crop_image, imagenet_normalise, normalise_keypoints
from .vibe_format import NUM_KEYPOINTS, read_vibe_db, validate_vibe_db
from .windows import make_windows, resolve_stride

__all__ = ["VibeWindowDataset"]

Mode = Literal["features", "crops"]


class VibeWindowDataset(Dataset):
    """Windows of ``seq_len`` consecutive frames of one VIBE db (file path or dict).

    Args:
        db: a db file (joblib, see :mod:`training.data.vibe_format`) or an already loaded dict.
        seq_len: T, frames per window.
        stride / overlap: step between window starts (default T, no overlap); overlap = T − stride.
        mode: ``"features"`` (the db's ``features``) or ``"crops"`` (crops cut from ``img_name``).
        crop_size: S, the crop's side in pixels (crops mode).
        scale: crop side = scale · max(bbox w, h) (VIBE: 1.2); used for the 2D normalisation in both
            modes. Use 1.0 if the db's boxes already include the margin.
        image_root: folder that relative ``img_name`` paths are relative to (default: as stored).
        name: a label for messages (default: the file name).
    """

    def __init__(
        self,
        db: Union[str, Path, Mapping[str, Any]],
        seq_len: int = 16,
        stride: Optional[int] = None,
        overlap: Optional[int] = None,
        mode: Mode = "features",
        crop_size: int = 224,
        scale: float = 1.2,
        image_root: Optional[Union[str, Path]] = None,
        name: Optional[str] = None,
    ) -> None:
        if isinstance(db, (str, Path)):
            self.name = name or Path(db).name
            self.db = read_vibe_db(db)
        else:
            self.name = name or "<dict>"
            self.db = validate_vibe_db(db, source=self.name)
        if mode not in ("features", "crops"):
            raise ValueError(f"{self.name}: mode must be 'features' or 'crops', got {mode!r}")
        if mode == "features" and "features" not in self.db:
            raise ValueError(f"{self.name}: mode 'features' needs the key 'features'; use mode='crops' or precompute features")
        if mode == "crops" and "img_name" not in self.db:
            raise ValueError(f"{self.name}: mode 'crops' needs the key 'img_name'; use mode='features'")
        self.mode: Mode = mode
        self.seq_len = int(seq_len)
        self.stride = resolve_stride(self.seq_len, stride, overlap)
        self.crop_size = int(crop_size)
        self.scale = float(scale)
        self.image_root = Path(image_root) if image_root is not None else None
        self.windows = make_windows(self.db["vid_name"], self.db["frame_id"], self.seq_len, self.stride)
        self._masks = self._frame_masks()

    # -- per-frame label availability ---------------------------------------------------------------
    def _frame_masks(self) -> dict[str, np.ndarray]:
        db = self.db
        n = len(db["vid_name"])
        valid = db["valid"] if "valid" in db else np.ones(n, bool)
        has_kp2d = valid & (db["joints2D"][..., 2] > 0).any(axis=1)
        has_kp3d = valid & (db["joints3D"] != 0).reshape(n, -1).any(axis=1) if "joints3D" in db else np.zeros(n, bool)
        if "pose" in db and "shape" in db:
            has_smpl = valid & ((db["pose"] != 0).any(axis=1) | (db["shape"] != 0).any(axis=1))
        else:
            has_smpl = np.zeros(n, bool)
        return {"valid": valid, "has_kp2d": has_kp2d, "has_kp3d": has_kp3d, "has_smpl": has_smpl}

    def __len__(self) -> int:
        return len(self.windows)

    def __repr__(self) -> str:
        return f"VibeWindowDataset({self.name}, {len(self)} windows of {self.seq_len}, stride {self.stride}, {self.mode})"

    # -- items ------------------------------------------------------------------------------------
    def _image_path(self, name: str) -> Path:
        p = Path(name)
        if self.image_root is None or p.is_absolute():
            return p
        rooted = self.image_root / p
        return p if not rooted.exists() and p.exists() else rooted  # a path relative to the working folder still works

    def _crops(self, sl: slice, bbox: np.ndarray) -> np.ndarray:
        """(T, 3, S, S) float32 crops of the window's frames."""
        import cv2

        crops = []
        for name, box in zip(self.db["img_name"][sl], bbox):
            path = self._image_path(str(name))
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"{self.name}: cannot read image {path} (missing or not an image; set image_root?)")
            crop = crop_image(img, box, self.crop_size, self.scale)
            crops.append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        return imagenet_normalise(np.stack(crops))

    @staticmethod
    def _masked(db: Mapping[str, np.ndarray], key: str, sl: slice, mask: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
        """The key's rows in ``sl`` with unlabelled frames zeroed (all zeros if the key is absent)."""
        if key not in db:
            return torch.zeros((len(mask), *shape), dtype=torch.float32)
        x = np.array(db[key][sl], dtype=np.float32)
        x[~mask] = 0.0
        return torch.from_numpy(x)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name}: window {index} out of range ({len(self)} windows)")
        start, end = (int(v) for v in self.windows[index])
        sl = slice(start, end)
        db, m = self.db, {k: v[sl].copy() for k, v in self._masks.items()}
        bbox = db["bbox"][sl].astype(np.float32)
        kp2d = normalise_keypoints(db["joints2D"][sl], bbox, self.scale)
        kp2d[~m["has_kp2d"]] = 0.0
        item: dict[str, Any] = {
            "kp2d": torch.from_numpy(kp2d),
            "kp3d": self._masked(db, "joints3D", sl, m["has_kp3d"], (NUM_KEYPOINTS, 3)),
            "pose": self._masked(db, "pose", sl, m["has_smpl"], (72,)),
            "betas": self._masked(db, "shape", sl, m["has_smpl"], (10,)),
            "bbox": torch.from_numpy(bbox),
            "frame_ids": torch.from_numpy(db["frame_id"][sl].astype(np.int64)),
            "vid_name": str(db["vid_name"][start]),
        }
        item.update({k: torch.from_numpy(v) for k, v in m.items()})
        if self.mode == "features":
            item["features"] = torch.from_numpy(np.asarray(db["features"][sl], dtype=np.float32))
        else:
            item["rgb"] = torch.from_numpy(self._crops(sl, bbox))
        return item
