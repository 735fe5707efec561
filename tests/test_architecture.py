"""The layout's rules: imports point realtime → engines → training, and the live app starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = {"training": 0, "engines": 1, "realtime": 2}  # a package may import only lower ranks


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ORDER))
def test_imports_point_one_way(package: str):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    for path in files:
        for other in imported_packages(path) & set(ORDER):
            assert ORDER[other] <= ORDER[package], f"{path.relative_to(ROOT)} imports {other} (allowed: realtime → engines → training)"


def test_top_level_layout():
    for name in ("realtime", "engines", "training", "tools", "configs", "tests", "pyproject.toml", "README.md"):
        assert (ROOT / name).exists(), name


def test_live_app_modules_do_not_import_torch():
    code = (
        "import sys, realtime, realtime.config, realtime.cli, realtime.view.offscreen, realtime.detection, engines, engines.session, engines.manifest,"
        " engines.gpu, engines.defaults, engines.backends.onnxruntime_backend, engines.backends.tensorrt_backend, realtime.person_inputs,"
        " training.config, training.body, training.preprocessing, realtime.skeleton;"
        "bad = [m for m in ('torch', 'torchvision') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


BLOCKER = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'torchvision') or name.startswith('engines.build') or name.startswith('training.model'):
            raise ImportError('blocked for this test: ' + name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def test_engine_runtime_and_live_app_run_with_torch_and_the_build_side_blocked():
    """The runtime side of ``engines`` (session, manifest, backends but torch's, defaults, gpu) and ``realtime``
    import nothing from ``engines.build`` or torch: an ONNX Runtime session on the shipped bundle opens and runs."""
    code = BLOCKER + (
        "import numpy as np\n"
        "import engines, engines.session, engines.manifest, engines.defaults, engines.gpu,"
        " engines.backends.onnxruntime_backend, engines.backends.tensorrt_backend\n"
        "import realtime, realtime.cli, realtime.graph, realtime.pipeline, realtime.person_inputs, realtime.view\n"
        "from engines import EngineSession\n"
        "from engines.defaults import default_bundle\n"
        "s = EngineSession(default_bundle(), 'onnxruntime')\n"
        "inputs = {t.name: np.zeros([1] + list(t.shape[1:]), np.float32) for t in s.manifest.graphs['frame_encoder'].inputs}\n"
        "out = s.process([1], inputs)\n"
        "assert np.isfinite(out['vertices']).all(), 'no body'\n"
        "print('ran', sorted(out))"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "ran" in res.stdout, res.stdout + res.stderr


def test_the_live_app_reads_the_training_packages_joint_tables_and_body_file():
    """One definition of the SMPL joint tree and one body-file reader serve both sides."""
    from realtime import skeleton
    from training.body import SMPL_JOINTS, SMPL_PARENTS, load_open_body

    assert skeleton.SMPL_JOINT_NAMES is SMPL_JOINTS and skeleton.SMPL_PARENTS is SMPL_PARENTS
    rest, data = skeleton.load_rest_body(), load_open_body()
    assert (rest.v_template == data.v_template).all() and (rest.j_regressor == data.j_regressor).all()
