"""Shared fixtures: small synthetic SMPL-format bodies and SMPL-style files written on the fly."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from training.body import SMPL_PARENTS, BodyModelData

# Mesa's llvmpipe (a GL context: the renders, Open3D's views) and Triton (which torch loads lazily) each bring an
# LLVM; Triton loaded after a GL context segfaults the process (training/synthetic/render.py). Load it first, so
# that the tests' order never decides it (test_live's views before test_frames_eval's renders crashed).
if importlib.util.find_spec("triton") is not None:
    try:
        import triton  # noqa: F401
    except Exception:  # pragma: no cover - a broken triton is not the tests' concern
        pass

N_JOINTS = 24


def make_body_data(num_vertices: int = 300, num_betas: int = 10, with_posedirs: bool = True, seed: int = 0) -> BodyModelData:
    """A random but well-formed SMPL-format body (convex regressors, normalised sparse weights)."""
    rng = np.random.default_rng(seed)
    v = num_vertices
    v_template = rng.normal(scale=0.3, size=(v, 3)).astype(np.float32)
    weights = np.zeros((v, N_JOINTS), np.float32)
    for i in range(v):  # each vertex follows 1-3 joints
        js = rng.choice(N_JOINTS, size=rng.integers(1, 4), replace=False)
        weights[i, js] = rng.random(len(js)) + 0.1
    weights /= weights.sum(1, keepdims=True)
    j_reg = np.zeros((N_JOINTS, v), np.float32)
    for j in range(N_JOINTS):
        vs = rng.choice(v, size=8, replace=False)
        j_reg[j, vs] = rng.random(8) + 0.1
    j_reg /= j_reg.sum(1, keepdims=True)
    return BodyModelData(
        v_template=v_template,
        faces=rng.integers(0, v, size=(2 * v, 3)).astype(np.int32),
        shapedirs=(rng.normal(scale=0.02, size=(v, 3, num_betas))).astype(np.float32),
        weights=weights,
        parents=np.array(SMPL_PARENTS, np.int32),
        j_regressor=j_reg,
        posedirs=rng.normal(scale=0.01, size=(v, 3, 207)).astype(np.float32) if with_posedirs else None,
        meta={"name": "synthetic"},
    )


@pytest.fixture
def body_data() -> BodyModelData:
    return make_body_data()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# -- the opt-in soak test --------------------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true", default=False,
                     help="run the soak test (tests/test_soak.py: the live pipeline for --soak-minutes on a looping file)")
    parser.addoption("--soak-minutes", type=float, default=20.0, help="length of the soak test (default 20)")


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: long opt-in run of the live pipeline (pytest --soak)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="opt-in: run with pytest --soak [--soak-minutes N] (its last result: docs/bench/soak.md)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
