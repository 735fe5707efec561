"""Checkpoints: exact resumption, contents, and one-line errors for the wrong config or flow provider."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from test_trainer import make_trainer, one_thread, smoke_config, write_fake_data  # noqa: F401 (one_thread: autouse fixture)
from training.checkpoint import (
    CheckpointError,
    check_flow_provider,
    load_checkpoint,
    load_model_state,
    model_from_checkpoint,
    release_checkpoint,
    save_checkpoint,
)
from training.config import load_model_config
from training.model import build_model

RESUME = (
    # two epochs of 4 steps, keypoint noise and dropout on: everything random must be restored
    "main_phase.epochs=2", "main_phase.iters_per_epoch=3", "refinement_phase.epochs=1",
    "refinement_phase.iters_per_epoch=4", "keypoint_noise=0.02",
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_fake_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory) -> Path:
    """A finished smoke run (main + refinement); its last.pt."""
    out = tmp_path_factory.mktemp("run")
    make_trainer(smoke_config(data_root, out, "main_phase.epochs=1", "main_phase.iters_per_epoch=2",
                              "refinement_phase.epochs=1", "refinement_phase.iters_per_epoch=1")).fit()
    return out / "last.pt"


def test_resume_is_exact(data_root, tmp_path):
    """N steps in one go == N/2 steps, checkpoint, a new trainer resumes, N/2 more (weights to 1e-6)."""
    n = 8  # crosses the epoch boundary (step 3, 6) and the phase boundary (step 6)
    straight = make_trainer(smoke_config(data_root, tmp_path / "a", *RESUME))
    straight.fit(max_steps=n)

    first = make_trainer(smoke_config(data_root, tmp_path / "b", *RESUME))
    first.fit(max_steps=n // 2)
    ckpt = load_checkpoint(tmp_path / "b" / "last.pt")
    assert (ckpt.progress.phase, ckpt.progress.epoch, ckpt.progress.step_in_epoch, ckpt.progress.global_step) == (0, 1, 1, 4)
    del first
    torch.manual_seed(1234)  # whatever happened in between must not matter
    second = make_trainer(smoke_config(data_root, tmp_path / "b", *RESUME))
    second.resume(tmp_path / "b" / "last.pt")
    second.fit(max_steps=n)

    assert second.progress.global_step == straight.progress.global_step == n
    assert second.progress.phase == 1 and straight.progress.phase == 1
    assert [h["total"] for h in second.history] == pytest.approx([h["total"] for h in straight.history[n // 2 :]], rel=1e-6)
    ref = straight.model.state_dict()
    worst = max((second.model.state_dict()[k] - ref[k]).abs().max().item() for k in ref)
    assert worst < 1e-6, worst


def test_checkpoint_contents(trained):
    ckpt = load_checkpoint(trained)
    assert ckpt.progress.phase_name == "done" and ckpt.progress.global_step == 3
    assert ckpt.model_config.input.seq_len == 8 and ckpt.model_config.embed_dim == 64  # overrides resolved
    assert ckpt.train_config.model == "lite" and "input.seq_len=8" in ckpt.train_config.model_overrides
    assert yaml.safe_load(ckpt.raw["model_config"])["temporal_encoder"]["layers"] == 1  # YAML text of the config
    assert ckpt.flow_provider == "dis" and ckpt.code_version and ckpt.code_version != "unknown"
    assert "generator" in ckpt.optimizers and ckpt.rng and "torch" in ckpt.rng[0]
    assert "pa_mpjpe" in ckpt.metrics
    # loads with plain torch, weights only (no pickled code)
    raw = torch.load(trained, weights_only=True)
    assert raw["format"].startswith("dtsvibe-checkpoint")


def test_loading_into_another_model_config_names_the_keys(trained):
    ckpt = load_checkpoint(trained)
    other = ckpt.model_config.model_copy(deep=True)
    other.temporal_encoder.layers = 2
    other.embed_dim = 128
    other.optim.generator_lr = 1e-3  # training-only keys do not count
    with pytest.raises(CheckpointError) as err:
        model_from_checkpoint(ckpt, other)
    msg = str(err.value)
    assert "\n" not in msg and "temporal_encoder.layers (checkpoint 1, config 2)" in msg and "embed_dim" in msg
    assert "optim" not in msg
    same = ckpt.model_config.model_copy(deep=True)
    same.loss.adv = 0
    model, _ = model_from_checkpoint(ckpt, same)
    assert not model.training


def test_resume_into_another_config_fails(trained, data_root, tmp_path):
    trainer = make_trainer(smoke_config(data_root, tmp_path, "model_overrides=[input.crop_size=64, input.seq_len=8, "
                                        "streams.rgb.pretrained=none, streams.flow.pretrained=none, embed_dim=64, "
                                        "temporal_encoder.layers=1, regressor.layers=2, regressor.dim=64]"))
    with pytest.raises(CheckpointError, match=r"regressor\.layers \(checkpoint 1, config 2\)"):
        trainer.resume(trained)


def test_shape_mismatch_names_the_parameters():
    cfg = load_model_config("lite", ["streams.rgb.pretrained=none", "streams.flow.pretrained=none", "embed_dim=64",
                                     "temporal_encoder.layers=1", "regressor.layers=1", "regressor.dim=64"])
    model = build_model(cfg)
    state = dict(model.state_dict())
    state["fc.weight"] = torch.zeros(3, 3)
    del state["fc.bias"]
    with pytest.raises(CheckpointError) as err:
        load_model_state(model, state, "x.pt")
    msg = str(err.value)
    assert "\n" not in msg and "fc.weight (3, 3)→(157, 64)" in msg and "missing fc.bias" in msg


def test_other_flow_provider_is_an_error_unless_forced(trained):
    ckpt = load_checkpoint(trained)
    with pytest.raises(CheckpointError) as err:
        model_from_checkpoint(ckpt, flow_provider="learned")
    msg = str(err.value)
    assert "'dis'" in msg and "'learned'" in msg and "--force-flow-provider" in msg and "\n" not in msg
    model_from_checkpoint(ckpt, flow_provider="learned", force_flow_provider=True)
    check_flow_provider(ckpt, "dis")  # the one it was trained with


def test_resume_with_another_flow_provider_fails_unless_forced(trained, data_root, tmp_path, capsys):
    from training.cli import train_main

    args = ["--config", "smoke", f"data_root={data_root}", "model_overrides=[input.crop_size=64, input.seq_len=8, "
            "streams.rgb.pretrained=none, streams.flow.pretrained=none, streams.flow.provider=farneback, "
            "streams.keypoints.hidden_dim=64, embed_dim=64, temporal_encoder.layers=1, temporal_encoder.ff_dim=128, "
            "regressor.layers=1, regressor.dim=64, regressor.ff_dim=128, discriminator.hidden_dim=64, "
            "discriminator.attention_dim=64]", "--out", str(tmp_path), "--no-progress", "--resume", str(trained)]
    assert train_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on 'dis' flow, not 'farneback'" in err[0]
    assert train_main([*args, "--force-flow-provider"]) == 0  # a finished run: nothing left to do


def test_foreign_files_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a DTS-VIBE checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    # a video passed as a checkpoint, and a checkpoint cut short: which of the two, without PyTorch's own advice
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint file; check the path") as err:
        load_checkpoint(tmp_path / "clip.mp4")
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "cut.pt").write_bytes((tmp_path / "other.pt").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="damaged or cut short; copy it again"):
        load_checkpoint(tmp_path / "cut.pt")


def test_save_and_load_round_trip_without_training(tmp_path):
    cfg = load_model_config("lite", ["streams.rgb.pretrained=none", "streams.flow.enabled=false", "embed_dim=64",
                                     "temporal_encoder.layers=1", "regressor.layers=1", "regressor.dim=64"])
    torch.manual_seed(0)
    model = build_model(cfg)
    path = save_checkpoint(tmp_path / "m.pt", model, cfg)
    loaded, ckpt = model_from_checkpoint(path)
    assert ckpt.flow_provider is None and ckpt.train_config is None
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_release_checkpoint_is_small_fp16_and_not_resumable(trained, data_root, tmp_path):
    out = release_checkpoint(trained, tmp_path / "release.pt")
    raw = torch.load(out, weights_only=True)
    floats = [v for v in raw["model"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats) and not raw["optimizers"]
    assert out.stat().st_size < trained.stat().st_size / 2
    full, _ = model_from_checkpoint(trained)
    half, ckpt = model_from_checkpoint(out)
    assert next(half.parameters()).dtype == torch.float32 and ckpt.progress.global_step > 0
    feats = {k: torch.randn(1, 8, full.cfg.embed_dim) for k in full.stream_names}
    with torch.no_grad():
        a, b = full.forward_features(feats).joints3d, half.forward_features(feats).joints3d
    assert (a - b).abs().max() < 5e-3 and not torch.equal(a, b)  # fp16 rounding only
    with pytest.raises(CheckpointError, match="inference-only release"):
        make_trainer(smoke_config(data_root, tmp_path / "again")).resume(out)


def test_init_weights_starts_a_new_run_from_a_checkpoint(trained, data_root, tmp_path):
    trainer = make_trainer(smoke_config(data_root, tmp_path / "ft", "main_phase.enabled=false"))
    trainer.init_weights(trained)
    ref = load_checkpoint(trained).model_state
    own = trainer.model.state_dict()
    assert all(torch.equal(own[k], ref[k]) for k in ref) and trainer.progress.global_step == 0
    other = make_trainer(smoke_config(data_root, tmp_path / "ft2", "model_overrides=[input.crop_size=64, input.seq_len=8, "
                                      "streams.rgb.pretrained=none, streams.flow.pretrained=none, embed_dim=32]"))
    with pytest.raises(CheckpointError, match="embed_dim"):
        other.init_weights(trained)


def test_release_can_switch_a_setting_without_weights_and_refuses_one_with(trained, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("release_tool", Path(__file__).resolve().parents[1] / "tools" / "release_checkpoint.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "r.pt"
    assert tool.main([str(trained), str(out), "--set", "regressor.dropout=0.0"]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.model_config.regressor.dropout == 0.0 and ckpt.raw["model_config_overrides"] == ["regressor.dropout=0.0"]
    capsys.readouterr()
    assert tool.main([str(trained), str(tmp_path / "bad.pt"), "--set", "embed_dim=24"]) == 1  # weights no longer fit
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("release_checkpoint: error:") and not (tmp_path / "bad.pt").exists()
    assert tool.main([str(trained), str(tmp_path / "bad2.pt"), "--set", "landmark_fit.enabled=true"]) == 1  # not BlazePose
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "landmark_fit" in err[0]
