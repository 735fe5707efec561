"""tools/render_body.py (the README's main job today) renders the open body into pictures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("open3d", reason="open3d (live extra) is not installed")
Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")


def test_render_body_writes_front_and_side_views(tmp_path):
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "render_body.py"), "--out", str(tmp_path), "--components", "1", "--size", "160", "200"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "tall in rest pose" in res.stdout
    names = {p.name for p in tmp_path.glob("*.png")}
    for case in ("rest", "posed", "beta1_minus2", "beta1_plus2"):
        for view in ("front", "side"):
            assert f"open_body_{case}_{view}.png" in names
    rest = np.asarray(Image.open(tmp_path / "open_body_rest_front.png").convert("RGB")).astype(int)
    posed = np.asarray(Image.open(tmp_path / "open_body_posed_front.png").convert("RGB")).astype(int)
    assert rest.shape == (200, 160, 3)
    # skin-coloured pixels (red > blue clearly) exist in the middle column: the body is drawn there
    skin = (rest[..., 0] - rest[..., 2]) > 40
    assert skin[:, 60:100].sum() > 300
    assert np.abs(rest - posed).mean() > 2.0  # the pose changes the picture
    sheet = Image.open(tmp_path / "open_body.png")
    assert sheet.size == (4 * 160, 2 * 200)
