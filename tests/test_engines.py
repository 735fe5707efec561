"""Engine bundles: ONNX export parity with PyTorch, streaming through ONNX Runtime, per-person state,
and the refusals (files that do not match the manifest, a truncated graph, another model config)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engines import BundleError, EngineSession, PersonSlots, read_manifest
from engines.build.onnx_export import FrameEncoderGraph, TemporalStepGraph, example_inputs, export_bundle
from engines.manifest import file_digest, write_manifest
from training.checkpoint import save_checkpoint
from training.config import load_model_config
from training.model import build_model

pytest.importorskip("onnxruntime", reason="ONNX Runtime is needed to run exported graphs")
pytest.importorskip("onnx", reason="the onnx package is needed by torch.onnx.export")

SMALL = ["input.crop_size=64", "input.seq_len=8", "streams.rgb.pretrained=none", "streams.flow.pretrained=none"]


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    """A random lite model (small crops, window 8), its checkpoint and its exported ONNX bundle."""
    torch.manual_seed(0)
    cfg = load_model_config("lite", SMALL)
    model = build_model(cfg).eval()
    root = tmp_path_factory.mktemp("lite")
    ckpt = save_checkpoint(root / "model.pt", model, cfg)
    manifest, exported = export_bundle(ckpt, root / "bundle", max_persons=3)
    return {"cfg": cfg, "model": model, "ckpt": ckpt, "bundle": root / "bundle", "manifest": manifest, "exported": exported}


@pytest.fixture(scope="module")
def session(lite):
    return EngineSession(lite["bundle"], backend="onnxruntime", intra_op_threads=1)


def test_manifest_describes_the_bundle(lite):
    m = read_manifest(lite["bundle"])
    assert m.model_name == "lite" and m.crop_size == 64 and m.window == 8 and m.max_persons == 3
    assert m.streams == ["rgb", "flow", "keypoints"] and m.flow_provider == "dis" and m.opset == 17
    assert m.checkpoint_sha256 == file_digest(lite["ckpt"])
    step = m.graphs["temporal_step"]
    assert [t.name for t in step.inputs][:4] == ["feat_rgb", "feat_flow", "feat_keypoints", "pos"]
    assert step.input("enc_k").batch_axis == 1 and step.input("enc_k").shape[1] == "batch"
    assert step.output("vertices").shape == ["batch", 13718, 3]
    assert set(m.files) == {"frame_encoder.onnx", "temporal_step.onnx", "faces.npy"}
    assert np.load(lite["bundle"] / "faces.npy").shape == (27420, 3)
    assert {"torch", "onnx"} <= set(m.versions)


def test_frame_encoder_matches_pytorch(lite, session):
    inputs = example_inputs(lite["model"], batch=3, seed=5)
    with torch.no_grad():
        ref = FrameEncoderGraph(lite["model"]).eval()(*inputs.values())
    out = session.encode({k: v.numpy() for k, v in inputs.items()})
    for name, r in zip(inputs, ref):
        np.testing.assert_allclose(out[f"feat_{name}"], r.numpy(), atol=1e-4, rtol=1e-4)


def test_temporal_step_matches_pytorch(lite, session):
    model = lite["model"]
    g = torch.Generator().manual_seed(3)
    feats = [torch.randn(2, model.cfg.embed_dim, generator=g) for _ in model.stream_names]
    state = model.init_state(2)
    state["pos"] = torch.tensor([0, 11])
    keys = [k for k in state if k != "pos"]
    args = feats + [state["pos"]] + [torch.randn(state[k].shape, generator=g) for k in keys]
    with torch.no_grad():
        ref = TemporalStepGraph(model).eval()(*args)
    spec = lite["manifest"].graphs["temporal_step"]
    out = session.graphs["temporal_step"].run({s.name: a.numpy() for s, a in zip(spec.inputs, args)})
    for s, r in zip(spec.outputs, ref):
        np.testing.assert_allclose(out[s.name], r.numpy(), atol=1e-4, rtol=1e-4, err_msg=s.name)


def test_300_streamed_frames_match_the_causal_batch_forward(lite, session):
    """Two people through the session's slots (the second appears at frame 40) = the batch forward."""
    model = lite["model"]
    g = torch.Generator().manual_seed(7)
    n = 300
    feats = {s: torch.randn(2, n, model.cfg.embed_dim, generator=g) for s in model.stream_names}
    with torch.no_grad():
        ref_a = model.forward_features({s: f[:1] for s, f in feats.items()})
        ref_b = model.forward_features({s: f[1:, 40:] for s, f in feats.items()})
    worst = 0.0
    for t in range(n):
        ids = [10] if t < 40 else [10, 42]
        rows = [0] if t < 40 else [0, 1]
        out = session.step(ids, {f"feat_{s}": f[rows, t].numpy() for s, f in feats.items()})
        worst = max(worst, float(np.abs(out["joints3d"][0] - ref_a.joints3d[0, t].numpy()).max()))
        np.testing.assert_allclose(out["theta"][0], ref_a.theta[0, t].numpy(), atol=1e-3, rtol=1e-3)
        if t >= 40:
            np.testing.assert_allclose(out["theta"][1], ref_b.theta[0, t - 40].numpy(), atol=1e-3, rtol=1e-3)
            np.testing.assert_allclose(out["vertices"][1], ref_b.vertices[0, t - 40].numpy(), atol=1e-3, rtol=1e-3)
    assert worst < 1e-3
    session.release(10)
    session.release(42)
    assert session.slots.tracks == []
    assert session.latency.summary()["temporal_step"]["calls"] >= n


def test_person_slots_allocate_reset_and_free(lite):
    spec = lite["manifest"].graphs["temporal_step"]
    slots = PersonSlots(spec, capacity=2)
    a = slots.slots([5, 9])
    assert a.tolist() == [0, 1]
    slots.state["pos"][:] = 4
    slots.state["enc_k"][:, 1] = 1.0
    slots.reset(9)
    assert slots.state["pos"].tolist() == [4, 0] and not slots.state["enc_k"][:, 1].any()
    with pytest.raises(RuntimeError, match="more than 2 people"):
        slots.slots([5, 9, 11])
    slots.release(5)
    assert slots.slots([11]).tolist() == [0] and slots.state["pos"][0] == 0  # reused slot starts empty


def test_torch_backend_matches_onnxruntime(lite, session):
    ref = EngineSession(lite["bundle"], backend="torch")
    inputs = {k: v.numpy() for k, v in example_inputs(lite["model"], batch=2, seed=11).items()}
    a, b = session.process([1, 2], inputs), ref.process([1, 2], inputs)
    np.testing.assert_allclose(a["vertices"], b["vertices"], atol=1e-4, rtol=1e-4)
    session.release(1)
    session.release(2)


def _copy(bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(bundle, dst)
    return dst


def test_bundle_whose_files_do_not_match_the_manifest_is_refused(lite, tmp_path):
    b = _copy(lite["bundle"], tmp_path)
    data = bytearray((b / "frame_encoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (b / "frame_encoder.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="frame_encoder.onnx: contents do not match the manifest"):
        EngineSession(b, backend="onnxruntime")
    shutil.copyfile(lite["bundle"] / "frame_encoder.onnx", b / "frame_encoder.onnx")
    (b / "faces.npy").unlink()
    with pytest.raises(BundleError, match="faces.npy: missing"):
        EngineSession(b, backend="onnxruntime")


def test_truncated_graph_is_refused(lite, tmp_path):
    b = _copy(lite["bundle"], tmp_path)
    path = b / "temporal_step.onnx"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(BundleError, match=r"temporal_step.onnx: 5000 bytes, the manifest says \d+ \(truncated"):
        EngineSession(b, backend="onnxruntime")
    # Even with a manifest re-written to match it, the truncated graph does not load: one clear line.
    m = read_manifest(b)
    m.files["temporal_step.onnx"].size, m.files["temporal_step.onnx"].sha256 = 5000, file_digest(path)
    write_manifest(b, m)
    with pytest.raises(RuntimeError, match="temporal_step.onnx: ONNX Runtime cannot load this graph"):
        EngineSession(b, backend="onnxruntime")


def test_bundle_from_another_model_config_is_refused(lite):
    other = load_model_config("lite", [*SMALL[:1], "input.seq_len=16", *SMALL[2:]]).model_dump(mode="json")
    with pytest.raises(BundleError, match=r"differs from .* at input\.seq_len"):
        EngineSession(lite["bundle"], backend="onnxruntime", expected_model_config=other)


def test_damaged_or_foreign_manifest_is_refused(lite, tmp_path):
    b = _copy(lite["bundle"], tmp_path)
    (b / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="unreadable manifest"):
        read_manifest(b)
    (b / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="not a version-1 dtsvibe-engine-bundle"):
        read_manifest(b)
    with pytest.raises(BundleError, match="no such engine bundle folder"):
        read_manifest(tmp_path / "nowhere")


def test_auto_backend_on_this_machine_is_onnxruntime(lite):
    s = EngineSession(lite["bundle"], backend="auto")
    assert s.backend == "onnxruntime" and s.device in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown backend"):
        EngineSession(lite["bundle"], backend="tflite")


def test_build_engine_tool_writes_a_bundle_and_says_why_no_plan(lite, tmp_path, capsys):
    from tool_loader import load_tool

    tool = load_tool("build_engine")
    assert tool.main([str(lite["ckpt"]), "--out", str(tmp_path / "b"), "--max-persons", "2"]) == 0
    out = capsys.readouterr().out
    from engines.gpu import tensorrt_unavailable

    why = tensorrt_unavailable()
    if why:
        assert f"no TensorRT plans: {why}" in out
    assert "frame_encoder  frame_encoder.onnx" in out and "temporal_step" in out
    assert read_manifest(tmp_path / "b").max_persons == 2
    assert tool.main([str(tmp_path / "missing.pt"), "--out", str(tmp_path / "c")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_learned_flow_checkpoint_gets_a_flow_graph(tmp_path):
    """A model trained on the learned flow carries that network in its bundle, runnable by the session."""
    from training.flow.network import FlowNet, export_onnx

    torch.manual_seed(0)
    cfg = load_model_config("lite", [*SMALL, "streams.flow.provider=learned"])
    ckpt = save_checkpoint(tmp_path / "model.pt", build_model(cfg).eval(), cfg)
    flow_onnx = export_onnx(FlowNet(), tmp_path / "flow_net.onnx", crop_size=64, dynamic_batch=True)
    manifest, _ = export_bundle(ckpt, tmp_path / "bundle", max_persons=2, flow_onnx=flow_onnx)
    assert manifest.flow_provider == "learned" and "flow" in manifest.graphs and "flow.onnx" in manifest.files
    session = EngineSession(tmp_path / "bundle", backend="onnxruntime")
    crops = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    assert session.flow(crops, crops).shape == (2, 2, 64, 64)
    with pytest.raises(FileNotFoundError, match="learned flow"):
        export_bundle(ckpt, tmp_path / "b2", flow_onnx=tmp_path / "missing.onnx")
