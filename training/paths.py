"""Where the project's shipped files live (torch-free, so the live app can import it)."""

from pathlib import Path

__all__ = ["CROPS_CHECKPOINT", "DEFAULT_CHECKPOINT"]

#: The embedded default checkpoint (lite model trained on the project's own data; see its README).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "lite_default.pt"

#: The previous default: the lite model on image crops (MobileNetV3-Small RGB and flow trunks, keypoint stream).
#: Kept as the reference for the INT8 recipe (its squeeze-and-excitation gates) and as a row in comparisons.
CROPS_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "lite_crops.pt"
