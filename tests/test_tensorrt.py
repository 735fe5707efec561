"""TensorRT plans built from the bundle's ONNX graphs agree with ONNX Runtime, and a plan from another
TensorRT version or GPU is refused. Skips (with the reason) where TensorRT or a GPU is missing."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorrt", reason="TensorRT is not installed (NVIDIA GPUs only: pip install -e .[trt])")

from engines.gpu import tensorrt_unavailable  # noqa: E402

_WHY = tensorrt_unavailable()
if _WHY:
    pytest.skip(_WHY, allow_module_level=True)

import torch  # noqa: E402

from engines import BundleError, EngineSession, read_manifest  # noqa: E402
from engines.build.onnx_export import example_inputs, export_bundle  # noqa: E402
from engines.manifest import FileEntry, file_digest, write_manifest  # noqa: E402
from engines.build.tensorrt_plan import build_plan  # noqa: E402
from training.checkpoint import save_checkpoint  # noqa: E402
from training.config import load_model_config  # noqa: E402
from training.model import build_model  # noqa: E402


@pytest.fixture(scope="module", params=["fp32", "fp16"])
def bundle(request, tmp_path_factory):
    torch.manual_seed(0)
    cfg = load_model_config("lite", ["input.crop_size=64", "input.seq_len=8", "streams.rgb.pretrained=none", "streams.flow.pretrained=none"])
    model = build_model(cfg).eval()
    root = tmp_path_factory.mktemp(f"trt_{request.param}")
    ckpt = save_checkpoint(root / "model.pt", model, cfg)
    manifest, _ = export_bundle(ckpt, root / "bundle", max_persons=4)
    for name, spec in manifest.graphs.items():
        plan = build_plan(root / "bundle" / spec.file, root / "bundle" / f"{name}.plan", spec, 4, request.param, root / "timing.cache")
        manifest.plans[name] = plan
        manifest.files[plan.file] = FileEntry((root / "bundle" / plan.file).stat().st_size, file_digest(root / "bundle" / plan.file))
    write_manifest(root / "bundle", manifest)
    assert (root / "timing.cache").stat().st_size > 0
    return request.param, root / "bundle", model


def test_auto_picks_tensorrt_and_matches_onnxruntime(bundle):
    precision, folder, model = bundle
    trt_s = EngineSession(folder, backend="auto")
    ort_s = EngineSession(folder, backend="onnxruntime")
    assert trt_s.backend == "tensorrt"
    tol = 1e-3 if precision == "fp32" else 2e-2
    for t in range(20):
        inputs = {k: v.numpy() for k, v in example_inputs(model, batch=3, seed=t).items()}
        a, b = trt_s.process([1, 2, 3], inputs), ort_s.process([1, 2, 3], inputs)
        for key in ("theta", "vertices", "joints2d"):
            np.testing.assert_allclose(a[key], b[key], atol=tol, rtol=tol, err_msg=f"{key} at frame {t}")
    summary = trt_s.latency.summary()
    assert summary["temporal_step"]["calls"] == 20 and summary["frame_encoder"]["median_ms"] > 0


def test_plan_from_another_tensorrt_version_is_refused(bundle, tmp_path):
    import shutil

    _, folder, _ = bundle
    copy = tmp_path / "b"
    shutil.copytree(folder, copy)
    m = read_manifest(copy)
    for plan in m.plans.values():
        plan.tensorrt = "9.0.0"
    write_manifest(copy, m)
    with pytest.raises(BundleError, match="built with TensorRT 9.0.0.*rebuild the plans here"):
        EngineSession(copy, backend="tensorrt")
