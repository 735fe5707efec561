"""Load a ``tools/`` script as a module (``tools`` is a package installed with the project)."""

from __future__ import annotations

import importlib
from types import ModuleType


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as the module ``tools.<name>``."""
    return importlib.import_module(f"tools.{name}")
