"""Headless rendering of meshes to images (Open3D legacy Visualizer). See snapshot.py."""

from .snapshot import HEADLESS_HELP, VIEWS, MeshItem, SnapshotRenderer, render_meshes, save_png

__all__ = ["MeshItem", "SnapshotRenderer", "render_meshes", "save_png", "VIEWS", "HEADLESS_HELP"]
