"""The two-phase trainer: loss goes down, phases do what the paper says, DDP == one process, CLI errors.

Data are tiny VIBE-format db files written in tmp folders (features mode, labels made with the open body
so that they are consistent) plus AMASS-format ``.npz`` files; :func:`write_fake_data` is shared with
``test_checkpoint.py`` and ``test_evaluation.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch

from training.batches import BatchError, DbExtrasDataset, keypoint_input, loss_targets, model_inputs
from training.checkpoint import load_checkpoint
from training.config import load_model_config, load_train_config
from training.data import write_vibe_db
from training.trainer import Trainer, TrainData, build_train_data, resolve_model_config

REPO = Path(__file__).resolve().parents[1]
FEAT = load_model_config("lite").streams.rgb.feature_dim  # backbone feature width of the smoke config's streams
SEQ = 8
CROP = 64


# -- fake data -----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _body():
    from training.body import BodyModel

    return BodyModel.open()


def _smooth_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 72) axis-angle: upright root (π about x) and small smooth joint motion."""
    t = np.arange(n)[:, None]
    phase, freq = rng.uniform(0, 6.28, (1, 72)), rng.uniform(0.05, 0.2, (1, 72))
    pose = 0.25 * np.sin(freq * t + phase)
    pose[:, :3] = [np.pi, 0.0, 0.0]
    return pose.astype(np.float32)


def _labels(pose: np.ndarray, betas: np.ndarray) -> dict[str, np.ndarray]:
    body = _body()
    with torch.no_grad():
        out = body(pose=torch.from_numpy(pose).reshape(-1, 24, 3), betas=torch.from_numpy(betas))
        spin = body.joint_set(out, "spin49").numpy()
        mp = body.joint_set(out, "mediapipe33").numpy()
    return {"spin49": spin, "mp33": mp}


def make_db(seed: int, videos: int = 2, frames: int = 16, with_3d: bool = True, extras: bool = True) -> dict[str, np.ndarray]:
    """A VIBE db dict in features mode: features are a fixed random map of the pose (learnable)."""
    rng = np.random.default_rng(seed)
    proj = np.random.default_rng(99).normal(size=(72 + 10, FEAT)).astype(np.float32) / 4
    rows: dict[str, list] = {k: [] for k in ("vid_name", "frame_id", "joints2D", "joints3D", "pose", "shape", "bbox", "features", "flow_features", "kp2d_mediapipe33")}
    for v in range(videos):
        pose = _smooth_poses(rng, frames)
        betas = np.repeat(rng.normal(scale=0.5, size=(1, 10)).astype(np.float32), frames, 0)
        lab = _labels(pose, betas)
        bbox = np.tile(np.array([[100.0, 100.0, 100.0, 100.0]], np.float32), (frames, 1))
        half = 1.2 * 100 / 2
        def to_px(p3):  # weak perspective s = 0.9, t = 0 into the crop, then pixels
            xy = 0.9 * p3[..., :2]
            return np.concatenate([100 + xy * half, np.ones_like(xy[..., :1])], -1).astype(np.float32)
        rows["vid_name"] += [f"s{seed}_v{v}"] * frames
        rows["frame_id"] += list(range(frames))
        rows["joints2D"].append(to_px(lab["spin49"]))
        rows["joints3D"].append(lab["spin49"] if with_3d else np.zeros_like(lab["spin49"]))
        rows["pose"].append(pose if with_3d else np.zeros_like(pose))
        rows["shape"].append(betas if with_3d else np.zeros_like(betas))
        rows["bbox"].append(bbox)
        feats = np.tanh(np.concatenate([pose, betas], 1) @ proj)
        rows["features"].append(feats.astype(np.float32))
        rows["flow_features"].append(np.tanh(np.gradient(feats, axis=0) * 5).astype(np.float32))
        rows["kp2d_mediapipe33"].append(to_px(lab["mp33"]))
    db = {k: (np.concatenate(v) if isinstance(v[0], np.ndarray) else np.array(v)) for k, v in rows.items()}
    if not extras:
        db.pop("flow_features")
        db.pop("kp2d_mediapipe33")
    return db


def write_amass(folder: Path, files: int = 2, frames: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for i in range(files):
        pose = _smooth_poses(rng, frames).astype(np.float64)
        np.savez(folder / f"seq{i}_poses.npz", poses=pose, mocap_framerate=np.array(30.0), betas=np.zeros(16), trans=np.zeros((frames, 3)))
    return folder


def write_fake_data(root: Path, amass: bool = True, val: bool = True, extras: bool = True) -> Path:
    """``root`` with insta_train_db.pt (2D only), 3dpw_train_db.pt, [3dpw_test_db.pt], [amass/*.npz]."""
    write_vibe_db(root / "insta_train_db.pt", make_db(1, with_3d=False, extras=extras))
    write_vibe_db(root / "3dpw_train_db.pt", make_db(2, extras=extras))
    if val:
        write_vibe_db(root / "3dpw_test_db.pt", make_db(3, videos=1, frames=12, extras=extras))
    if amass:
        write_amass(root / "amass")
    return root


def smoke_config(root: Path, out: Path, *overrides: str):
    """The shipped smoke config on ``root``'s data, with test overrides."""
    return load_train_config("smoke", [f"data_root={root}", f"output_dir={out}", *overrides])


def make_trainer(cfg, data: Optional[TrainData] = None, **kw) -> Trainer:
    return Trainer(cfg, resolve_model_config(cfg), data=data, progress_bar=False, log=kw.pop("log", lambda m: None), **kw)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: these many small steps slow down badly when 2 threads share a busy core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_fake_data(tmp_path_factory.mktemp("data"))


# -- batches --------------------------------------------------------------------------------------------------
def test_batches_assemble_inputs_and_targets(data_root):
    cfg = smoke_config(data_root, data_root / "runs")
    data = build_train_data(cfg, resolve_model_config(cfg), log=lambda m: None)
    item = data.datasets_3d[0][0]
    assert isinstance(data.datasets_3d[0], DbExtrasDataset)
    assert item["flow_features"].shape == (SEQ, FEAT) and item["kp2d_mediapipe33"].shape == (SEQ, 33, 3)
    assert item["kp2d_mediapipe33"][..., :2].abs().max() <= 1.0  # normalised to the crop
    from training.data import collate

    batch = collate([item, data.datasets_2d[0][0]])
    inputs = model_inputs(batch, ("rgb", "flow", "keypoints"))
    assert inputs.rgb.shape == (2, SEQ, FEAT) and inputs.flow.shape == (2, SEQ, FEAT)
    assert inputs.keypoints.shape == (2, SEQ, 33, 4) and torch.all(inputs.keypoints[..., 2] == 0)
    t = loss_targets(batch)
    assert t.has_kp3d[0].all() and not t.has_kp3d[1].any() and not t.has_smpl[1].any()
    assert t.kp3d_conf[0].all()  # all 49 joints labelled in the fake 3D data
    noisy = keypoint_input(batch["kp2d_mediapipe33"], 0.05, torch.Generator().manual_seed(0))
    assert not torch.equal(noisy[..., :2], inputs.keypoints[..., :2]) and torch.equal(noisy[..., 3], inputs.keypoints[..., 3])


def test_vibe_features_cannot_feed_a_flow_stream(tmp_path):
    root = write_fake_data(tmp_path, amass=False, val=False, extras=False)
    cfg = smoke_config(root, tmp_path / "runs")
    with pytest.raises(BatchError, match="flow stream needs 'flow_features' or 'flow'.*streams.flow.enabled=false"):
        make_trainer(cfg)
    with pytest.raises(BatchError, match=f"'features' are {FEAT}-d but the rgb stream's backbone gives 2048-d"):
        make_trainer(smoke_config(root, tmp_path / "runs", "model=paper", "model_overrides=[streams.rgb.pretrained=none, "
                                  "streams.flow.pretrained=none]"))
    # with the flow and keypoint streams off, the same data trains
    cfg = smoke_config(root, tmp_path / "runs", "model_overrides=[input.crop_size=64, input.seq_len=8, streams.rgb.pretrained=none, "
                       "streams.flow.enabled=false, streams.keypoints.enabled=false, embed_dim=64, temporal_encoder.layers=1, "
                       "regressor.layers=1, regressor.dim=64]")
    assert make_trainer(cfg).stream_names == ("rgb",)


# -- training -----------------------------------------------------------------------------------------------------
def test_short_run_lowers_the_loss_and_writes_checkpoints(data_root, tmp_path):
    """~40 steps of the main phase on a tiny data set: the mean loss of the last steps is well below the first."""
    cfg = smoke_config(
        data_root, tmp_path / "run", "main_phase.epochs=2", "main_phase.iters_per_epoch=20", "refinement_phase.enabled=false",
        "model_overrides=[input.crop_size=64, input.seq_len=8, streams.rgb.pretrained=none, streams.flow.pretrained=none, "
        "streams.keypoints.hidden_dim=64, embed_dim=64, temporal_encoder.layers=1, temporal_encoder.ff_dim=128, "
        "regressor.layers=1, regressor.dim=64, regressor.ff_dim=128, discriminator.hidden_dim=64, "
        "discriminator.attention_dim=64, optim.generator_lr=0.0005]",
    )
    messages: list[str] = []
    trainer = make_trainer(cfg, log=messages.append)
    assert trainer.adversarial_active and trainer.disc is not None
    summary = trainer.fit()
    totals = [h["total"] for h in trainer.history]
    assert len(totals) == 40 and all(np.isfinite(totals))
    first, last = np.mean(totals[:5]), np.mean(totals[-5:])
    assert last < 0.7 * first, (first, last)
    assert {"kp3d", "kp2d", "smpl_pose", "smpl_shape", "adv", "disc"} <= set(trainer.history[0])
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "best.pt").is_file()
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert np.isfinite(summary["metrics"]["pa_mpjpe"]) and summary["progress"]["best_metric"] == "pa_mpjpe"
    assert any("main epoch 2/2" in m and "pa_mpjpe" in m for m in messages)
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best.progress.best_value == pytest.approx(min(best.progress.best_value, summary["metrics"]["pa_mpjpe"]))


class WithPixelFlow(torch.utils.data.Dataset):
    """A tiny fake flow source: adds a constant backward flow (T, 2, S, S) to each item."""

    def __init__(self, base, shift=(1.5, -0.5)) -> None:
        self.base, self.shift, self.name = base, shift, getattr(base, "name", "fake")

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        item = dict(self.base[i])
        flow = torch.zeros(SEQ, 2, CROP, CROP)
        flow[1:, 0], flow[1:, 1] = self.shift
        item["flow"] = flow
        return item


def test_refinement_phase_adds_flow_loss_and_removes_discriminator(data_root, tmp_path):
    cfg = smoke_config(data_root, tmp_path / "run", "main_phase.epochs=1", "main_phase.iters_per_epoch=2",
                       "refinement_phase.epochs=1", "refinement_phase.iters_per_epoch=2")
    mcfg = resolve_model_config(cfg)
    base = build_train_data(cfg, mcfg, log=lambda m: None)
    data = TrainData([WithPixelFlow(d) for d in base.datasets_2d], [WithPixelFlow(d) for d in base.datasets_3d], base.motion, base.val)
    messages: list[str] = []
    trainer = make_trainer(cfg, data, log=messages.append)
    assert trainer.use_flow_loss
    trainer.fit()
    main, refine = trainer.history[:2], trainer.history[2:]
    assert all("adv" in h and "disc" in h and "flow" not in h for h in main)
    assert all("flow" in h and "adv" not in h and "disc" not in h and h["flow"] > 0 for h in refine)
    assert trainer.opt_d is None and trainer.opt_g.param_groups[0]["lr"] == pytest.approx(mcfg.optim.refinement_lr)
    assert any("phase refinement" in m and "Lflow on" in m for m in messages)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt.progress.phase_name == "done" or ckpt.progress.phase == 1
    assert ckpt.discriminator_state is None and "discriminator" not in ckpt.optimizers


class WithCrops(torch.utils.data.Dataset):
    """Adds ImageNet-normalised crops (T, 3, S, S) of a moving square, and no flow, to each item."""

    def __init__(self, base) -> None:
        self.base, self.name = base, getattr(base, "name", "fake")

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        item = dict(self.base[i])
        rgb = torch.full((SEQ, 3, CROP, CROP), -1.0)
        for t in range(SEQ):
            rgb[t, :, 20:40, 10 + 2 * t : 30 + 2 * t] = 1.5
        item["rgb"] = rgb
        return item


def test_refinement_computes_flow_with_the_provider_when_data_has_none(data_root, tmp_path):
    from training.batches import provider_flow_fn

    cfg = smoke_config(data_root, tmp_path / "run", "main_phase.epochs=1", "main_phase.iters_per_epoch=1",
                       "refinement_phase.epochs=1", "refinement_phase.iters_per_epoch=2", "val_datasets=[]",
                       "model_overrides=[input.crop_size=64, input.seq_len=8, streams.rgb.pretrained=none, "
                       "streams.flow.enabled=false, streams.keypoints.enabled=false, embed_dim=64, "
                       "temporal_encoder.layers=1, regressor.layers=1, regressor.dim=64]")
    base = build_train_data(cfg, resolve_model_config(cfg), log=lambda m: None)
    data = TrainData([WithCrops(d) for d in base.datasets_2d], [WithCrops(d) for d in base.datasets_3d], base.motion, {})
    flow_fn = provider_flow_fn("dis")
    flow = flow_fn(data.datasets_3d[0][0]["rgb"][None])
    assert flow.shape == (1, SEQ, 2, CROP, CROP) and torch.all(flow[:, 0] == 0)
    assert flow[0, 3, 0, 30, 25] < -0.5  # the square moved right by 2 px: backward flow points left
    trainer = make_trainer(cfg, data, flow_fn=flow_fn)
    assert trainer.use_flow_loss
    trainer.fit()
    assert all(h["flow"] > 0 for h in trainer.history[1:])


def test_without_amass_the_cmu_library_trains_the_discriminator(tmp_path):
    root = write_fake_data(tmp_path, amass=False, val=False)
    messages: list[str] = []
    trainer = make_trainer(smoke_config(root, tmp_path / "runs"), log=messages.append)
    notes = [m for m in messages if "CMU motion library" in m]
    assert len(notes) == 1 and "no AMASS" in notes[0] and "\n" not in notes[0]
    assert trainer.disc is not None and trainer.adversarial_active  # Ladv on: the paper's motion prior, real mocap
    motion = trainer.data.motion
    assert len(motion) > 1000 and motion[0]["pose6d"].shape == (8, 138)  # the smoke config's T = 8
    assert any("no per-pixel flow" in m for m in messages)  # feature data: refinement without Lflow


def test_no_real_motion_disables_the_discriminator_with_one_warning(tmp_path):
    root = write_fake_data(tmp_path, amass=False, val=False)
    messages: list[str] = []
    trainer = make_trainer(smoke_config(root, tmp_path / "runs", "motion_dataset=none"), log=messages.append)
    warnings = [m for m in messages if "disabled" in m]
    assert len(warnings) == 1 and "no real motion" in warnings[0] and "\n" not in warnings[0]
    assert trainer.disc is None and not trainer.adversarial_active
    assert trainer._best_metric_name() == "train_loss"


# -- distributed -----------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_OVERRIDES = (
    "batch_size=4", "mix.ratio_2d=0", "mix.ratio_3d=1", "main_phase.epochs=1", "main_phase.iters_per_epoch=3",
    "refinement_phase.enabled=false", "discriminator_dropout=0", "val_datasets=[]",
    "model_overrides=[input.crop_size=64, input.seq_len=8, streams.rgb.pretrained=none, streams.flow.pretrained=none, "
    "streams.keypoints.hidden_dim=64, embed_dim=64, temporal_encoder.layers=1, temporal_encoder.ff_dim=128, "
    "temporal_encoder.dropout=0, regressor.layers=1, regressor.dim=64, regressor.ff_dim=128, regressor.dropout=0, "
    "discriminator.hidden_dim=64, discriminator.attention_dim=64, optim.generator_lr=0.0005]",
)


def test_sharded_batches_split_each_global_batch():
    from training.data import MixedBatchSampler
    from training.trainer import DistInfo, ShardedBatches

    def batches(rank: int, world: int, skip: int = 0) -> list[list[int]]:
        sampler = MixedBatchSampler([(0, 10), (10, 30)], [0.5, 0.5], batch_size=4, num_batches=5, seed=3)
        sharded = ShardedBatches(sampler, DistInfo(rank, world))
        sharded.set_epoch(2, skip)
        return list(sharded)

    full = batches(0, 1)
    halves = [batches(0, 2), batches(1, 2)]
    assert all(len(b) == 2 for h in halves for b in h)
    for i, b in enumerate(full):
        assert sorted(halves[0][i] + halves[1][i]) == sorted(b)
        assert halves[0][i][0] < 10 and halves[0][i][1] >= 10  # each process keeps the 2D/3D mix
    assert batches(1, 2, skip=3) == halves[1][3:]


def test_ddp_with_two_cpu_processes_equals_one_process(data_root, tmp_path):
    """torchrun, 2 processes (gloo) with 2 items each == 1 process with 4 items (same weights to 1e-5)."""
    one = make_trainer(smoke_config(data_root, tmp_path / "one", *DDP_OVERRIDES))
    one.fit()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        "-m", "training.cli", "--config", "smoke", "--no-progress", "--out", str(tmp_path / "two"),
        f"data_root={data_root}", *DDP_OVERRIDES,
    ]
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("dtsvibe-train: done") == 1  # only rank 0 speaks
    assert "2 process(es) (DDP, GLOO) × 2 items = global batch 4" in run.stdout
    two = load_checkpoint(tmp_path / "two" / "last.pt")
    assert two.progress.global_step == one.progress.global_step == 3 and len(two.rng) == 2
    assert _max_difference(one.model, two.model_state) < 1e-5
    assert _max_difference(one.disc, two.discriminator_state) < 1e-5


def test_torchrun_with_one_process_joins_the_group(data_root, tmp_path):
    """torchrun --nproc_per_node=1 (a one-GPU machine) runs the DDP path, not the plain one: the GPU check of
    issue 16 found NCCL never used there (gloo here; NCCL where device=cuda)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=1", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "training.cli", "--config", "smoke", "--no-progress", "--out", str(tmp_path / "one"),
           f"data_root={data_root}", *DDP_OVERRIDES]
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 process(es) (DDP, GLOO) × 4 items = global batch 4" in run.stdout
    assert load_checkpoint(tmp_path / "one" / "last.pt").progress.global_step == 3


def _max_difference(module: torch.nn.Module, state: dict) -> float:
    """Largest |difference| to ``state`` over every tensor element whose gradient is a real signal.

    Biases in front of a softmax (attention key biases, the discriminator's pooling score bias) have a
    gradient that is exactly zero in theory and float noise in practice; Adam normalises that noise into
    lr-sized steps of random sign, so those elements are not comparable between runs and are skipped.
    """
    params = dict(module.named_parameters())
    worst = 0.0
    for name, ref in module.state_dict().items():
        diff = (state[name] - ref).abs()
        grad = params[name].grad if name in params else None
        if grad is not None:
            diff = diff[grad.abs() > 1e-7]
        worst = max(worst, diff.max().item() if diff.numel() else 0.0)
    return worst


# -- command line -------------------------------------------------------------------------------------------------------
def test_train_cli_missing_data_folder_is_one_line(tmp_path, capsys):
    from training.cli import train_main

    assert train_main(["--config", "smoke", f"data_root={tmp_path / 'nope'}", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0] and "_train_db.pt" in err[0] and "data_root=" in err[0]
    assert train_main(["--config", "smoke", "mian_phase.epochs=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mian_phase: unknown key" in err[0] and "main_phase" in err[0]


def test_train_cli_help_lists_every_option(capsys):
    from training.cli import train_main

    with pytest.raises(SystemExit):
        train_main(["--help"])
    out = capsys.readouterr().out
    for opt in ("--config", "--resume", "--out", "--max-steps", "--no-progress", "KEY=VALUE"):
        assert opt in out


def test_cli_train_stop_resume_and_evaluate(data_root, tmp_path, capsys):
    """The command-line round trip: train (stopped early), resume to the end, evaluate the best checkpoint."""
    from training.cli import eval_main, train_main

    args = ["--config", "smoke", f"data_root={data_root}", "main_phase.iters_per_epoch=2", "refinement_phase.iters_per_epoch=2",
            "--out", str(tmp_path), "--no-progress"]
    assert train_main([*args, "--max-steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "stopped in the main phase at step 3" in out and load_checkpoint(tmp_path / "last.pt").progress.global_step == 3
    assert train_main([*args, "--resume", str(tmp_path / "last.pt")]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "done at step 6" in out and "refinement epoch 1/1" in out
    assert eval_main([str(tmp_path / "best.pt"), "--generated", "0"]) == 0  # data_root from the checkpoint
    out = capsys.readouterr().out
    assert "3DPW" in out and (tmp_path / "eval" / "results.json").is_file()


def test_trains_on_generated_video_without_any_data_set(tmp_path):
    """datasets_3d: [synthetic] needs no files: clips are generated on the fly, with exact flow for Lflow."""
    pytest.importorskip("moderngl", reason="the synthetic generator needs moderngl")
    from training.synthetic.render import gl_available

    if not gl_available():
        pytest.skip("no OpenGL (EGL) context on this machine")
    from training.checkpoint import load_checkpoint
    from training.cli import train_main

    tiny = ("[input.crop_size=64, input.seq_len=4, streams.rgb.pretrained=none, streams.flow.pretrained=none, "
            "streams.flow.provider=dis, embed_dim=64, streams.keypoints.hidden_dim=64, temporal_encoder.layers=1, "
            "temporal_encoder.ff_dim=128, regressor.layers=1, regressor.dim=64, regressor.ff_dim=128]")
    rc = train_main([
        "--config", "synthetic", "--out", str(tmp_path / "run"), f"model_overrides={tiny}", "batch_size=2",
        "synthetic_clips=4", "val_datasets=[]", "main_phase.epochs=1", "main_phase.iters_per_epoch=2",
        "refinement_phase.epochs=1", "refinement_phase.iters_per_epoch=1", f"data_root={tmp_path / 'none'}",
    ])
    assert rc == 0
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    # both phases ran (2 main + 1 refinement steps) and the O-stream records its flow provider
    assert ckpt.progress.global_step == 3 and ckpt.progress.phase == 2 and ckpt.flow_provider == "dis"
