"""Where the project's shipped files live (torch-free, so the live app can import it)."""

from pathlib import Path

__all__ = ["DEFAULT_CHECKPOINT"]

#: The embedded default checkpoint (lite model trained on the project's own data; see its README).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "lite_default.pt"
