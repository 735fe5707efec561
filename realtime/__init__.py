"""The live app: sources, tracking, pipeline, rendering and the ``dtsvibe-live`` CLI (no torch at import)."""
