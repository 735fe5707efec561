"""The BlazePose landmark model as ONNX: parity with LiteRT, choosing the runtime, a missing file's error."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from realtime.detection import runtime as rt
from realtime.detection.runtime import (
    CPU_LANDMARK_RUNTIME,
    DetectionSetupError,
    choose_landmark_runtime,
    missing_landmark_onnx,
)
from tool_loader import load_tool
from training.blazepose_input import world_in_image_axes

TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def tool():
    return load_tool("convert_blazepose")


@pytest.fixture(scope="module")
def models():
    """LiteRT and ONNX Runtime on the landmark model (1 thread each), or a skip that says what is missing."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("cv2")
    problem = missing_landmark_onnx()
    if problem:
        pytest.skip(f"{problem} (converting needs tf2onnx and TensorFlow from PyPI, which no test fetches)")
    try:
        lite = rt.TFLiteModel(rt.mediapipe_model(rt.LANDMARK_MODEL), 1)
    except DetectionSetupError as exc:
        pytest.skip(str(exc))
    return lite, rt.OnnxModel(num_threads=1, device="cpu")


@pytest.fixture(scope="module")
def demo_inputs(tool, models):
    """What the tracker feeds the model on the shipped demo clip (detected and followed regions), plus two
    generated inputs: a smooth gradient and uniform noise (out of the model's domain: worst-case logits)."""
    inputs = [x for _, x in tool.tracker_inputs([tool.DEMO_CLIP], per_clip=2, max_persons=1)]
    assert len(inputs) >= 4
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    gradient = np.stack([xx, yy, 1 - xx], -1)[None].astype(np.float32)
    noise = np.random.default_rng(0).random((1, 256, 256, 3), np.float32)
    return inputs + [gradient, noise]


# ------------------------------------------------------------------------------------------------ parity


def test_onnx_matches_litert_on_what_the_tracker_feeds(tool, models, demo_inputs):
    lite, onnx_model = models
    assert tuple(onnx_model.output_names) == tool.OUTPUT_NAMES
    assert [np.shape(o) for o in lite(demo_inputs[0])] == [np.shape(o) for o in onnx_model(demo_inputs[0])]
    checks = tool.parity(lite, onnx_model, demo_inputs)
    bad = {n: c["max_abs"] for n, c in checks.items() if tool.QUANTITIES[n][1] and c["max_abs"] > TOLERANCE}
    assert not bad, bad
    assert tool.within(checks, TOLERANCE)
    # The raw tensor (input pixels, logits) and the unbound outputs stay near float32 rounding too.
    assert checks["raw_landmarks"]["max_abs"] < 2e-2
    assert checks["heatmaps"]["max_abs"] < 1e-2
    assert checks["segmentation"]["mean_abs"] < 1e-2


def test_estimator_gives_the_same_landmarks_on_either_runtime(tool, models):
    from realtime.detection import LandmarkEstimator, PersonDetector

    frame = tool.clip_frames(tool.DEMO_CLIP, 1)[0]
    lite, onnx_est = LandmarkEstimator(runtime="litert"), LandmarkEstimator(runtime="onnxruntime")
    assert (lite.runtime, onnx_est.runtime) == ("litert", "onnxruntime")
    det = PersonDetector().detect(frame)[0]
    a, b = lite.estimate(frame, det), onnx_est.estimate(frame, det)
    np.testing.assert_allclose(a.xy, b.xy, atol=TOLERANCE * a.roi.size)  # 1/1000 of the region, in pixels
    np.testing.assert_allclose(a.world, b.world, atol=TOLERANCE)
    np.testing.assert_allclose(a.visibility, b.visibility, atol=TOLERANCE)
    assert abs(a.score - b.score) <= TOLERANCE
    assert b.heatmaps.shape == a.heatmaps.shape and b.segmentation.shape == a.segmentation.shape
    ra, rb = a.next_roi(), b.next_roi()  # so following a person goes on the same way
    np.testing.assert_allclose([ra.cx, ra.cy, ra.size], [rb.cx, rb.cy, rb.size], atol=TOLERANCE * a.roi.size)


def test_embedding_copy_outputs_the_layer_the_heads_read(tool, models, tmp_path):
    """``landmark_onnx_with_embedding``: the copy gives the same outputs plus the 288 × 2 × 2 feature map, and the
    network's own world-landmark head (a 2 × 2 convolution, i.e. a linear map) on that map gives its world landmarks."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from realtime.detection import LandmarkEstimator, PersonDetector

    path = rt.landmark_onnx_with_embedding(tmp_path / "embedding.onnx")
    frame = tool.clip_frames(tool.DEMO_CLIP, 1)[0]
    det = PersonDetector().detect(frame)[0]
    plain, copy = LandmarkEstimator(runtime="onnxruntime"), LandmarkEstimator(runtime="onnxruntime", onnx_path=path)
    a, b = plain.estimate(frame, det), copy.estimate(frame, det)
    assert a.embedding is None and b.embedding.shape == (rt.EMBEDDING_SIZE,)
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_array_equal(a.world, b.world)

    graph = onnx.load(str(path)).graph
    consts = {i.name: numpy_helper.to_array(i).astype(np.float32) for i in graph.initializer}
    consts.update({n.output[0]: consts[n.input[0]] for n in graph.node if n.op_type == "Cast" and n.input[0] in consts})
    head = next(n for n in graph.node if n.op_type == "Conv" and "convworld_3d" in n.name)
    assert head.input[0] == rt.EMBEDDING_TENSOR
    w, bias = consts[head.input[1]], consts[head.input[2]]  # (117, 288, 2, 2), (117,)
    world = w.reshape(len(w), -1) @ b.embedding.astype(np.float64) + bias
    # the head gives them in the region's axes; Landmarks.world turns them into the image's, as MediaPipe does
    np.testing.assert_allclose(world_in_image_axes(world.reshape(39, 3)[:33], b.roi.angle), b.world, atol=1e-4)
    with pytest.raises(DetectionSetupError, match="missing"):
        rt.landmark_onnx_with_embedding(tmp_path / "x.onnx", source=tmp_path / "absent.onnx")


def test_shipped_onnx_was_converted_from_the_installed_tflite(models):
    onnx = pytest.importorskip("onnx")
    meta = {p.key: p.value for p in onnx.load(str(rt.LANDMARK_ONNX)).metadata_props}
    tflite = rt.mediapipe_model(rt.LANDMARK_MODEL)
    assert meta["source_sha256"] == hashlib.sha256(tflite.read_bytes()).hexdigest()
    assert meta["license"] == "Apache-2.0" and "tf2onnx" in meta["converter"]


def test_fp16_weights_store_exact_halves_and_compute_the_same(tool):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    half_exact = rng.normal(size=(8, 8)).astype(np.float16).astype(np.float32)
    not_half = (rng.normal(size=(8, 8)) * 1e-3 + 1.0).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(half_exact, "w"), numpy_helper.from_array(not_half, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.normal(size=(1, 8)).astype(np.float32)
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    packed = tool.fp16_weights(onnx.ModelProto.FromString(model.SerializeToString()))
    kinds = {i.name: i.data_type for i in packed.graph.initializer}
    assert kinds == {"w__fp16": TensorProto.FLOAT16, "b": TensorProto.FLOAT}
    assert packed.graph.node[0].op_type == "Cast" and packed.graph.node[0].output[0] == "w"
    after = ort.InferenceSession(packed.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(before, after)


# --------------------------------------------------------------------------------------- runtime choice


def test_explicit_runtimes_are_kept_and_unknown_ones_refused(tmp_path):
    missing = tmp_path / "none.onnx"
    assert choose_landmark_runtime("litert", missing) == "litert"
    assert choose_landmark_runtime("onnxruntime", missing) == "onnxruntime"  # the model then says it is missing
    with pytest.raises(ValueError, match="auto, litert, onnxruntime"):
        choose_landmark_runtime("tensorflow")


def test_auto_takes_the_faster_runtime_for_the_device(tmp_path, monkeypatch):
    from engines.backends import onnxruntime_backend

    present, missing = tmp_path / "model.onnx", tmp_path / "none.onnx"
    present.write_bytes(b"")
    monkeypatch.setattr(onnxruntime_backend, "cuda_available", lambda: False)
    assert choose_landmark_runtime("auto", present) == CPU_LANDMARK_RUNTIME == "litert"  # measured faster on CPU
    monkeypatch.setattr(onnxruntime_backend, "cuda_available", lambda: True)
    assert choose_landmark_runtime("auto", present) == "onnxruntime"  # a GPU: LiteRT has no GPU path here
    assert choose_landmark_runtime("auto", missing) == "litert"  # no ONNX file: LiteRT, whatever the device


# ---------------------------------------------------------------------------------------- missing file


def test_a_missing_onnx_file_names_the_tool_that_builds_it(tmp_path):
    from realtime.detection import LandmarkEstimator

    missing = tmp_path / "none.onnx"
    with pytest.raises(DetectionSetupError) as err:
        LandmarkEstimator(runtime="onnxruntime", onnx_path=missing)
    message = str(err.value)
    assert "\n" not in message and str(missing) in message and "tools/convert_blazepose.py" in message
    assert choose_landmark_runtime("auto", missing) == "litert"  # auto never fails for the file: it keeps LiteRT


def test_live_config_checks_the_onnx_file_in_one_line(tmp_path, monkeypatch, capsys):
    from realtime.cli import main as live_main
    from realtime.config import load_live_config
    from training.config.loader import ConfigError

    assert load_live_config("default").tracking.landmark_runtime == "auto"
    assert load_live_config("default", ["tracking.landmark_runtime=litert"]).tracking.landmark_runtime == "litert"
    with pytest.raises(ConfigError, match="expected 'auto', 'litert' or 'onnxruntime'"):
        load_live_config("default", ["tracking.landmark_runtime=tensorflow"])
    monkeypatch.setattr(rt, "LANDMARK_ONNX", tmp_path / "pose_landmark_full.onnx")
    with pytest.raises(ConfigError) as err:
        load_live_config("default", ["tracking.landmark_runtime=onnxruntime"])
    assert "tracking.landmark_runtime" in str(err.value) and "tools/convert_blazepose.py" in str(err.value)
    assert live_main(["--source", "demo", "tracking.landmark_runtime=onnxruntime"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "python tools/convert_blazepose.py" in lines[0], lines
