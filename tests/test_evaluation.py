"""Evaluation: VIBE's protocol on whole sequences, the Table-1 report (text, JSON, Markdown), the Figure-5 plot, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from test_trainer import make_db, one_thread, write_vibe_db  # noqa: F401 (one_thread: autouse fixture)
from training.body.rotations import matrix_to_axis_angle
from training.checkpoint import save_checkpoint
from training.config import load_model_config
from training.evaluation import (
    HELDOUT_SEED,
    EvalSequence,
    evaluate_checkpoints,
    evaluate_sequences,
    format_table,
    generated_sequences,
    sequences_from_db,
    table_markdown,
    write_report,
)
from training.model import build_model

TINY = ["input.crop_size=64", "input.seq_len=8", "streams.rgb.pretrained=none", "streams.flow.pretrained=none",
        "streams.keypoints.hidden_dim=64", "embed_dim=64", "temporal_encoder.layers=1", "temporal_encoder.ff_dim=128",
        "regressor.layers=1", "regressor.dim=64", "regressor.ff_dim=128"]


def tiny_model(*overrides: str):
    torch.manual_seed(0)
    cfg = load_model_config("lite", [*TINY, *overrides])
    return build_model(cfg).eval(), cfg


class StubGenerator:
    """Stands in for ``training.synthetic``: clips with the generator's keys and random content."""

    def __init__(self, frames: int = 12, size: int = 64) -> None:
        self.frames, self.size = frames, size

    def clip(self, index: int) -> dict:
        rng = np.random.default_rng(index)
        t, s = self.frames, self.size
        db = make_db(10 + index, videos=1, frames=t)
        return {
            "rgb": rng.integers(0, 255, (t, s, s, 3), dtype=np.uint8),
            "flow": rng.normal(size=(t, 2, s, s)).astype(np.float16),
            "kp2d_mediapipe33": np.concatenate([rng.uniform(-1, 1, (t, 33, 2)), np.ones((t, 33, 1))], -1).astype(np.float32),
            "kp3d": db["joints3D"], "pose": db["pose"], "betas": db["shape"],
        }


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    write_vibe_db(root / "3dpw_test_db.pt", make_db(3, videos=2, frames=14))
    mpii = make_db(4, videos=1, frames=10)
    for k in ("pose", "shape"):  # MPI-INF-3DHP has 3D joints but no SMPL
        mpii.pop(k)
    write_vibe_db(root / "mpii3d_val_db.pt", mpii)
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("ckpt")
    paths = []
    for name, seed in (("ours", 0), ("untrained", 1)):
        torch.manual_seed(seed)
        model, cfg = tiny_model()
        paths.append(save_checkpoint(out / name / "best.pt" if name == "ours" else out / f"{name}.pt", model, cfg))
    return paths


def test_perfect_prediction_scores_zero_and_errors_grow_with_noise():
    """Ground truth made from the model's own whole-sequence prediction: every metric ≈ 0 (VIBE protocol)."""
    model, _ = tiny_model("streams.flow.enabled=false", "streams.keypoints.enabled=false", "temporal_encoder.attention=bidirectional")
    feats = torch.randn(20, model.cfg.streams.rgb.feature_dim, generator=torch.Generator().manual_seed(0))
    seq = EvalSequence("s", {"rgb": feats}, valid=torch.ones(20, dtype=torch.bool))
    from training.evaluation import predict_sequence

    pred = predict_sequence(model, seq)
    out = model.decode(pred["theta"])
    seq.pose = matrix_to_axis_angle(out["rotmat"]).reshape(20, 72)
    seq.betas, seq.has_smpl = out["betas"], torch.ones(20, dtype=torch.bool)
    res = evaluate_sequences(model, [seq], "perfect")
    assert res.frames == 20 and res.sequences == 1
    for k in ("pa_mpjpe", "mpjpe", "pve", "accel"):
        assert res.metrics[k] < 0.05, (k, res.metrics[k])  # mm
    assert res.accel_curves["s"].shape == (18,)
    seq.pose = seq.pose + 0.05 * torch.randn(20, 72, generator=torch.Generator().manual_seed(1))
    noisy = evaluate_sequences(model, [seq], "noisy").metrics
    assert noisy["pa_mpjpe"] > 1 and noisy["mpjpe"] >= noisy["pa_mpjpe"] and noisy["pve"] > 1 and noisy["accel"] > 1


def test_db_sequences_follow_videos(data_root):
    seqs = sequences_from_db(data_root / "3dpw_test_db.pt", ("rgb", "flow", "keypoints"))
    assert len(seqs) == 2 and all(len(s) == 14 for s in seqs)
    assert seqs[0].inputs["keypoints"].shape == (14, 33, 4) and seqs[0].has_smpl.all()
    mpii = sequences_from_db(data_root / "mpii3d_val_db.pt")
    assert mpii[0].pose is None and mpii[0].has_kp3d.all()
    with pytest.raises(ValueError, match="'flow_features'"):
        sequences_from_db({k: v for k, v in make_db(5, extras=False).items()}, ("rgb", "flow"))
    # A BlazePose V-stream cannot read a db's features (it took them as its inputs and failed with a traceback):
    # a one-line reason that names the live-path evaluation of the db's images
    with pytest.raises(ValueError, match=r"V-stream is BlazePose.*dtsvibe-eval --frames .*3dpw_test_db.pt --images"):
        sequences_from_db(data_root / "3dpw_test_db.pt", ("rgb", "flow"), rgb_input="blazepose")


def test_generated_benchmark_uses_the_checkpoints_flow_provider():
    exact = generated_sequences(1, 64, make_generator=lambda: StubGenerator())[0]
    dis = generated_sequences(1, 64, make_generator=lambda: StubGenerator(), flow_provider="dis")[0]
    assert dis.inputs["flow"].shape == exact.inputs["flow"].shape == (12, 2, 64, 64)
    assert torch.all(dis.inputs["flow"][0] == 0) and not torch.allclose(dis.inputs["flow"], exact.inputs["flow"])
    assert torch.equal(dis.inputs["rgb"], exact.inputs["rgb"])


def test_generated_benchmark_draws_the_motion_librarys_test_subjects(monkeypatch):
    """The held-out generated benchmark moves bodies with motions of subjects never used for training."""
    import training.synthetic.generator as generator

    made = []

    class Recording(StubGenerator):
        def __init__(self, seed=0, config=None, **kw):
            super().__init__(frames=config.seq_len, size=config.crop_size)
            made.append((seed, config))

    monkeypatch.setattr(generator, "SyntheticGenerator", Recording)
    generated_sequences(1, 64, stream_names=("rgb",))
    (seed, config), = made
    assert config.motion == "library" and config.motion_split == "test" and seed == HELDOUT_SEED


def test_report_has_the_table_1_layout_json_markdown_and_figure_5(data_root, checkpoints, tmp_path):
    gen = generated_sequences(2, 64, make_generator=lambda: StubGenerator())
    results, notes = evaluate_checkpoints(checkpoints, data_root, generated=gen, log=lambda m: None)
    assert list(results) == ["best", "untrained"]
    assert set(results["best"]) == {"3dpw", "mpii3d", "generated"}
    assert any("Human3.6M" in n and "skipped" in n for n in notes)

    table = format_table(results).splitlines()
    assert table[0].split() == ["3DPW", "MPI-INF-3DHP", "Generated"]
    assert table[1].split() == ["Method"] + ["PA-MPJPE↓", "MPJPE↓", "PVE↓", "Accel↓"] * 3
    row = table[2].split()
    assert row[0] == "best" and len(row) == 13 and row[7] == "-"  # no PVE without SMPL labels (MPI-INF-3DHP)
    assert all(float(c) > 0 for i, c in enumerate(row[1:]) if i != 6)

    paths = write_report(results, tmp_path, notes)
    data = json.loads(paths["json"].read_text())
    assert data["datasets"] == ["3dpw", "mpii3d", "generated"] and data["units"]["pa_mpjpe"] == "mm"
    r = data["rows"][0]["results"]["3dpw"]
    assert set(r) == {"pa_mpjpe", "mpjpe", "pve", "accel", "frames", "sequences"} and r["frames"] == 28
    assert data["rows"][0]["results"]["mpii3d"]["pve"] is None
    md = paths["markdown"].read_text()
    assert md.startswith("| Method | 3DPW PA-MPJPE↓ | 3DPW MPJPE↓ | 3DPW PVE↓ | 3DPW Accel↓ | MPI-INF-3DHP PA-MPJPE↓")
    assert md == table_markdown(results) + "".join(f"\n- {n}" for n in notes) + "\n"
    png = paths["plot"]
    assert png.name == "accel.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_eval_cli_prints_the_table_and_writes_files(data_root, checkpoints, tmp_path, capsys):
    from training.cli import eval_main

    out = tmp_path / "report"
    assert eval_main([str(checkpoints[0]), "--data-root", str(data_root), "--out", str(out), "--generated", "0"]) == 0
    stdout = capsys.readouterr().out
    assert "PA-MPJPE↓" in stdout and "3DPW" in stdout and "note: Human3.6M" in stdout and "wrote" in stdout
    assert {p.name for p in out.iterdir()} == {"results.json", "results.md", "accel.png"}
    # default output folder: next to the checkpoint
    assert eval_main([str(checkpoints[0]), "--data-root", str(data_root), "--generated", "0"]) == 0
    assert (checkpoints[0].parent / "eval" / "results.md").is_file()


def test_eval_cli_one_line_errors(data_root, checkpoints, tmp_path, capsys):
    from training.cli import eval_main

    assert eval_main([str(checkpoints[0]), "--data-root", str(tmp_path / "none"), "--generated", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing to evaluate" in err[0] and "3dpw_test_db.pt" in err[0]
    assert eval_main([str(checkpoints[0]), "--data-root", str(data_root), "--flow-provider", "learned", "--generated", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force-flow-provider" in err[0]
    assert eval_main([str(checkpoints[0]), "--data-root", str(data_root), "--flow-provider", "learned",
                      "--force-flow-provider", "--generated", "0", "--out", str(tmp_path / "f")]) == 0
    assert any("forced" in n for n in json.loads((tmp_path / "f" / "results.json").read_text())["notes"])
    assert eval_main([str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_cli_help_lists_every_option(capsys):
    from training.cli import eval_main

    with pytest.raises(SystemExit):
        eval_main(["--help"])
    out = capsys.readouterr().out
    for opt in ("CHECKPOINT", "--data-root", "--datasets", "--generated", "--out", "--flow-provider", "--force-flow-provider", "--device"):
        assert opt in out


def test_per_frame_and_untrained_baseline_rows(data_root, checkpoints):
    results, _ = evaluate_checkpoints(checkpoints[:1], data_root, datasets=["3dpw"], generated=0, log=lambda m: None,
                                      per_frame=True, untrained=True)
    assert list(results) == ["best", "best untrained", "best (T=1)"]
    mpjpe = {m: results[m]["3dpw"].metrics["mpjpe"] for m in results}
    # The fixture's "best" is itself the seed-0 random init, which is what the untrained row rebuilds.
    assert mpjpe["best untrained"] == pytest.approx(mpjpe["best"], abs=1e-4)
    assert abs(mpjpe["best (T=1)"] - mpjpe["best"]) > 1e-3 and mpjpe["best (T=1)"] > 0


def test_body_filter_row_is_the_live_filter_after_the_model(data_root, checkpoints):
    results, _ = evaluate_checkpoints(checkpoints[:1], data_root, datasets=["3dpw"], generated=0, log=lambda m: None,
                                      pose_filter=True)
    assert list(results) == ["best", "best + body filter"]
    plain, filtered = results["best"]["3dpw"].metrics, results["best + body filter"]["3dpw"].metrics
    assert abs(filtered["mpjpe"] - plain["mpjpe"]) > 1e-4  # the filter changed the predictions
    assert results["best + body filter"]["3dpw"].frames == results["best"]["3dpw"].frames


def test_per_frame_inference_sees_one_frame_only():
    from training.config import load_model_config
    from training.model import build_model
    from training.model.inference import infer_sequence

    torch.manual_seed(0)
    model = build_model(load_model_config("lite", ["input.seq_len=8", "streams.rgb.pretrained=none", "streams.flow.pretrained=none"])).eval()
    feats = {k: torch.randn(12, model.cfg.embed_dim) for k in model.stream_names}
    with torch.no_grad():
        alone = infer_sequence(model, feats, per_frame=True)
        first = infer_sequence(model, {k: v[5:6] for k, v in feats.items()})
        full = infer_sequence(model, feats)
    assert torch.allclose(alone[5], first[0], atol=1e-5)  # frame 5 alone = a one-frame sequence of it
    assert torch.allclose(alone[0], full[0], atol=1e-5) and not torch.allclose(alone[5], full[5], atol=1e-3)
