"""Synthetic training video with exact labels: the body model rendered moving, with optical flow.

Modules: :mod:`.generator` (scene, camera, crop, labels), :mod:`.render` (headless OpenGL via Mesa
EGL: colour, depth, face ids and exact flow), :mod:`.motion` (procedural motions, recorded-motion
hook), :mod:`.appearance` (clothes, backgrounds), :mod:`.geometry` (camera maths),
:mod:`.dataset` (torch data sets and the shard format), :mod:`.motion_library` (CMU mocap retargeted onto
the body: :mod:`.bvh`, :mod:`.retarget`; coverage statistics in :mod:`.motion_coverage`).

    from training.synthetic import SyntheticVideoDataset, SyntheticShardDataset
    ds = SyntheticVideoDataset(seed=0, length=10000, seq_len=16, crop_size=224)
    sample = ds[0]            # dict of tensors: rgb, flow, mask, pose, betas, cam, kp3d, kp2d, ...
"""

from .dataset import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ShardError,
    SyntheticShardDataset,
    SyntheticVideoDataset,
    clip_to_sample,
    write_shards,
)
from .generator import KP_SETS, SyntheticConfig, SyntheticGenerator
from .motion import ArrayMotionSource, procedural_motion

__all__ = [
    "SyntheticVideoDataset", "SyntheticShardDataset", "SyntheticGenerator", "SyntheticConfig",
    "KP_SETS", "write_shards", "clip_to_sample", "ArrayMotionSource", "procedural_motion",
    "IMAGENET_MEAN", "IMAGENET_STD", "ShardError",
]
