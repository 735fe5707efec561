"""MediaPipe in the loop: generated clips carry what BlazePose, run as the live app runs it, says about the
labelled person (``tools/make_synthetic.py --blazepose``), deterministically, through shards and batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tool_loader import load_tool

pytest.importorskip("moderngl", reason="synthetic rendering needs moderngl (pip install moderngl)")
pytest.importorskip("mediapipe", reason="BlazePose's models ship in the mediapipe wheel")

from training.synthetic.render import gl_available  # noqa: E402

if not gl_available():  # pragma: no cover - machine dependent
    pytest.skip("no headless OpenGL 3.3 context through EGL (install libegl1/libgl1/Mesa)", allow_module_level=True)

from training.synthetic import SyntheticConfig, SyntheticGenerator, SyntheticShardDataset, write_shards  # noqa: E402
from training.synthetic.geometry import norm_to_pixel  # noqa: E402

S, T = 128, 6


def _tool():
    return load_tool("make_synthetic")


@pytest.fixture(scope="module")
def annotate():
    return _tool().blazepose_annotator(heatmap_size=16, mask_size=32)


@pytest.fixture(scope="module")
def clips(annotate):
    gen = SyntheticGenerator(seed=3, config=SyntheticConfig(seq_len=T, crop_size=S))
    out = []
    for i in range(3):
        clip = gen.clip(i)
        annotate(clip)
        out.append(clip)
    return out


def test_arrays_shapes_and_units(clips):
    c = clips[0]
    assert c["mp_found"].shape == (T,) and c["mp_found"].dtype == bool
    assert c["mp_landmarks"].shape == (T, 33, 5) and c["mp_world"].shape == (T, 33, 3) and c["mp_roi"].shape == (T, 4)
    assert c["mp_heatmaps"].shape == (T, 39, 16, 16) and c["mp_heatmaps"].dtype == np.float16
    assert c["mp_segmentation"].shape == (T, 32, 32) and c["mp_segmentation"].dtype == np.uint8
    found = np.concatenate([k["mp_found"] for k in clips])
    assert found.mean() > 0.5  # the renders look like people to BlazePose (measured: every frame)
    for k in clips:  # where not found, nothing but zeros
        assert not k["mp_landmarks"][~k["mp_found"]].any() and not k["mp_world"][~k["mp_found"]].any()


def test_landmarks_follow_the_exact_labels(clips):
    """In crop-normalised units like kp2d: BlazePose's visible landmarks lie near the exact mediapipe33 labels."""
    errs, torso = [], []
    for c in clips:
        for t in np.flatnonzero(c["mp_found"]):
            exact = c["kp2d_mediapipe33"][t]
            both = (exact[:, 2] > 0.5) & (c["mp_landmarks"][t, :, 3] > 0.5)
            errs.append(np.linalg.norm(c["mp_landmarks"][t, both, :2] - exact[both, :2], axis=1))
            torso.append(np.linalg.norm(exact[[11, 12], :2].mean(0) - exact[[23, 24], :2].mean(0)))
    errs = np.concatenate(errs)
    # PCK at 0.5 × torso (wide: measured ~0.9 at 0.2 × torso); a wrong coordinate convention lands near 0
    assert np.mean(errs < 0.5 * np.median(torso)) > 0.7
    world = np.concatenate([c["mp_world"][c["mp_found"]] for c in clips])
    assert np.abs(world[:, [23, 24]].mean(1)).max() < 0.05  # metres, hip-centred


def test_same_seed_same_annotation(annotate, clips):
    again = SyntheticGenerator(seed=3, config=SyntheticConfig(seq_len=T, crop_size=S)).clip(0)
    annotate(again)
    for k in [k for k in again if k.startswith("mp_")]:
        np.testing.assert_array_equal(again[k], clips[0][k], err_msg=k)


def test_shards_resume_and_carry_the_arrays_into_batches(tmp_path, annotate):
    cfg = SyntheticConfig(seq_len=3, crop_size=S)
    calls = []

    def counting(clip):
        calls.append(1)
        annotate(clip)

    write_shards(tmp_path, num_clips=3, shard_size=2, seed=4, config=cfg, annotate=counting, annotation={"blazepose": "test"})
    assert len(calls) == 3
    first = (tmp_path / "shard-00000.tar").read_bytes()
    (tmp_path / "shard-00001.tar").unlink()  # interrupted before the last shard
    write_shards(tmp_path, num_clips=3, shard_size=2, seed=4, config=cfg, annotate=counting, annotation={"blazepose": "test"})
    assert len(calls) == 4  # only the missing shard's clip was made again
    assert (tmp_path / "shard-00000.tar").read_bytes() == first
    ds = SyntheticShardDataset(tmp_path)
    assert ds.manifest["annotation"] == {"blazepose": "test"}
    item = ds[2]
    assert item["mp_found"].dtype == torch.bool and item["mp_landmarks"].shape == (3, 33, 5)
    assert item["mp_segmentation"].dtype == torch.float32 and float(item["mp_segmentation"].max()) <= 1.0


def test_make_synthetic_blazepose_cli(tmp_path):
    assert _tool().main(["--out", str(tmp_path / "d"), "--clips", "1", "--crop", str(S), "--seq-len", "2", "--blazepose",
                         "--heatmap-size", "8"]) == 0
    item = SyntheticShardDataset(tmp_path / "d")[0]
    assert item["mp_heatmaps"].shape == (2, 39, 8, 8)


def test_training_batches_carry_blazepose_and_the_discriminator_is_on(tmp_path, annotate):
    """dtsvibe-train on shards made with MediaPipe in the loop: the mp_* arrays reach the batches, and with no
    AMASS the CMU motion library trains the motion discriminator (Ladv on)."""
    from training.cli import train_main
    from training.config import load_train_config
    from training.trainer import Trainer, resolve_model_config

    write_shards(tmp_path / "data" / "synthetic", num_clips=2, shard_size=2, seed=1,
                 config=SyntheticConfig(seq_len=4, crop_size=S), annotate=annotate)
    tiny = ("[input.crop_size=128, input.seq_len=4, streams.rgb.pretrained=none, streams.flow.pretrained=none, "
            "streams.flow.provider=dis, embed_dim=64, streams.keypoints.hidden_dim=64, temporal_encoder.layers=1, "
            "temporal_encoder.ff_dim=128, regressor.layers=1, regressor.dim=64, regressor.ff_dim=128, "
            "discriminator.hidden_dim=64, discriminator.attention_dim=64]")
    overrides = [f"model_overrides={tiny}", "batch_size=2", "val_datasets=[]", "main_phase.epochs=1", "main_phase.iters_per_epoch=2",
                 "refinement_phase.enabled=false", f"data_root={tmp_path / 'data'}", f"output_dir={tmp_path / 'runs'}"]
    cfg = load_train_config("synthetic", overrides)
    trainer = Trainer(cfg, resolve_model_config(cfg), progress_bar=False, log=lambda m: None)
    assert trainer.adversarial_active
    batch = next(iter(trainer._loader(0, 0)))
    assert batch["mp_landmarks"].shape == (2, 4, 33, 5) and batch["mp_found"].dtype == torch.bool
    assert train_main(["--config", "synthetic", "--out", str(tmp_path / "run"), "--no-progress", *overrides]) == 0


def test_the_default_recipe_trains_on_blazepose_outputs_with_the_discriminator_on(tmp_path, annotate):
    """``dtsvibe-train --config blazepose`` (the lite default's recipe: the V-stream is BlazePose): its batches
    carry BlazePose's outputs as the V-stream's input, Ladv is on, and a few steps run and write a checkpoint."""
    from training.checkpoint import load_checkpoint
    from training.cli import train_main
    from training.config import load_train_config
    from training.trainer import Trainer, resolve_model_config

    write_shards(tmp_path / "data" / "synthetic", num_clips=2, shard_size=2, seed=1,
                 config=SyntheticConfig(seq_len=4, crop_size=S), annotate=annotate)
    tiny = ("[input.seq_len=4, embed_dim=64, streams.rgb.feature_dim=64, temporal_encoder.layers=1, temporal_encoder.ff_dim=128, "
            "regressor.layers=1, regressor.dim=64, regressor.ff_dim=128, discriminator.hidden_dim=64, discriminator.attention_dim=64]")
    overrides = [f"model_overrides={tiny}", "batch_size=2", "num_workers=0", "val_datasets=[]", "main_phase.epochs=1",
                 "main_phase.iters_per_epoch=2", "refinement_phase.iters_per_epoch=1", f"data_root={tmp_path / 'data'}"]
    cfg = load_train_config("blazepose", overrides)
    model_cfg = resolve_model_config(cfg)
    assert model_cfg.rgb_input == "blazepose"
    trainer = Trainer(cfg, model_cfg, progress_bar=False, log=lambda m: None)
    assert trainer.adversarial_active
    batch = next(iter(trainer._loader(0, 0)))
    inputs = trainer._inputs(batch, 0)
    assert inputs.rgb.shape == (2, 4, 33, 9) and inputs.keypoints is None
    found = batch["mp_found"]
    assert torch.equal(inputs.rgb[..., 8] > 0, found[..., None].expand(-1, -1, 33) & (batch["mp_score"][..., None] > 0))
    assert train_main(["--config", "blazepose", "--out", str(tmp_path / "run"), "--no-progress", *overrides]) == 0
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt.model_config.streams.rgb.backbone == "blazepose" and ckpt.progress.phase == 2


def _report_tool():
    return load_tool("blazepose_on_renders")


def test_pose_categories_of_known_bodies():
    from scipy.spatial.transform import Rotation

    from training.body import BodyModel

    tool = _report_tool()
    upright = Rotation.from_rotvec([np.pi, 0, 0])  # the generator's camera frame: y down, looking along +z
    roots = [upright, upright * Rotation.from_rotvec([0, np.pi, 0]), upright * Rotation.from_euler("x", 60, degrees=True),
             upright * Rotation.from_euler("x", 90, degrees=True)]
    pose = np.zeros((4, 72), np.float32)
    pose[:, :3] = [r.as_rotvec() for r in roots]
    clip = {"pose": pose, "betas": np.zeros((4, 10), np.float32),
            "R": np.repeat(Rotation.from_rotvec([np.pi, 0, 0]).as_matrix()[None], 4, 0)}  # world +y up → camera −y
    assert tool.categories(clip, BodyModel.open()) == ["standing", "facing away", "bent over", "torso horizontal"]


def test_blazepose_on_renders_report(tmp_path):
    import json

    assert _report_tool().main(["--clips", "1", "--seq-len", "4", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "blazepose_on_renders.json").read_text())["rows"]
    assert sum(r["frames"] for r in rows) == 4 and all(0 <= r["found"] <= 1 for r in rows)
    md = (tmp_path / "blazepose_on_renders.md").read_text()
    assert all(f"| {r['category']} | {r['frames']} |" in md for r in rows)
    assert (tmp_path / "blazepose_on_renders.png").stat().st_size > 0


def test_probe_inputs_tool_scores_every_input_set(tmp_path, annotate):
    """tools/probe_inputs.py: the per-frame probe reads the shards' BlazePose arrays, grows its input by the
    heatmaps and the mask, and writes one finite row per input set the shards carry, and per baseline."""
    tool = load_tool("probe_inputs")
    cfg = SyntheticConfig(seq_len=4, crop_size=S)
    for sub, seed in (("synthetic", 5), ("synthetic_heldout", 6)):
        write_shards(tmp_path / sub, num_clips=2, shard_size=2, seed=seed, config=cfg, annotate=annotate)
    frames = tool.load_frames(tmp_path / "synthetic", 2, "test")
    n = len(frames["joints"])
    assert n > 0 and frames["joints"].shape == (n, 14, 3)
    sets = tool.available_sets(frames)
    assert sets == ["landmarks", "+ heatmaps", "+ segmentation"]  # no feature map in these shards
    widths = [tool.inputs(frames, s).shape for s in sets]
    assert widths[0] == (n, 33 * 9) and widths[0][1] < widths[1][1] < widths[2][1]
    assert tool.main(["--data-root", str(tmp_path), "--clips", "2", "--heldout-clips", "2", "--steps", "5",
                      "--curve", "1", "2", "--out", str(tmp_path / "out")]) == 0
    import json

    report = json.loads((tmp_path / "out" / "probe_inputs.json").read_text())
    rows = report["rows"]
    assert len(rows) == 1 + len(sets)
    assert list(report["curve"]) == sets and all(list(c) == ["1", "2"] for c in report["curve"].values())
    assert (tmp_path / "out" / "learning_curve.png").stat().st_size > 0
    assert int(tool.subset(frames, 1)["clip"].max()) == 0 < len(tool.subset(frames, 1)["joints"]) < n
    # scored on another folder when asked (e.g. the training subjects' clips); a folder without shards is refused
    assert tool.main(["--data-root", str(tmp_path), "--clips", "2", "--heldout-clips", "2", "--steps", "5", "--sets", "landmarks",
                      "--heldout-dir", "synthetic", "--out", str(tmp_path / "own")]) == 0
    assert "held-out frames: " + str(n) + " (synthetic/)" in (tmp_path / "own" / "probe_inputs.md").read_text()
    assert tool.main(["--data-root", str(tmp_path), "--heldout-dir", "nowhere", "--out", str(tmp_path / "x")]) == 2
    assert all(np.isfinite(r["pa_mpjpe"]) and r["pa_mpjpe"] > 0 for r in rows.values())
    assert tool.main(["--data-root", str(tmp_path / "missing")]) == 2


def test_probe_window_holds_the_frames_before(tmp_path, annotate):
    """``--window W``: each found frame also carries the landmarks of the W − 1 frames before it in its clip
    (newest first, flagged where BlazePose found the person, zeros before the clip's start), and the probe
    scores the set."""
    tool = load_tool("probe_inputs")
    from training.blazepose_input import shard_features

    cfg = SyntheticConfig(seq_len=4, crop_size=S)
    for sub, seed in (("synthetic", 5), ("synthetic_heldout", 6)):
        write_shards(tmp_path / sub, num_clips=2, shard_size=2, seed=seed, config=cfg, annotate=annotate)
    frames = tool.load_frames(tmp_path / "synthetic", 2, "test", window=3)
    assert "landmarks + past frames" in tool.available_sets(frames)
    assert "past" not in tool.load_frames(tmp_path / "synthetic", 2, "test")  # one frame: no past
    clip = SyntheticShardDataset(tmp_path / "synthetic").clip(0)
    found = np.asarray(clip["mp_found"], bool)
    features = shard_features(clip)
    past = frames["past"][frames["clip"] == 0].float().numpy()
    assert past.shape == (int(found.sum()), 2, 33, features.shape[-1] + 1)
    compared = 0
    for row, t in enumerate(np.flatnonzero(found)):
        for k in (1, 2):
            if t - k < 0 or not found[t - k]:
                assert not past[row, k - 1].any()
            else:
                compared += 1
                np.testing.assert_allclose(past[row, k - 1, :, :-1], features[t - k], atol=2e-3, rtol=1e-2)
                assert (past[row, k - 1, :, -1] == 1).all()
    assert compared > 0
    n = len(frames["joints"])
    assert tool.inputs(frames, "landmarks + past frames").shape == (n, 33 * 9 + 2 * 33 * 10)
    assert tool.main(["--data-root", str(tmp_path), "--clips", "2", "--heldout-clips", "2", "--steps", "5", "--window", "3",
                      "--sets", "landmarks", "landmarks + past frames", "--out", str(tmp_path / "out")]) == 0
    import json

    rows = json.loads((tmp_path / "out" / "probe_inputs.json").read_text())["rows"]
    assert np.isfinite(rows["probe: landmarks + past frames"]["pa_mpjpe"])
    assert tool.main(["--data-root", str(tmp_path), "--window", "0", "--out", str(tmp_path / "x")]) == 2


def test_feature_map_is_stored_and_probed_when_asked(tmp_path):
    """``--blazepose-embedding``: shards carry ``mp_embedding`` (the landmark network's last feature map, float16,
    zeros where BlazePose missed the person) and the probe adds its input set."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    tool, probe = _tool(), load_tool("probe_inputs")
    annotate = tool.blazepose_annotator(heatmap_size=16, mask_size=32, embedding_onnx=tmp_path / "embedding.onnx")
    cfg = SyntheticConfig(seq_len=4, crop_size=S)
    for sub, seed in (("synthetic", 5), ("synthetic_heldout", 6)):
        write_shards(tmp_path / sub, num_clips=1, shard_size=1, seed=seed, config=cfg, annotate=annotate)
    c = SyntheticShardDataset(tmp_path / "synthetic").clip(0)
    assert c["mp_embedding"].shape == (4, 1152) and c["mp_embedding"].dtype == np.float16
    assert c["mp_embedding"][c["mp_found"]].any() and not c["mp_embedding"][~c["mp_found"]].any()
    frames = probe.load_frames(tmp_path / "synthetic", 1, "test")
    assert "landmarks + embedding" in probe.available_sets(frames)
    assert probe.inputs(frames, "landmarks + embedding").shape[1] == 33 * 9 + 1152
    assert probe.main(["--data-root", str(tmp_path), "--clips", "1", "--heldout-clips", "1", "--steps", "3",
                       "--sets", "landmarks + embedding", "--out", str(tmp_path / "out")]) == 0


def test_per_frame_rows_of_a_blazepose_model_include_raw_landmarks(tmp_path, annotate):
    """``dtsvibe-eval --per-frame`` on the BlazePose default: a ``(T=1)`` row whose inputs pass the live landmark
    filter as every other row's do, and a ``(T=1, raw landmarks)`` row fed BlazePose's outputs unfiltered."""
    from training.checkpoint import model_from_checkpoint
    from training.evaluation import _generated_for, evaluate_checkpoints
    from training.paths import DEFAULT_CHECKPOINT

    write_shards(tmp_path / "synthetic_heldout", num_clips=2, shard_size=2, seed=6,
                 config=SyntheticConfig(seq_len=8, crop_size=S), annotate=annotate)
    model, ckpt = model_from_checkpoint(DEFAULT_CHECKPOINT, None, None, False)
    cache: dict = {}
    filtered = _generated_for(model, 2, ckpt.flow_provider, cache, print, tmp_path)
    raw = _generated_for(model, 2, ckpt.flow_provider, cache, print, tmp_path, landmark_filter=False)
    shards = SyntheticShardDataset(tmp_path / "synthetic_heldout")
    from training.blazepose_input import shard_features

    assert np.array_equal(raw[0].inputs["rgb"].numpy(), shard_features(shards.clip(0)))  # as BlazePose gave them
    assert not torch.allclose(filtered[0].inputs["rgb"], raw[0].inputs["rgb"])  # the filter changed them
    results, _ = evaluate_checkpoints([DEFAULT_CHECKPOINT], tmp_path, datasets=[], generated=2, log=lambda m: None,
                                      per_frame=True)
    assert list(results) == ["lite_default", "lite_default (T=1)", "lite_default (T=1, raw landmarks)"]
    accel = {m: r["generated"].metrics["accel"] for m, r in results.items()}
    assert accel["lite_default (T=1)"] != accel["lite_default (T=1, raw landmarks)"]


def test_eval_baselines_scores_every_row_in_table_1_layout(tmp_path, annotate):
    """``tools/eval_baselines.py``: MediaPipe's landmarks, the fit to them and the model's rows, in Table 1's layout
    too — PVE for every row with a mesh (MediaPipe has none), Accel for all, on the same frames."""
    import json

    from training.paths import DEFAULT_CHECKPOINT

    crop = 160  # not the tool's --crop default (128): the note must give the shards' own
    write_shards(tmp_path / "heldout", num_clips=2, shard_size=2, seed=6,
                 config=SyntheticConfig(seq_len=6, crop_size=crop), annotate=annotate)
    tool = load_tool("eval_baselines")
    assert tool.main(["--shards", str(tmp_path / "heldout"), "--clips", "2", "--iters", "5",
                      "--checkpoint", str(DEFAULT_CHECKPOINT), "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "eval_baselines.json").read_text())["rows"]
    assert list(rows) == ["(a) MediaPipe world landmarks", "(b) per-frame fit of the body to them", "lite_default",
                          "lite_default (T=1)", "lite_default + body filter"]
    assert rows["(a) MediaPipe world landmarks"]["pve"] is None
    assert all(r["pve"] > 0 for name, r in rows.items() if not name.startswith("(a)"))
    assert all(r["accel"] > 0 and r["frames"] == rows["lite_default"]["frames"] > 0 for r in rows.values())
    assert rows["lite_default + body filter"]["accel"] != rows["lite_default"]["accel"]  # the filter changed the body
    md = (tmp_path / "out" / "eval_baselines.md").read_text()
    assert "| method | PA-MPJPE↓ | MPJPE↓ | PVE↓ | Accel↓ |" in md and "| (a) MediaPipe world landmarks | " in md
    assert f"frames at {crop}²" in md
