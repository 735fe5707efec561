"""Configs: the paper's values, validation with one-line errors, command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import ConfigError, ModelConfig, TrainConfig, load_config, load_model_config, load_train_config
from training.config.schema import CONFIG_DIR


def test_paper_config_is_the_paper():
    cfg = load_model_config("paper")
    assert cfg.input.seq_len == 16 and cfg.input.crop_size == 224
    assert (cfg.streams.rgb.backbone, cfg.streams.flow.backbone) == ("resnet50", "resnet50")
    assert cfg.streams.rgb.feature_dim == cfg.streams.flow.feature_dim == 2048 and cfg.embed_dim == 512
    assert cfg.streams.flow.enabled and not cfg.streams.keypoints.enabled
    te, rg = cfg.temporal_encoder, cfg.regressor
    assert (te.type, te.layers, te.heads, te.attention) == ("transformer", 6, 8, "bidirectional")
    assert (rg.type, rg.layers, rg.heads) == ("transformer", 3, 4)
    assert (cfg.loss.kp3d, cfg.loss.kp2d, cfg.loss.smpl, cfg.loss.adv) == (300, 200, 120, 60)
    assert (cfg.optim.generator_lr, cfg.optim.discriminator_lr, cfg.optim.refinement_lr) == (5e-5, 5e-4, 1e-5)
    assert cfg.discriminator.enabled and cfg.flow_loss


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_validates(path: Path):
    kind = path.parent.name
    if kind == "model":
        load_model_config(path)
    elif kind == "train":
        cfg = load_train_config(path)
        load_model_config(cfg.model)  # the model it names exists
    elif kind == "live":
        from realtime.config import load_live_config

        load_live_config(path)
    else:  # a new folder needs a schema here
        pytest.fail(f"no schema for configs/{kind}/")


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        fn(*args, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    path = write(tmp_path, "name: x\ntemporal_encoder:\n  hedas: 8\n")
    msg = one_line_error(load_model_config, path)
    assert msg.startswith(str(path)) and "temporal_encoder.hedas: unknown key" in msg and "'heads'" in msg


def test_wrong_type_names_expected_type(tmp_path):
    msg = one_line_error(load_model_config, write(tmp_path, "name: x\ntemporal_encoder:\n  layers: six\n"))
    assert "temporal_encoder.layers" in msg and "integer" in msg and "'six'" in msg
    msg = one_line_error(load_model_config, write(tmp_path, "name: x\nstreams:\n  rgb:\n    backbone: vgg16\n"))
    assert "streams.rgb.backbone" in msg and "resnet50" in msg


def test_missing_required_value(tmp_path):
    msg = one_line_error(load_model_config, write(tmp_path, "embed_dim: 512\n"))
    assert "name: required value is missing" in msg


def test_cross_field_rules(tmp_path):
    msg = one_line_error(load_model_config, "paper", ["temporal_encoder.heads=7"])
    assert "temporal_encoder.heads (7) must divide embed_dim (512)" in msg
    msg = one_line_error(load_model_config, "paper", ["body_model.kind=smpl"])
    assert "body_model.path" in msg


def test_bad_yaml_and_missing_file(tmp_path):
    msg = one_line_error(load_model_config, write(tmp_path, "name: x\n  bad: [1, 2\n"))
    assert "not valid YAML" in msg and "line" in msg
    msg = one_line_error(load_model_config, tmp_path / "nope.yaml")
    assert "config file not found" in msg
    msg = one_line_error(load_model_config, write(tmp_path, "- 1\n- 2\n"))
    assert "expected a mapping" in msg


def test_overrides_change_single_keys():
    cfg = load_model_config("paper", ["temporal_encoder.layers=4", "temporal_encoder.attention=causal", "loss.adv=0"])
    assert cfg.temporal_encoder.layers == 4 and cfg.temporal_encoder.attention == "causal" and cfg.loss.adv == 0
    assert cfg.temporal_encoder.heads == 8  # untouched
    train = load_train_config("paper", ["datasets_2d=[insta]", "batch_size=4"])
    assert train.datasets_2d == ["insta"] and train.batch_size == 4
    msg = one_line_error(load_model_config, "paper", ["temporal_encoder.layer=4"])
    assert "temporal_encoder.layer: unknown key" in msg
    msg = one_line_error(load_model_config, "paper", ["layers"])
    assert "expected KEY=VALUE" in msg
    msg = one_line_error(load_model_config, "paper", ["embed_dim.x=1"])
    assert "'embed_dim' holds a value" in msg


def test_generic_loader_works_for_any_schema(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("model: lite\nseed: 3\n")
    assert load_config(path, TrainConfig).seed == 3
    assert isinstance(load_model_config("lite"), ModelConfig)


def test_cli_reports_bad_keys_in_one_line(capsys):
    from realtime.cli import main as live_main
    from training.cli import train_main

    assert live_main(["--source", "0", "tracking.max_person=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tracking.max_person: unknown key" in err[0] and "max_persons" in err[0]
    assert train_main(["batch_size=-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size" in err[0] and "greater than 0" in err[0]


def test_train_cli_takes_overrides_between_options(capsys, tmp_path):
    """``dtsvibe-train --config c data_root=D --out O batch_size=…``: overrides anywhere on the line (the
    bad value shows it reached the config check rather than an argparse error)."""
    from training.cli import train_main

    assert train_main(["--config", "smoke", "data_root=/d", "--out", str(tmp_path / "o"), "batch_size=-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size" in err[0] and "greater than 0" in err[0]


def test_far_people_settings_are_checked(capsys):
    from realtime.cli import main as live_main
    from realtime.config import load_live_config

    cfg = load_live_config("default", ["tracking.detect_sweep=[3]", "tracking.detect_motion_windows=0"])
    assert cfg.tracking.detect_sweep == [3] and cfg.tracking.detect_motion_windows == 0
    assert live_main(["--source", "0", "tracking.detect_sweep=[1, 3]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "detect_sweep" in err[0] and "[1]" in err[0]


def test_the_room_preset_is_the_default_with_far_people_detection():
    from realtime.config import load_live_config

    default, room = load_live_config("default").model_dump(), load_live_config("room").model_dump()
    assert room["tracking"]["detect_hog_upscale"] > 0 == default["tracking"]["detect_hog_upscale"]
    room["tracking"]["detect_hog_upscale"] = 0.0
    assert room == default  # nothing else differs: the defaults in code are the default file's
