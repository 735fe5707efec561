"""Training data: VIBE db files, T-frame windows, video windows as torch Datasets, AMASS motion, 2D/3D mixing.

* :mod:`.vibe_format` — read / validate / write VIBE's per-frame db files;
* :mod:`.windows` — T-frame windows that never cross a video, person or frame gap;
* :mod:`.crops` — square bbox crops and the matching [-1, 1] keypoint normalisation;
* :mod:`.video_dataset` — :class:`VibeWindowDataset` (features or crops, labels, masks);
* :mod:`.amass` — :class:`AmassMotionDataset` (resampled AMASS motion for the discriminator);
* :mod:`.mixing` — batches mixing 2D-only and 3D data sets at fixed ratios, and :func:`collate`.
* :mod:`.still_frames` — still test frames in the SPIN/mmpose ``.npz`` layout (``dtsvibe-eval --frames``; not imported here).
"""

from .amass import AmassMotionDataset, MotionWindows, body_pose_6d_from_axis_angle, library_motion_windows, list_amass_files, load_amass_npz, resample_rotations
from ..preprocessing import crop_image, crop_square, normalise_keypoints
from .mixing import MixedBatchSampler, MixedDataset, batch_counts, build_mixed_loader, collate
from .vibe_format import NUM_KEYPOINTS, VibeDbError, find_vibe_db, read_vibe_db, validate_vibe_db, write_vibe_db
from .video_dataset import VibeWindowDataset
from .windows import make_windows, resolve_stride, segment_bounds

__all__ = [
    "AmassMotionDataset",
    "MotionWindows",
    "library_motion_windows",
    "MixedBatchSampler",
    "MixedDataset",
    "NUM_KEYPOINTS",
    "VibeDbError",
    "VibeWindowDataset",
    "batch_counts",
    "body_pose_6d_from_axis_angle",
    "build_mixed_loader",
    "collate",
    "crop_image",
    "crop_square",
    "find_vibe_db",
    "list_amass_files",
    "load_amass_npz",
    "make_windows",
    "normalise_keypoints",
    "read_vibe_db",
    "resample_rotations",
    "resolve_stride",
    "segment_bounds",
    "validate_vibe_db",
    "write_vibe_db",
]
