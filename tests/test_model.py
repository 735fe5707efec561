"""The DTS-VIBE network: shapes, gradients, ablation switches, and streaming == batch."""

from __future__ import annotations

import pytest
import torch

from training.config import load_model_config
from training.model.dtsvibe import DTSVIBE, build_model

OFFLINE = ["streams.rgb.pretrained=none", "streams.flow.pretrained=none"]


def make(name: str, *overrides: str) -> DTSVIBE:
    torch.manual_seed(0)
    model = build_model(load_model_config(name, [*OFFLINE, *overrides]))
    for pname, p in model.named_parameters():  # zero-initialised offsets would hide ordering bugs
        if pname.endswith("rel_bias"):
            torch.nn.init.normal_(p, std=1.0)
    return model


def random_inputs(model: DTSVIBE, b: int, n: int, size: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {
        "rgb": torch.randn(b, n, 3, size, size, generator=gen),
        "flow": torch.randn(b, n, 2, size, size, generator=gen) if "flow" in model.stream_names else None,
        "keypoints": torch.rand(b, n, 33, 4, generator=gen) * 2 - 1 if "keypoints" in model.stream_names else None,
    }


@pytest.mark.parametrize("name", ["paper", "lite"])
def test_output_shapes(name: str):
    model = make(name, "input.crop_size=64").eval()
    b, n = 2, 5
    with torch.no_grad():
        out = model(**random_inputs(model, b, n, 64), need_weights=True)
    v = model.body.num_vertices
    assert out.theta.shape == out.coarse_theta.shape == (b, n, 157)
    assert out.rotmat.shape == (b, n, 24, 3, 3) and out.betas.shape == (b, n, 10) and out.cam.shape == (b, n, 3)
    assert out.vertices.shape == (b, n, v, 3) and out.smpl_joints.shape == (b, n, 24, 3)
    assert out.joints3d.shape == (b, n, 49, 3) and out.joints2d.shape == (b, n, 49, 2)
    layers, heads = model.cfg.temporal_encoder.layers, model.cfg.temporal_encoder.heads
    assert len(out.attention) == layers and out.attention[0].shape == (b, heads, n, n)
    torch.testing.assert_close(out.attention[0].sum(-1), torch.ones(b, heads, n))
    # rotations are proper
    det = torch.linalg.det(out.rotmat)
    torch.testing.assert_close(det, torch.ones_like(det), atol=1e-5, rtol=0)


def test_paper_model_is_the_paper():
    model = make("paper")
    enc = model.encoder.stack
    assert len(enc.layers) == 6 and enc.heads == 8 and enc.dim == 512 and enc.mode == "bidirectional"
    reg = model.regressor.stack
    assert len(reg.layers) == 3 and reg.heads == 4
    assert model.fc.in_features == 512 and model.fc.out_features == 157
    assert set(model.stream_names) == {"rgb", "flow"}
    assert model.streams["rgb"].fc.in_features == 2048 and model.streams["rgb"].fc.out_features == 512


def test_gradients_reach_every_stream_and_the_regressor():
    model = make("lite", "input.crop_size=64", "temporal_encoder.dropout=0", "regressor.dropout=0").train()
    out = model(**random_inputs(model, 2, 4, 64))
    (out.joints2d.square().mean() + out.theta.square().mean() + out.vertices.mean()).backward()
    groups = {
        "rgb stream": model.streams["rgb"],
        "flow stream": model.streams["flow"],
        "keypoint stream": model.streams["keypoints"],
        "temporal encoder": model.encoder,
        "fc": model.fc,
        "regressor": model.regressor,
    }
    for name, module in groups.items():
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), f"{name}: a parameter got no gradient"
        assert sum(g.abs().sum().item() for g in grads) > 0, f"{name}: zero gradient"
    first_conv = next(model.streams["flow"].backbone.parameters())  # the first conv of either trunk
    assert first_conv.grad.abs().sum() > 0


def stream_vs_batch(model: DTSVIBE, batch: int, frames: int) -> tuple[float, float]:
    model.eval()
    gen = torch.Generator().manual_seed(batch)
    feats = {k: torch.randn(batch, frames, model.cfg.embed_dim, generator=gen) for k in model.stream_names}
    with torch.no_grad():
        ref = model.forward_features(feats)
        state = model.init_state(batch)
        thetas, verts = [], []
        for t in range(frames):
            out, state = model.step({k: v[:, t] for k, v in feats.items()}, state)
            thetas.append(out.theta)
            verts.append(out.vertices)
    theta_err = (torch.stack(thetas, 1) - ref.theta).abs().max().item()
    vert_err = (torch.stack(verts, 1) - ref.vertices).abs().max().item()
    assert int(state["pos"][0]) == frames
    return theta_err, vert_err


@pytest.mark.parametrize("batch", [1, 4])
def test_streaming_equals_causal_batch_over_300_frames(batch: int):
    """Paper dimensions with causal attention: the ring buffer gives the batch result frame by frame,
    including the first T frames (partly filled buffers)."""
    model = make("paper", "temporal_encoder.attention=causal")
    theta_err, vert_err = stream_vs_batch(model, batch, 300)
    assert theta_err < 1e-4 and vert_err < 1e-4, (theta_err, vert_err)


@pytest.mark.parametrize(
    "overrides",
    [("temporal_encoder.type=gru",), ("regressor.type=iterative",), ("streams.flow.enabled=false",)],
    ids=["gru-encoder", "iterative-regressor", "no-flow"],
)
def test_ablations_stream_too(overrides):
    model = make("lite", *overrides)
    theta_err, _ = stream_vs_batch(model, 2, 40)
    assert theta_err < 1e-4


def test_ring_buffer_really_forgets_frames_outside_the_band():
    """With one causal layer per stack, frame t depends only on frames t-T+1..t."""
    model = make("lite", "temporal_encoder.layers=1", "regressor.layers=1").eval()
    t_len = model.cfg.input.seq_len
    feats = {k: torch.randn(1, 3 * t_len, model.cfg.embed_dim) for k in model.stream_names}
    changed = {k: v.clone() for k, v in feats.items()}
    changed["rgb"][:, : t_len] += 5.0  # frames 0..T-1
    with torch.no_grad():
        a = model.forward_features(feats).theta
        b = model.forward_features(changed).theta
    # the encoder output at frame >= 2T-1 cannot see frames < T; the regressor's band adds T-1 more
    assert torch.allclose(a[:, 3 * t_len - 1], b[:, 3 * t_len - 1], atol=1e-5)
    assert not torch.allclose(a[:, t_len], b[:, t_len], atol=1e-3)


def test_reset_state_starts_a_track_over():
    model = make("lite").eval()
    d = model.cfg.embed_dim
    gen = torch.Generator().manual_seed(3)
    history = [{k: torch.randn(2, d, generator=gen) for k in model.stream_names} for _ in range(20)]
    future = [{k: torch.randn(2, d, generator=gen) for k in model.stream_names} for _ in range(5)]
    with torch.no_grad():
        state = model.init_state(2)
        for f in history:
            _, state = model.step(f, state)
        state = model.reset_state(state, torch.tensor([True, False]))
        fresh = model.init_state(2)
        for f in future:
            out, state = model.step(f, state)
            ref, fresh = model.step(f, fresh)
    torch.testing.assert_close(out.theta[0], ref.theta[0], atol=1e-5, rtol=0)
    assert not torch.allclose(out.theta[1], ref.theta[1], atol=1e-3)  # the other track kept its past


def test_bidirectional_model_refuses_to_stream():
    model = make("paper")
    with pytest.raises(RuntimeError, match="temporal_encoder.attention=causal"):
        model.init_state(1)


def test_bad_inputs_name_the_expected_shape():
    model = make("lite", "input.crop_size=64")
    with pytest.raises(ValueError, match="flow"):
        model(rgb=torch.randn(1, 2, 3, 64, 64), keypoints=torch.rand(1, 2, 33, 4))
    with pytest.raises(ValueError, match=r"\(B, N"):
        model(rgb=torch.randn(2, 3, 64, 64), flow=torch.randn(2, 2, 64, 64), keypoints=torch.rand(2, 33, 4))
    with pytest.raises(ValueError, match=r"\(B, N, 256\)"):
        model.forward_features({k: torch.randn(1, 4, 100) for k in model.stream_names})
    with pytest.raises(ValueError, match=r"\(\.\.\., 157\)"):
        model.decode(torch.randn(2, 150))


def test_whole_video_inference_stitches_windows():
    from training.model.inference import infer_sequence, window_starts

    assert window_starts(40, 16, 8) == [0, 8, 16, 24]
    assert window_starts(10, 16, 8) == [0]
    model = make("lite", "temporal_encoder.attention=bidirectional").eval()
    t_len = model.cfg.input.seq_len
    feats = {k: torch.randn(45, model.cfg.embed_dim) for k in model.stream_names}
    theta = infer_sequence(model, feats)
    assert theta.shape == (45, 157)
    with torch.no_grad():
        # frame 12 sits closest to the centre of the window starting at 8 (stride T/2)
        ref = model.forward_features({k: v[None, 8 : 8 + t_len] for k, v in feats.items()}).theta[0]
    torch.testing.assert_close(theta[12], ref[4], atol=1e-5, rtol=0)
    # short clips are padded, not refused
    assert infer_sequence(model, {k: v[:5] for k, v in feats.items()}).shape == (5, 157)


def test_whole_video_inference_of_a_causal_model_is_the_stream():
    from training.model.inference import infer_sequence

    model = make("lite").eval()
    feats = {k: torch.randn(30, model.cfg.embed_dim) for k in model.stream_names}
    with torch.no_grad():
        ref = model.forward_features({k: v[None] for k, v in feats.items()}).theta[0]
    torch.testing.assert_close(infer_sequence(model, feats), ref, atol=1e-4, rtol=0)


def test_streaming_step_exports_to_onnx_and_matches_onnxruntime(tmp_path):
    """The step has static shapes and exports as it is (the engines issue builds on this)."""
    pytest.importorskip("onnx", reason="onnx is not installed (train extra)")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (live extra)")
    model = make("lite").eval()
    names = list(model.init_state(2))

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, rgb, flow, keypoints, *state):
            out, new = self.model.step({"rgb": rgb, "flow": flow, "keypoints": keypoints}, dict(zip(names, state)))
            return (out.theta, out.vertices, *[new[k] for k in names])

    wrapper = Step().eval()
    state = model.init_state(2)
    feats = [torch.randn(2, model.cfg.embed_dim) for _ in range(3)]
    path = tmp_path / "step.onnx"
    torch.onnx.export(wrapper, (*feats, *state.values()), str(path), dynamo=False, opset_version=17,
                      input_names=["rgb", "flow", "keypoints", *names])
    wrapper.eval()  # export restores the wrapper's mode; keep the reference in eval
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ort_state = {k: v.numpy() for k, v in state.items()}
    for _ in range(20):  # past the window, so the ring buffer wraps
        f = [torch.randn(2, model.cfg.embed_dim) for _ in range(3)]
        res = sess.run(None, {"rgb": f[0].numpy(), "flow": f[1].numpy(), "keypoints": f[2].numpy(), **ort_state})
        with torch.no_grad():
            out, state = model.step({"rgb": f[0], "flow": f[1], "keypoints": f[2]}, state)
        assert abs(res[0] - out.theta.numpy()).max() < 1e-4
        assert abs(res[1] - out.vertices.numpy()).max() < 1e-4
        ort_state = dict(zip(names, res[2:]))
