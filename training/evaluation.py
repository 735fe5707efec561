"""Evaluation of checkpoints: VIBE-format test sets and a generated benchmark → a Table-1 style report.

Protocol (VIBE's, as the paper reports it): whole-sequence inference
(:func:`training.model.inference.infer_sequence`), the 14 LSP joints (``spin49[25:39]``, the same
points as the body model's ``lsp14`` set), both skeletons centred on their pelvis = mid-hips, errors in
millimetres: PA-MPJPE, MPJPE, PVE (meshes centred on their joints' pelvis; only where SMPL labels
exist) and Accel (mm/frame², per-frame curves for a Figure-5 style plot). Frame-weighted means over
all sequences of a data set.

Pieces, each usable alone:

* :class:`EvalSequence` — one person's whole sequence: per-stream inputs and labels;
* :func:`sequences_from_db` — the sequences of a VIBE db file (features mode);
  :func:`generated_sequences` / :func:`clip_to_sequence` — the synthetic generator's held-out clips
  (the only place that touches ``training.synthetic``; pass ``make_generator`` to stub it);
* :func:`evaluate_sequences` — metrics of a model on sequences (also the trainer's validation);
* :func:`format_table`, :func:`table_markdown`, :func:`write_report`, :func:`plot_accel` — the report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .blazepose_input import shard_features
from .landmark_smoothing import smooth_features
from .pose_smoothing import smooth_sequence
from .preprocessing import imagenet_normalise, normalise_keypoints
from .data.vibe_format import read_vibe_db, validate_vibe_db
from .data.windows import segment_bounds
from .metrics import LSP14_PELVIS, accel_error, mpjpe, pa_mpjpe, pve
from .model.dtsvibe import LANDMARKS
from .model.inference import infer_sequence

__all__ = [
    "DATASET_TITLES",
    "EVAL_SETS",
    "HELDOUT_SEED",
    "DatasetResult",
    "EvalSequence",
    "clip_to_sequence",
    "evaluate_checkpoints",
    "evaluate_sequences",
    "find_eval_db",
    "format_table",
    "generated_sequences",
    "plot_accel",
    "predict_sequence",
    "sequences_from_db",
    "table_markdown",
    "write_report",
]

#: Test sets and the split VIBE evaluates on (``<name>_<split>*db.pt`` under data_root), in Table 1 order.
EVAL_SETS: dict[str, str] = {"3dpw": "test", "mpii3d": "val", "h36m": "test"}
DATASET_TITLES: dict[str, str] = {
    "3dpw": "3DPW", "mpii3d": "MPI-INF-3DHP", "h36m": "Human3.6M", "generated": "Generated",
}
METRICS: tuple[tuple[str, str], ...] = (("pa_mpjpe", "PA-MPJPE"), ("mpjpe", "MPJPE"), ("pve", "PVE"), ("accel", "Accel"))
#: The generator seed of the held-out benchmark (training draws clips with other seeds).
HELDOUT_SEED = 1_000_003
#: Where the held-out benchmark's clips with BlazePose's outputs are written, under data_root, and how.
#: Frame rate of the generated clips (``GeneratorConfig.fps``).
GENERATED_FPS = 30.0
HELDOUT_SHARDS = "synthetic_heldout"
HELDOUT_COMMAND = ("python tools/make_synthetic.py --out <data_root>/synthetic_heldout --clips 32 --crop 128 --seq-len 48 "
                   "--blazepose --shard-size 8 --seed 1000003 --motion-split test")
#: ``spin49[25:39]`` are the 14 LSP evaluation joints (see ``training.body.joint_sets.GT24``).
LSP14_IN_SPIN49 = slice(25, 39)


@dataclass
class EvalSequence:
    """One person's sequence of N frames.

    ``inputs``: per stream, ``rgb`` (N, F) features or (N, 3, S, S) crops, ``flow`` (N, F) or
    (N, 2, S, S), ``keypoints`` (N, 33, 4). Labels: ``kp3d`` (N, 49, 3) metres (all-zero rows =
    unlabelled), ``pose`` (N, 72) / ``betas`` (N, 10) SMPL, masks ``valid``/``has_kp3d``/``has_smpl`` (N,).
    """

    name: str
    inputs: dict[str, torch.Tensor]
    valid: torch.Tensor
    kp3d: Optional[torch.Tensor] = None
    has_kp3d: Optional[torch.Tensor] = None
    pose: Optional[torch.Tensor] = None
    betas: Optional[torch.Tensor] = None
    has_smpl: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.valid.shape[0])


@dataclass
class DatasetResult:
    """Metrics of one data set (mm, mm/frame²) and the per-frame acceleration error of each sequence."""

    name: str
    metrics: dict[str, float]
    frames: int
    sequences: int
    accel_curves: dict[str, np.ndarray] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**{k: _json_float(v) for k, v in self.metrics.items()}, "frames": self.frames, "sequences": self.sequences}


def _json_float(v: float) -> Optional[float]:
    return None if v is None or not math.isfinite(v) else round(float(v), 3)


# -- sources ---------------------------------------------------------------------------------------------
def find_eval_db(data_root: Union[str, Path], name: str) -> Optional[Path]:
    """The test db of data set ``name`` under ``data_root`` (its VIBE split, then ``test``/``val``), or None."""
    root = Path(data_root)
    for split in dict.fromkeys([EVAL_SETS.get(name, "test"), "test", "val"]):
        matches = sorted(root.glob(f"{name}_{split}*db.pt"))
        if matches:
            return matches[0]
    return None


def _mask_or(db: Mapping[str, np.ndarray], sl: slice, n: int) -> np.ndarray:
    return db["valid"][sl].astype(bool) if "valid" in db else np.ones(n, bool)


def sequences_from_db(
    db: Union[str, Path, Mapping[str, Any]],
    stream_names: Sequence[str] = ("rgb",),
    name: Optional[str] = None,
    scale: float = 1.2,
    rgb_input: str = "crops",
) -> list[EvalSequence]:
    """The sequences (segments of consecutive frames of one ``vid_name``) of a VIBE db in features mode.

    The rgb stream reads ``features``; the flow stream ``flow_features``; the keypoint stream
    ``kp2d_mediapipe33`` (image pixels, normalised to the crop like ``joints2D``). A stream whose key is
    absent raises ``ValueError`` naming it, and so does a BlazePose V-stream (``rgb_input="blazepose"``):
    a db carries no BlazePose outputs; the db's images go through the live path instead (``dtsvibe-eval --frames``).
    """
    source = name or (Path(db).name if isinstance(db, (str, Path)) else "<dict>")
    if rgb_input == "blazepose":
        where = str(db) if isinstance(db, (str, Path)) else source
        raise ValueError(f"{source}: the model's V-stream is BlazePose, whose outputs a VIBE db does not carry; score it on the "
                         f"db's images through the live path: dtsvibe-eval --frames {where} --images <the folder its img_name "
                         "paths are relative to>")
    data = read_vibe_db(db) if isinstance(db, (str, Path)) else validate_vibe_db(db, source)
    keys = {"rgb": "features", "flow": "flow_features", "keypoints": "kp2d_mediapipe33"}
    for stream in stream_names:
        if keys[stream] not in data:
            raise ValueError(f"{source}: the model's {stream} stream needs '{keys[stream]}' in the db, which it lacks")
    out = []
    for start, end in segment_bounds(data["vid_name"], data["frame_id"]):
        sl = slice(int(start), int(end))
        n = int(end - start)
        inputs = {s: torch.from_numpy(np.asarray(data[keys[s]][sl], np.float32)) for s in stream_names if s != "keypoints"}
        if "keypoints" in stream_names:
            kp = np.asarray(data["kp2d_mediapipe33"][sl], np.float32)
            xy = normalise_keypoints(kp[..., [0, 1, -1]], data["bbox"][sl], scale)
            kp = np.concatenate([xy[..., :2], np.zeros_like(xy[..., :1]), kp[..., -1:]], -1) if kp.shape[-1] == 3 else \
                np.concatenate([xy[..., :2], kp[..., 2:]], -1)
            inputs["keypoints"] = torch.from_numpy(kp)
        valid = _mask_or(data, sl, n)
        seq = EvalSequence(name=f"{data['vid_name'][start]}@{start}", inputs=inputs, valid=torch.from_numpy(valid))
        if "joints3D" in data:
            kp3d = np.asarray(data["joints3D"][sl], np.float32)
            seq.kp3d = torch.from_numpy(kp3d)
            seq.has_kp3d = torch.from_numpy(valid & (kp3d[:, LSP14_IN_SPIN49] != 0).any(axis=(1, 2)))
        if "pose" in data and "shape" in data:
            pose, betas = np.asarray(data["pose"][sl], np.float32), np.asarray(data["shape"][sl], np.float32)
            seq.pose, seq.betas = torch.from_numpy(pose), torch.from_numpy(betas)
            seq.has_smpl = torch.from_numpy(valid & ((pose != 0).any(1) | (betas != 0).any(1)))
        out.append(seq)
    return out


def clip_to_sequence(
    clip: Mapping[str, Any],
    name: str = "generated",
    stream_names: Sequence[str] = ("rgb", "flow", "keypoints"),
    flow_fn: Optional[Callable[[np.ndarray], np.ndarray]] = None,
    rgb_input: str = "crops",
    landmark_filter: bool = True,
) -> EvalSequence:
    """A synthetic clip (``SyntheticGenerator.clip`` layout: ``rgb`` (T, S, S, 3) uint8, ``flow``
    (T, 2, S, S), ``kp2d_mediapipe33`` (T, 33, 3), ``kp3d``, ``pose``, ``betas``) → :class:`EvalSequence`.

    The O-stream gets ``flow_fn(rgb)`` (uint8 (T, S, S, 3) → (T, 2, S, S), e.g. a ``training.flow``
    provider through ``sequence_flow``), or the generator's exact flow without one. ``rgb_input="blazepose"``:
    the V-stream gets BlazePose's outputs (the clip's ``mp_*`` arrays, ``tools/make_synthetic.py --blazepose``),
    through the live app's landmark filter (``training.landmark_smoothing``, its default setting), or raw
    (``landmark_filter=False``: each frame's outputs as BlazePose gave them, what a per-frame method sees).
    """
    rgb = np.asarray(clip["rgb"])
    if rgb_input == "blazepose":
        if "mp_landmarks" not in clip:
            raise ValueError("the model's V-stream is BlazePose: clips need mp_* arrays (tools/make_synthetic.py --blazepose)")
        features = shard_features(clip)
        inputs = {"rgb": torch.from_numpy(smooth_features(features, GENERATED_FPS) if landmark_filter else features)}
    else:
        inputs = {"rgb": torch.from_numpy(imagenet_normalise(rgb) if rgb.dtype == np.uint8 else rgb.astype(np.float32))}
    if "flow" in stream_names:
        flow = flow_fn(rgb) if flow_fn is not None else clip["flow"]
        inputs["flow"] = torch.from_numpy(np.asarray(flow, np.float32))
    if "keypoints" in stream_names:
        kp = torch.from_numpy(np.asarray(clip["kp2d_mediapipe33"], np.float32))
        inputs["keypoints"] = torch.cat([kp[..., :2], torch.zeros_like(kp[..., :1]), kp[..., -1:]], -1) if kp.shape[-1] == 3 else kp
    n = rgb.shape[0]
    ones = torch.ones(n, dtype=torch.bool)
    return EvalSequence(
        name=name, inputs=inputs, valid=ones,
        kp3d=torch.as_tensor(np.asarray(clip["kp3d"], np.float32)), has_kp3d=ones.clone(),
        pose=torch.as_tensor(np.asarray(clip["pose"], np.float32)).reshape(n, 72),
        betas=torch.as_tensor(np.asarray(clip["betas"], np.float32)), has_smpl=ones.clone(),
    )


def generated_sequences(
    num_clips: int,
    crop_size: int,
    seq_len: int = 48,
    seed: int = HELDOUT_SEED,
    stream_names: Sequence[str] = ("rgb", "flow", "keypoints"),
    make_generator: Optional[Callable[[], Any]] = None,
    flow_provider: Optional[str] = None,
    rgb_input: str = "crops",
    landmark_filter: bool = True,
) -> list[EvalSequence]:
    """The held-out generated benchmark: clips ``0 … num_clips−1`` of the synthetic generator with seed
    :data:`HELDOUT_SEED`. ``make_generator()`` → an object with ``clip(index) -> dict`` (default: a
    ``training.synthetic`` generator of ``seq_len`` frames of ``crop_size``² crops). ``flow_provider``:
    the ``training.flow`` provider that computes the O-stream's flow from the frames (None: the
    generator's exact flow). ``landmark_filter``: see :func:`clip_to_sequence`."""
    flow_fn = None
    if flow_provider is not None and "flow" in stream_names:
        from .flow import make_provider, sequence_flow

        provider = make_provider(flow_provider)

        def flow_fn(frames: np.ndarray) -> np.ndarray:
            return sequence_flow(provider, frames)

    if make_generator is None:
        from .synthetic.generator import SyntheticConfig, SyntheticGenerator

        def make_generator() -> Any:
            # the motion library's test subjects: motions never used for training
            return SyntheticGenerator(seed=seed, config=SyntheticConfig(seq_len=seq_len, crop_size=crop_size, motion_split="test"))

    gen = make_generator()
    return [clip_to_sequence(gen.clip(i), f"generated/{i}", stream_names, flow_fn, rgb_input, landmark_filter)
            for i in range(num_clips)]


# -- prediction and metrics ---------------------------------------------------------------------------------
@torch.no_grad()
def predict_sequence(model: Any, seq: EvalSequence, chunk: int = 64, per_frame: bool = False,
                     pose_filter: bool = False) -> dict[str, torch.Tensor]:
    """Whole-sequence inference: ``theta`` (N, P), ``joints`` (N, 14, 3) LSP, ``vertices`` (N, V, 3), metres.
    ``per_frame``: each frame alone (T = 1), see :func:`~training.model.inference.infer_sequence`;
    ``pose_filter``: then the live app's body filter (``training.pose_smoothing``, default setting)."""
    device = model.theta_mean.device
    feats: dict[str, list[torch.Tensor]] = {k: [] for k in model.feature_names}
    n = len(seq)
    for s in range(0, n, chunk):
        part = {k: seq.inputs[k][s : s + chunk].to(device)[None] for k in model.stream_names if k in seq.inputs}
        enc = model.encode_frames(part["rgb"], part.get("flow"), part.get("keypoints"))
        for k, v in enc.items():
            feats[k].append(v[0])
    feats_all = {k: torch.cat(v) for k, v in feats.items()}
    out = model.decode(infer_sequence(model, feats_all, per_frame=per_frame), feats_all.get(LANDMARKS))
    if pose_filter:
        keys = ("theta", "rotmat", "betas", "cam", "vertices", "joints3d", "joints2d")
        smoothed = smooth_sequence({k: out[k].cpu().numpy() for k in keys}, GENERATED_FPS)
        out = {k: torch.from_numpy(v).to(device) for k, v in smoothed.items()}
    return {"theta": out["theta"], "joints": out["joints3d"][:, LSP14_IN_SPIN49], "vertices": out["vertices"]}


@torch.no_grad()
def ground_truth(body: Any, seq: EvalSequence, device: torch.device) -> dict[str, Optional[torch.Tensor]]:
    """LSP-14 joints (N, 14, 3) (from ``kp3d`` where labelled, else from SMPL), vertices (N, V, 3) where
    SMPL exists (else None), and the masks ``joints_valid`` / ``smpl_valid`` (N,)."""
    n = len(seq)
    valid = seq.valid.bool().to(device)
    joints = torch.zeros(n, 14, 3, device=device)
    has_kp3d = seq.has_kp3d.to(device) if seq.has_kp3d is not None else torch.zeros_like(valid)
    has_smpl = seq.has_smpl.to(device) if seq.has_smpl is not None else torch.zeros_like(valid)
    vertices = None
    if has_smpl.any():
        out = body(pose=seq.pose.to(device).reshape(n, 24, 3), betas=seq.betas.to(device)[:, : body.num_betas])
        joints = body.joint_set(out, "lsp14")
        vertices = out.vertices
    if seq.kp3d is not None:
        joints = torch.where(has_kp3d[:, None, None], seq.kp3d[:, LSP14_IN_SPIN49].to(device), joints)
    return {
        "joints": joints, "vertices": vertices,
        "joints_valid": valid & (has_kp3d | has_smpl), "smpl_valid": valid & has_smpl,
    }


def _per_frame(pred: Mapping[str, torch.Tensor], gt: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Per-frame errors in mm (NaN where the label is missing); ``accel`` is (N−2,)."""
    pj, tj = pred["joints"] * 1000.0, gt["joints"] * 1000.0
    jv, sv = gt["joints_valid"], gt["smpl_valid"]
    nan = torch.full((pj.shape[0],), math.nan, device=pj.device)
    res = {
        "mpjpe": torch.where(jv, mpjpe(pj, tj), nan),
        "pa_mpjpe": torch.where(jv, pa_mpjpe(pj, tj), nan),
        "pve": nan.clone(),
        "accel": accel_error(pj, tj, jv) if pj.shape[0] >= 3 else nan[:0],
    }
    if gt["vertices"] is not None:
        idx = list(LSP14_PELVIS)
        err = pve(pred["vertices"] * 1000.0, gt["vertices"] * 1000.0, pj[:, idx].mean(1), tj[:, idx].mean(1))
        res["pve"] = torch.where(sv, err, nan)
    return res


def _finite_mean(x: torch.Tensor) -> float:
    x = x[torch.isfinite(x)]
    return float(x.mean()) if x.numel() else math.nan


@torch.no_grad()
def evaluate_sequences(model: Any, sequences: Iterable[EvalSequence], name: str = "data", per_frame: bool = False,
                       pose_filter: bool = False) -> DatasetResult:
    """Metrics of ``model`` over ``sequences`` (frame-weighted means, mm); the model is put in eval mode.
    ``per_frame``, ``pose_filter``: see :func:`predict_sequence`."""
    was_training = model.training
    model.eval()
    device = model.theta_mean.device
    chunks: dict[str, list[torch.Tensor]] = {k: [] for k, _ in METRICS}
    curves: dict[str, np.ndarray] = {}
    frames = count = 0
    for seq in sequences:
        gt = ground_truth(model.body, seq, device)
        per = _per_frame(predict_sequence(model, seq, per_frame=per_frame, pose_filter=pose_filter), gt)
        for k in chunks:
            chunks[k].append(per[k].cpu())
        curves[seq.name] = per["accel"].cpu().numpy()
        frames += int(gt["joints_valid"].sum())
        count += 1
    model.train(was_training)
    metrics = {k: _finite_mean(torch.cat(v)) if v else math.nan for k, v in chunks.items()}
    return DatasetResult(name=name, metrics=metrics, frames=frames, sequences=count, accel_curves=curves)


# -- report -------------------------------------------------------------------------------------------------
Results = Mapping[str, Mapping[str, DatasetResult]]  # method → data set → result


def _cell(v: Optional[float]) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.1f}"


def _datasets(results: Results) -> list[str]:
    names = list(dict.fromkeys(d for r in results.values() for d in r))
    order = list(DATASET_TITLES)
    return sorted(names, key=lambda d: (order.index(d) if d in order else len(order), d))


def format_table(results: Results) -> str:
    """A plain-text table laid out like the paper's Table 1: a row per method, per data set the
    columns PA-MPJPE, MPJPE, PVE, Accel (mm; Accel mm/frame²; ``-`` where not measurable)."""
    sets = _datasets(results)
    width = max([len("Method")] + [len(m) for m in results]) + 2
    col = 10
    top = " " * width + "".join(f"{DATASET_TITLES.get(d, d):<{col * len(METRICS)}}" for d in sets)
    head = f"{'Method':<{width}}" + "".join(f"{t + '↓':<{col}}" for _ in sets for _, t in METRICS)
    lines = [top.rstrip(), head.rstrip()]
    for method, per in results.items():
        cells = [_cell(per[d].metrics.get(k)) if d in per else "-" for d in sets for k, _ in METRICS]
        lines.append((f"{method:<{width}}" + "".join(f"{c:<{col}}" for c in cells)).rstrip())
    return "\n".join(lines)


def table_markdown(results: Results) -> str:
    """The same table in Markdown (one header row: ``<data set> <metric>↓``)."""
    sets = _datasets(results)
    header = ["Method"] + [f"{DATASET_TITLES.get(d, d)} {t}↓" for d in sets for _, t in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for method, per in results.items():
        cells = [_cell(per[d].metrics.get(k)) if d in per else "-" for d in sets for k, _ in METRICS]
        lines.append("| " + " | ".join([method] + cells) + " |")
    return "\n".join(lines) + "\n"


def table_json(results: Results, notes: Sequence[str] = (), extra: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The report as a JSON-able dict (values rounded to 0.001; null where not measurable)."""
    return {
        "protocol": "VIBE: whole-sequence inference, 14 LSP joints, pelvis = mid-hips, frame-weighted means",
        "units": {"pa_mpjpe": "mm", "mpjpe": "mm", "pve": "mm", "accel": "mm/frame^2"},
        "datasets": _datasets(results),
        "rows": [{"method": m, "results": {d: r.to_dict() for d, r in per.items()}} for m, per in results.items()],
        "notes": list(notes),
        **dict(extra or {}),
    }


def plot_accel(
    results: Results, path: Union[str, Path], dataset: Optional[str] = None, sequence: Optional[str] = None, fps: Optional[float] = None
) -> Optional[Path]:
    """A Figure-5 style plot: per-frame acceleration error along one sequence, a curve per method.

    Default sequence: the longest one of the first data set. Returns the PNG path (None: nothing to plot).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = _datasets(results)
    dataset = dataset or next((d for d in sets if any(d in r and r[d].accel_curves for r in results.values())), None)
    if dataset is None:
        return None
    curves = {m: r[dataset].accel_curves for m, r in results.items() if dataset in r}
    first = next(iter(curves.values()))
    sequence = sequence or max(first, key=lambda s: len(first[s]), default=None)
    if sequence is None:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=120)
    for method, per_seq in curves.items():
        y = per_seq.get(sequence)
        if y is not None and len(y):
            x = np.arange(1, len(y) + 1)
            ax.plot(x / fps if fps else x, y, lw=1.2, label=method)
    ax.set_xlabel("time (s)" if fps else "frame")
    ax.set_ylabel("acceleration error (mm/frame²)")
    ax.set_title(f"{DATASET_TITLES.get(dataset, dataset)}: {sequence}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(
    results: Results, out_dir: Union[str, Path], notes: Sequence[str] = (), extra: Optional[Mapping[str, Any]] = None
) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and ``accel.png`` (Figure 5 style) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    paths["json"].write_text(json.dumps(table_json(results, notes, extra), indent=2) + "\n", encoding="utf-8")
    md = table_markdown(results) + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")
    paths["markdown"].write_text(md, encoding="utf-8")
    png = plot_accel(results, out / "accel.png")
    if png is not None:
        paths["plot"] = png
    return paths


# -- checkpoints → report ------------------------------------------------------------------------------------
def evaluate_checkpoints(
    checkpoints: Sequence[Union[str, Path]],
    data_root: Optional[Union[str, Path]] = None,
    datasets: Sequence[str] = tuple(EVAL_SETS),
    generated: Union[int, Sequence[EvalSequence], None] = 0,
    flow_provider: Optional[str] = None,
    force_flow_provider: bool = False,
    device: Union[str, torch.device] = "cpu",
    log: Callable[[str], None] = print,
    per_frame: bool = False,
    untrained: bool = False,
    pose_filter: bool = False,
) -> tuple[dict[str, dict[str, DatasetResult]], list[str]]:
    """Evaluate each checkpoint on the test sets found under ``data_root`` and on a generated benchmark.

    ``generated``: a number of held-out generated clips (needs ``training.synthetic``), or the
    sequences themselves (e.g. ``generated_sequences(...)`` with a stub generator). Missing data sets
    are skipped with a one-line note (also returned in ``notes``). Returns (method → data set →
    result, notes); the method name is the checkpoint's file stem (made unique).

    Baselines for the first checkpoint's network: ``per_frame`` adds a row ``<name> (T=1)`` (the same
    weights, each frame alone); ``untrained`` a row ``<name> untrained`` (the same config, random
    weights, seed 0); ``pose_filter`` a row ``<name> + body filter`` (then the live app's filter after the
    model, ``training.pose_smoothing``). With a BlazePose V-stream ``per_frame`` also adds ``<name> (T=1, raw
    landmarks)``: each frame alone on BlazePose's raw outputs, without the live landmark filter that every
    other row's generated inputs pass first (a filter over frames too: the strict per-frame baseline).
    """
    from .checkpoint import model_from_checkpoint

    notes: list[str] = []

    def note(msg: str) -> None:
        notes.append(msg)
        log(f"note: {msg}")

    results: dict[str, dict[str, DatasetResult]] = {}
    gen_cache: dict[tuple, list[EvalSequence]] = {}
    runs: list[tuple[Union[str, Path], str]] = [(p, "") for p in checkpoints]
    if untrained:
        runs.append((checkpoints[0], "untrained"))
    if per_frame:
        runs.append((checkpoints[0], "T=1"))
        runs.append((checkpoints[0], "T=1 raw"))
    if pose_filter:
        runs.append((checkpoints[0], "filter"))
    base_name = ""
    for path, variant in runs:
        model, ckpt = model_from_checkpoint(path, None, flow_provider, force_flow_provider, device=device)
        if force_flow_provider and flow_provider and ckpt.flow_provider and flow_provider != ckpt.flow_provider and not variant:
            note(f"{Path(path).name}: trained on {ckpt.flow_provider!r} flow, evaluated with {flow_provider!r} (forced)")
        if variant == "untrained":
            from .model import build_model

            torch.manual_seed(0)
            model = build_model(model.cfg).to(device).eval()
        if variant == "T=1 raw" and model.cfg.rgb_input != "blazepose":
            continue  # only BlazePose inputs pass a landmark filter: this row would repeat "(T=1)"
        if variant:
            method = base_name + {"untrained": " untrained", "T=1": " (T=1)", "T=1 raw": " (T=1, raw landmarks)",
                                  "filter": " + body filter"}[variant]
        else:
            method = Path(path).stem if Path(path).stem not in results else f"{Path(path).parent.name}/{Path(path).stem}"
            base_name = base_name or method
        one_frame, filtered, raw = variant.startswith("T=1"), variant == "filter", variant == "T=1 raw"
        per: dict[str, DatasetResult] = {}
        for name in datasets:
            db = find_eval_db(data_root, name) if data_root is not None and Path(data_root).is_dir() else None
            if db is None:
                if path == checkpoints[0] and not variant:
                    note(f"{DATASET_TITLES.get(name, name)}: no {name}_{EVAL_SETS.get(name, 'test')}_db.pt under {data_root}; skipped")
                continue
            try:
                seqs = sequences_from_db(db, model.stream_names, rgb_input=model.cfg.rgb_input)
            except ValueError as exc:
                note(f"{DATASET_TITLES.get(name, name)} skipped for {method}: {exc}")
                continue
            per[name] = evaluate_sequences(model, seqs, name, per_frame=one_frame, pose_filter=filtered)
        provider = flow_provider or ckpt.flow_provider
        seqs = _generated_for(model, generated, provider, gen_cache, note if path == checkpoints[0] else (lambda m: None), data_root,
                              landmark_filter=not raw)
        if seqs:
            per["generated"] = evaluate_sequences(model, seqs, "generated", per_frame=one_frame, pose_filter=filtered)
        results[method] = per
    return results, notes


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def blazepose_shards(data_root: Optional[Union[str, Path]], name: str = HELDOUT_SHARDS) -> Optional[Path]:
    """``<data_root>/<name>`` when it holds shards (default: the held-out benchmark with BlazePose's outputs).
    A BlazePose V-stream cannot be fed by clips generated here on the fly (BlazePose runs in ``realtime``), so
    its benchmark and validation clips are written ahead by ``tools/make_synthetic.py --blazepose``."""
    folder = Path(data_root) / name if data_root is not None else None
    return folder if folder is not None and (folder / "manifest.json").is_file() else None


def _generated_for(
    model: Any, generated: Any, provider: Optional[str], cache: dict, note: Callable[[str], None],
    data_root: Optional[Union[str, Path]] = None, landmark_filter: bool = True,
) -> list[EvalSequence]:
    """The generated benchmark for this model's crop size, streams and flow provider (made once per setting);
    ``landmark_filter``: see :func:`clip_to_sequence`.

    The O-stream's flow comes from ``provider`` (the one the checkpoint was trained with); when that
    provider cannot run here, the generator's exact flow is used and a note says so. A BlazePose V-stream
    reads the clips from :func:`blazepose_shards`.
    """
    if not generated:
        return []
    if not isinstance(generated, int):
        return list(generated)
    provider = provider if "flow" in model.stream_names else None
    rgb_input = model.cfg.rgb_input
    make_generator = None
    if rgb_input == "blazepose":
        shards = blazepose_shards(data_root)
        if shards is None:
            note(f"generated benchmark skipped: the BlazePose V-stream needs <data_root>/{HELDOUT_SHARDS} ({HELDOUT_COMMAND})")
            return []
        from .synthetic import SyntheticShardDataset

        make_generator = lambda: SyntheticShardDataset(shards)  # noqa: E731
        generated = min(generated, len(make_generator()))
    landmark_filter = landmark_filter or rgb_input != "blazepose"  # only BlazePose inputs are filtered
    key = (generated, model.cfg.input.crop_size, model.stream_names, provider, rgb_input, landmark_filter)
    if key in cache:
        return cache[key]
    if provider is not None:
        try:
            from .flow import make_provider

            make_provider(provider)
        except Exception as exc:  # noqa: BLE001 - e.g. the learned flow graph is not built yet
            note(f"generated benchmark: {provider!r} flow unavailable ({_first_line(exc)}); the O-stream gets the generator's exact flow")
            provider = None
    try:
        cache[key] = generated_sequences(generated, model.cfg.input.crop_size, stream_names=model.stream_names,
                                         flow_provider=provider, make_generator=make_generator, rgb_input=rgb_input,
                                         landmark_filter=landmark_filter)
    except Exception as exc:  # noqa: BLE001 - the generator is optional (GL, assets); say why and go on
        note(f"generated benchmark skipped: {_first_line(exc)}")
        cache[key] = []
    return cache[key]
