"""A track of a results folder (``realtime.recording``) as animation files: BVH (:mod:`.bvh`) and glTF 2.0
binary (:mod:`.gltf`), both from :func:`load_track_motion` (:mod:`.motion`). numpy/scipy only."""

from .bvh import BVHData, export_bvh, read_bvh, write_bvh
from .gltf import export_glb, read_accessor, read_glb, validate_glb, write_glb
from .motion import TrackMotion, list_tracks, load_track_motion

__all__ = [
    "BVHData", "TrackMotion", "export_bvh", "export_glb", "list_tracks", "load_track_motion", "read_accessor",
    "read_bvh", "read_glb", "validate_glb", "write_bvh", "write_glb",
]
