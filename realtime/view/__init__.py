"""What a person in front of the screen sees: the 3D view, the overlay, the HUD (see window.py)."""

from ..frame_camera import FOCAL_PX, crop_squares, person_translations, to_world
from .overlay import OverlayRenderer, PersonMesh
from .scene3d import Scene3D
from .window import LiveView, display_available, person_meshes

__all__ = ["FOCAL_PX", "crop_squares", "person_translations", "to_world", "OverlayRenderer", "PersonMesh", "Scene3D",
           "LiveView", "display_available", "person_meshes"]
