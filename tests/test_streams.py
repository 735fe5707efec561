"""Modality streams: shapes, the precomputed-feature path, weight loading offline, the keypoint stream."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torchvision import models

from training.config import load_model_config
from training.model.streams import (
    ImageStream,
    KeypointStream,
    PretrainedWeightsMissing,
    build_streams,
    load_backbone_state,
    imagenet_cache_files,
)


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch) -> Path:
    """torchvision's cache is an empty tmp folder: a real user cache never leaks into a test."""
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def small(in_channels: int = 3, embed_dim: int = 32, **kw) -> ImageStream:
    return ImageStream("resnet18", in_channels, 512, embed_dim, pretrained="none", **kw)


def saved_resnet18(path: Path, seed: int = 1) -> dict[str, torch.Tensor]:
    """A freshly built torchvision resnet18 (random weights) saved as a plain state dict."""
    torch.manual_seed(seed)
    state = models.resnet18(weights=None).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


@pytest.mark.parametrize("in_channels", [3, 2])
@pytest.mark.parametrize("size", [64, 128])
def test_image_stream_shapes(in_channels, size):
    stream = small(in_channels, embed_dim=24).eval()
    x = torch.randn(2, in_channels, size, size)
    with torch.no_grad():
        assert stream.forward_backbone(x).shape == (2, 512)
        assert stream(x).shape == (2, 24)


def test_resnet50_shape_and_feature_dim_check():
    stream = ImageStream("resnet50", 3, 2048, 16, pretrained="none").eval()
    with torch.no_grad():
        assert stream(torch.randn(1, 3, 64, 64)).shape == (1, 16)
    with pytest.raises(ValueError, match="2048"):
        ImageStream("resnet50", 3, 512, 16, pretrained="none")
    with pytest.raises(ValueError, match="512"):
        ImageStream("resnet18", 3, 2048, 16, pretrained="none")


def test_precomputed_features_equal_fc_of_backbone():
    stream = small().eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        feats = stream.forward_backbone(x)
        assert torch.allclose(stream(feats), stream.fc(feats))
        assert torch.allclose(stream(feats), stream(x), atol=1e-5)


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 64), (2, 2, 64, 64), (2, 256), (2, 3, 16, 64), (3, 64, 64), (1, 2, 3, 64, 64)],
)
def test_bad_shapes_name_the_expected_ones(shape):
    with pytest.raises(ValueError) as err:
        small()(torch.randn(*shape))
    msg = str(err.value)
    assert str(tuple(shape)) in msg
    assert "(N, 3, H, W)" in msg or "32" in msg
    if len(shape) != 4 or shape[1] != 3:
        assert "(N, 512)" in msg


def test_gradients_reach_first_conv():
    stream = small(in_channels=2)
    stream(torch.randn(2, 2, 64, 64)).square().sum().backward()
    grad = stream.backbone.conv1.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_missing_imagenet_weights_strict_names_file(empty_hub):
    with pytest.raises(PretrainedWeightsMissing) as err:
        ImageStream("resnet18", 3, 512, 32, pretrained="imagenet", strict=True, label="flow")
    msg = str(err.value)
    expected = imagenet_cache_files("resnet18")[0]
    assert "\n" not in msg and str(expected) in msg and str(empty_hub) in msg
    assert expected.name == Path(models.ResNet18_Weights.DEFAULT.url).name
    assert "streams.flow.pretrained=none" in msg


def test_missing_weights_non_strict_warns_and_inits_randomly(caplog):
    with caplog.at_level(logging.WARNING, logger="training.model.streams"):
        stream = ImageStream("resnet18", 3, 512, 32, pretrained="imagenet", strict=False)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "random" in warnings[0].getMessage() and "\n" not in warnings[0].getMessage()
    assert stream.weights_file is None
    assert stream(torch.randn(1, 3, 64, 64)).shape == (1, 32)


def test_missing_frame_pose_and_explicit_path(tmp_path):
    with pytest.raises(PretrainedWeightsMissing, match="frame-pose"):
        ImageStream("resnet18", 3, 512, 32, pretrained="frame_pose")
    missing = tmp_path / "nope.pth"
    with pytest.raises(PretrainedWeightsMissing, match="nope.pth"):
        ImageStream("resnet18", 3, 512, 32, pretrained="imagenet", weights_path=missing)


def test_imagenet_weights_from_torchvision_cache(empty_hub):
    path = imagenet_cache_files("resnet18")[0]
    assert path.parent == empty_hub / "checkpoints"
    state = saved_resnet18(path)
    stream = ImageStream("resnet18", 3, 512, 32, pretrained="imagenet", strict=True)
    assert stream.weights_file == path
    assert torch.equal(stream.backbone.conv1.weight, state["conv1.weight"])
    assert torch.equal(stream.backbone.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_flow_stream_first_conv_is_rgb_channel_mean(empty_hub):
    state = saved_resnet18(imagenet_cache_files("resnet18")[0])
    stream = ImageStream("resnet18", 2, 512, 32, pretrained="imagenet", strict=True)
    w = stream.backbone.conv1.weight
    assert w.shape == (64, 2, 7, 7)
    mean = state["conv1.weight"].mean(dim=1)
    assert torch.allclose(w[:, 0], mean) and torch.allclose(w[:, 1], mean)
    assert torch.equal(stream.backbone.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])


def test_loading_from_a_file_changes_the_weights(tmp_path):
    path = tmp_path / "weights" / "my_resnet18.pth"
    state = saved_resnet18(path, seed=7)
    torch.manual_seed(0)
    random = small()
    assert not torch.equal(random.backbone.layer2[0].conv2.weight, state["layer2.0.conv2.weight"])
    for kwargs in ({"pretrained": path}, {"pretrained": "frame_pose", "weights_path": str(path)}):
        torch.manual_seed(0)
        loaded = ImageStream("resnet18", 3, 512, 32, strict=True, **kwargs)
        assert torch.equal(loaded.backbone.layer2[0].conv2.weight, state["layer2.0.conv2.weight"])
        assert loaded.weights_file == path


def test_frame_pose_checkpoint_with_prefix_and_heads(tmp_path):
    """A frame-based pose checkpoint (SPIN-like): wrapped in {'model': ...}, with a regressor head."""
    state = models.resnet18(weights=None).state_dict()
    wrapped = {f"module.{k}": v for k, v in state.items() if k.startswith(("conv1", "bn1", "layer"))}
    wrapped["module.decpose.weight"] = torch.randn(144, 1024)
    path = tmp_path / "spin_like.pt"
    torch.save({"model": wrapped, "epoch": 3}, path)
    stream = ImageStream("resnet18", 3, 512, 32, pretrained="frame_pose", weights_path=path)
    assert torch.equal(stream.backbone.layer3[0].downsample[0].weight, state["layer3.0.downsample.0.weight"])


def test_wrong_architecture_file_is_an_error(tmp_path):
    path = tmp_path / "r34.pth"
    torch.save(models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="backbone tensors|shape"):
        ImageStream("resnet50", 3, 2048, 32, pretrained=path, strict=False)


def test_keypoint_stream_shapes():
    stream = KeypointStream(hidden_dim=64, embed_dim=48)
    assert stream(torch.randn(5, 33, 4)).shape == (5, 48)
    with pytest.raises(ValueError, match=r"\(N, 33, 4\)"):
        stream(torch.randn(5, 33, 3))


def test_zero_visibility_landmarks_do_not_affect_output():
    torch.manual_seed(0)
    stream = KeypointStream(hidden_dim=64, embed_dim=48).eval()
    lm = torch.randn(4, 33, 4)
    lm[..., 3] = torch.rand(4, 33)
    hidden = torch.zeros(33, dtype=torch.bool)
    hidden[[0, 5, 11, 20, 32]] = True
    lm[:, hidden, 3] = 0.0
    moved = lm.clone()
    moved[:, hidden, :3] = torch.randn(4, int(hidden.sum()), 3) * 10
    moved[0, 0, :3] = float("nan")
    with torch.no_grad():
        assert torch.allclose(stream(lm), stream(moved))
        # ...while a visible landmark's coordinates do matter
        visible = lm.clone()
        visible[:, 1, :3] += 1.0
        assert not torch.allclose(stream(lm), stream(visible))


def test_build_streams_lite_and_paper():
    lite = load_model_config("lite")
    streams = build_streams(lite)
    assert set(streams) == {"rgb", "flow", "keypoints"}
    assert streams["rgb"].in_channels == 3 and streams["flow"].in_channels == 2
    assert streams["rgb"].crop_size == lite.input.crop_size
    crop = lite.input.crop_size
    with torch.no_grad():
        for name, x in {
            "rgb": torch.randn(2, 3, crop, crop),
            "flow": torch.randn(2, 2, crop, crop),
            "keypoints": torch.randn(2, 33, 4),
        }.items():
            assert streams[name].eval()(x).shape == (2, lite.embed_dim), name

    paper = load_model_config("paper", ["streams.flow.enabled=false"])
    streams = build_streams(paper)
    assert set(streams) == {"rgb"}
    assert streams["rgb"].feature_dim == 2048 and streams["rgb"].fc.out_features == paper.embed_dim


def test_build_streams_strict_and_weights_mapping(tmp_path):
    r18 = [f"streams.{s}.{k}" for s in ("rgb", "flow") for k in ("backbone=resnet18", "feature_dim=512")]
    cfg = load_model_config("lite", ["streams.keypoints.enabled=false", *r18])
    with pytest.raises(PretrainedWeightsMissing):
        build_streams(cfg, strict=True)
    path = tmp_path / "r18.pth"
    state = saved_resnet18(path)
    streams = build_streams(cfg, weights={"rgb": path, "flow": path}, strict=True)
    assert torch.equal(streams["rgb"].backbone.conv1.weight, state["conv1.weight"])
    assert torch.allclose(streams["flow"].backbone.conv1.weight[:, 1], state["conv1.weight"].mean(1))
    with pytest.raises(ValueError, match="unknown streams"):
        build_streams(cfg, weights={"depth": path})


def test_mobilenet_trunk_loads_torchvision_weights_for_rgb_and_flow(tmp_path):
    """The lite model's MobileNetV3-Small trunk reads a torchvision classifier checkpoint (its classifier
    ignored) and adapts the first conv to 2-channel flow."""
    import torchvision

    net = torchvision.models.mobilenet_v3_small()
    path = tmp_path / "mnv3.pth"
    torch.save(net.state_dict(), path)
    cfg = load_model_config("lite", ["streams.keypoints.enabled=false"])
    streams = build_streams(cfg, weights={"rgb": path, "flow": path}, strict=True)
    first = net.features[0][0].weight
    assert torch.equal(streams["rgb"].backbone.features[0][0].weight, first)
    assert streams["flow"].backbone.features[0][0].weight.shape[1] == 2
    assert torch.allclose(streams["flow"].backbone.features[0][0].weight[:, 0], first.mean(1))
    x = torch.randn(3, 3, 128, 128)
    assert streams["rgb"].eval()(x).shape == (3, cfg.embed_dim)
    with pytest.raises(ValueError, match="holds no MobileNetV3-Small"):
        load_backbone_state(streams["rgb"].backbone, saved_resnet18(tmp_path / "r18.pth"), name="mobilenet_v3_small")


def test_image_stream_exports_with_dynamic_batch():
    """No data-dependent Python control flow: torch.export captures one graph, batch left dynamic."""
    stream = small().eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(stream, (torch.randn(2, 3, 64, 64),), dynamic_shapes=({0: batch},))
    y = torch.randn(5, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(program.module()(y), stream(y), atol=1e-5)
