#!/usr/bin/env python3
"""How much 3D pose BlazePose's outputs hold: a per-frame probe on the generated shards.

    python tools/probe_inputs.py --data-root DATA [--clips 3200] [--steps 3000] [--out docs/probe_inputs]
    python tools/probe_inputs.py --data-root DATA --train-dirs synthetic synthetic_b --curve 200 800 3200   # + learning curve

The lite default's V-CNN is BlazePose, frozen (issue 18); what the model can know of a pose is what
BlazePose's outputs carry. This tool measures that without the model around them: a small MLP (2 × 512,
dropout 0.2, inputs standardised) learns, frame by frame, the body's 14 LSP joints (mid-hips centred,
camera axes) from one input set, on the frames of ``DATA/synthetic`` where BlazePose found the person;
it is scored on ``DATA/synthetic_heldout`` (the motion library's test subjects, never trained on; another folder
with ``--heldout-dir``). Input
sets, each adding to the one before:

* ``landmarks``: the V-stream's own input (``training.blazepose_input``: 33 image landmarks with visibility
  and presence, 33 world landmarks, the score);
* ``+ heatmaps``: BlazePose's 39 heatmaps as stored in the shards (16², pooled to 8²);
* ``+ segmentation``: its person mask (64², sampled to 16²);
* ``landmarks + embedding``: the landmarks and the network's last feature map (288 × 2 × 2, the layer its
  landmark, world and score heads read), only when the shards carry it (``tools/make_synthetic.py
  --blazepose-embedding``): whether BlazePose knows more of the pose than its heads put out;
* ``landmarks + past frames`` (with ``--window W`` > 1): the landmarks of the frame and of the ``W − 1`` before it in
  its clip, each with a flag for whether BlazePose found the person there — what the causal temporal model
  could add to one frame's evidence.

Rows for comparison: MediaPipe's world landmarks through a linear landmark → joint map (least squares on the
training frames, the same map for x, y, z), and the checkpoint's network when ``--checkpoint`` is given
(``training.evaluation``'s whole-clip inference, the same frames and joints).

Writes ``probe_inputs.md`` and ``probe_inputs.json`` under ``--out``. The probe is seeded; its figures move
by about a millimetre between seeds.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from training.baselines import LSP14_IN_SPIN49
from training.blazepose_input import shard_features
from training.metrics import pa_mpjpe
from training.model.landmark_fit import LIMB_JOINTS

#: Input sets: the BlazePose outputs each one concatenates.
INPUT_SETS = {
    "landmarks": ("landmarks",),
    "+ heatmaps": ("landmarks", "heatmaps"),
    "+ segmentation": ("landmarks", "heatmaps", "segmentation"),
    "landmarks + embedding": ("landmarks", "embedding"),
    "landmarks + past frames": ("landmarks", "past"),
}
LIMB_SPIN49, LIMB_LANDMARKS = (list(x) for x in zip(*LIMB_JOINTS))
PELVIS = (2, 3)  # the LSP hips


def load_frames(roots: Path | Sequence[Path], clips: int, desc: str, window: int = 1) -> dict[str, torch.Tensor]:
    """The frames of the first ``clips`` clips of each shard folder where BlazePose found the person;
    ``window`` > 1: also ``past`` ``(N, window − 1, 33, C + 1)``, the landmarks of the frames before each (the newest
    first) with a last channel 1 where BlazePose found the person there (all 0 before the clip's start or where not).

    ``clip`` numbers the clips across folders taken in turn (the first clip of each folder, then the second …),
    so the first ``n`` clip numbers draw evenly on every folder (:func:`subset`)."""
    from training.synthetic import SyntheticShardDataset

    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("landmarks", "heatmaps", "segmentation", "embedding", "past", "joints",
                                                          "error2d", "clip")}
    for r, root in enumerate(roots):
        ds = SyntheticShardDataset(root)
        for i in tqdm(range(min(clips, len(ds))), desc=f"{desc} ({Path(root).name})", unit="clip"):
            c = ds.clip(i)
            found = np.asarray(c["mp_found"], bool)
            joints = np.asarray(c["kp3d"], np.float32)[found][:, LSP14_IN_SPIN49]
            features = shard_features(c)
            parts["landmarks"].append(features[found])
            if window > 1:
                flagged = np.concatenate([features * found[:, None, None], np.broadcast_to(found[:, None, None], (*features.shape[:2], 1))], -1)
                padded = np.concatenate([np.zeros((window - 1, *flagged.shape[1:]), flagged.dtype), flagged])
                t = np.flatnonzero(found) + window - 1  # each found frame's row in ``padded``
                parts["past"].append(np.stack([padded[t - k] for k in range(1, window)], 1).astype(np.float16))
            parts["heatmaps"].append(np.asarray(c["mp_heatmaps"], np.float16)[found])
            parts["segmentation"].append(np.asarray(c["mp_segmentation"])[found][:, ::4, ::4])
            if "mp_embedding" in c:
                parts["embedding"].append(np.asarray(c["mp_embedding"], np.float16)[found])
            parts["joints"].append(joints - joints[:, PELVIS].mean(1, keepdims=True))
            # BlazePose's 12 limb landmarks against the body's joints in the image, per frame, as a share of the
            # person's height there (the labels' head top to lowest ankle)
            exact = np.asarray(c["kp2d_spin49"], np.float32)[found]
            err = np.linalg.norm(np.asarray(c["mp_landmarks"])[found][:, LIMB_LANDMARKS, :2] - exact[:, LIMB_SPIN49, :2], axis=-1)
            parts["error2d"].append(err.mean(1) / np.ptp(exact[:, LSP14_IN_SPIN49, 1], axis=1))
            parts["clip"].append(np.full(int(found.sum()), i * len(roots) + r, np.int64))
    if parts["embedding"] and len(parts["embedding"]) != len(parts["landmarks"]):
        parts["embedding"] = []  # some folders lack it: the set is not available
    return {k: torch.from_numpy(np.concatenate(v)) for k, v in parts.items() if v}


def subset(frames: dict[str, torch.Tensor], clips: int) -> dict[str, torch.Tensor]:
    """The frames of the first ``clips`` clip numbers."""
    keep = frames["clip"] < clips
    return {k: v[keep] for k, v in frames.items()}


def inputs(frames: dict[str, torch.Tensor], input_set: str) -> torch.Tensor:
    """(N, D) probe inputs: the V-stream's landmark channels (coordinates weighted by presence, as
    ``BlazePoseStream`` weights them), then the heatmaps, the mask and the feature map as the set asks."""
    parts = INPUT_SETS[input_set]
    cols = []
    def weighted(x: torch.Tensor) -> torch.Tensor:  # (..., 33, C) → (N, D)
        presence = x[..., 4:5].clamp(0, 1)
        return torch.cat([x[..., :3] * presence, x[..., 3:5], x[..., 5:8] * presence, x[..., 8:]], -1).flatten(1)

    if "landmarks" in parts:
        cols.append(weighted(frames["landmarks"].float()))
    if "past" in parts:
        cols.append(weighted(frames["past"].float()))
    if "heatmaps" in parts:
        cols.append(F.avg_pool2d(frames["heatmaps"].float(), 2).flatten(1))
    if "segmentation" in parts:
        cols.append(frames["segmentation"].float().flatten(1) / 255.0)
    if "embedding" in parts:
        cols.append(frames["embedding"].float())
    return torch.cat(cols, 1)


def row_name(input_set: str) -> str:
    """The report's row of a probe: the window's set is not per frame."""
    return f"{'probe' if 'past' in INPUT_SETS[input_set] else 'per-frame probe'}: {input_set}"


def available_sets(frames: dict[str, torch.Tensor]) -> list[str]:
    """The input sets whose every part these frames carry."""
    return [name for name, parts in INPUT_SETS.items() if all(p in frames for p in parts)]


def scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    return {"pa_mpjpe": float(pa_mpjpe(pred, target).mean() * 1000), "mpjpe": float((pred - target).norm(dim=-1).mean() * 1000)}


def probe(train: dict[str, torch.Tensor], test: dict[str, torch.Tensor], input_set: str, steps: int, seed: int) -> dict[str, float]:
    """Train the per-frame MLP on one input set; its held-out and training scores at the run's end (no
    step is picked on the held-out frames)."""
    torch.manual_seed(seed)
    a, b = inputs(train, input_set), inputs(test, input_set)
    mean, std = a.mean(0), a.std(0) + 1e-3
    a, b = (a - mean) / std, (b - mean) / std
    net = nn.Sequential(nn.Linear(a.shape[1], 512), nn.LayerNorm(512), nn.GELU(), nn.Dropout(0.2),
                        nn.Linear(512, 512), nn.GELU(), nn.Linear(512, 14 * 3))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    y = train["joints"].float()
    for _ in tqdm(range(steps), desc=f"probe {input_set}", unit="step", leave=False):
        idx = torch.randint(0, len(a), (256,))
        loss = (net(a[idx]).view(-1, 14, 3) - y[idx]).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        held = scores(net(b).view(-1, 14, 3), test["joints"].float())
        sub = slice(0, min(len(a), 5000))
        seen = scores(net(a[sub]).view(-1, 14, 3), y[sub])
    return {**held, "train_pa_mpjpe": seen["pa_mpjpe"]}


def linear_world_map(train: dict[str, torch.Tensor], test: dict[str, torch.Tensor]) -> dict[str, float]:
    """MediaPipe's world landmarks → the 14 joints by one least-squares (33 → 14) map shared by x, y, z."""
    def world(f):
        return f["landmarks"][..., 5:8].float().permute(0, 2, 1).reshape(-1, 33)

    m = torch.linalg.lstsq(world(train), train["joints"].float().permute(0, 2, 1).reshape(-1, 14)).solution
    pred = (world(test) @ m).reshape(-1, 3, 14).permute(0, 2, 1)
    return scores(pred, test["joints"].float())


def checkpoint_row(path: str, root: Path, clips: int, test: dict[str, torch.Tensor]) -> dict[str, float]:
    """The checkpoint's network over the same held-out frames (whole clips, then the found frames kept)."""
    from training.checkpoint import flow_provider_of, load_checkpoint, model_from_checkpoint
    from training.evaluation import clip_to_sequence, predict_sequence
    from training.flow import make_provider, sequence_flow
    from training.synthetic import SyntheticShardDataset

    ckpt = load_checkpoint(path)
    provider = flow_provider_of(ckpt.model_config)
    model, _ = model_from_checkpoint(ckpt, flow_provider=provider)
    flow = make_provider(provider) if provider else None
    ds = SyntheticShardDataset(root)
    preds = []
    for i in tqdm(range(min(clips, len(ds))), desc=Path(path).name, unit="clip"):
        c = ds.clip(i)
        seq = clip_to_sequence(c, f"heldout/{i}", model.stream_names, (lambda f: sequence_flow(flow, f)) if flow else None,
                               model.cfg.rgb_input)
        joints = predict_sequence(model, seq)["joints"][torch.from_numpy(np.asarray(c["mp_found"], bool))]
        preds.append(joints - joints[:, PELVIS].mean(1, keepdim=True))
    return scores(torch.cat(preds).float(), test["joints"].float())


def plot_curve(curve: dict[str, dict[int, dict[str, float]]], path: Path) -> None:
    """Held-out PA-MPJPE against training clips (log axis), one line per input set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for s, by_n in curve.items():
        ax.plot(list(by_n), [r["pa_mpjpe"] for r in by_n.values()], "o-", label=s)
    ax.set_xscale("log", base=2)
    ticks = sorted({n for by_n in curve.values() for n in by_n})
    ax.set_xticks(ticks, [str(n) for n in ticks])
    ax.minorticks_off()
    ax.set_xlabel("training clips (16 frames each)")
    ax.set_ylabel("held-out PA-MPJPE, mm")
    ax.set_title("Per-frame probe on BlazePose's outputs")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True, help="folder holding synthetic/ and synthetic_heldout/ (tools/make_synthetic.py --blazepose)")
    p.add_argument("--clips", type=int, default=3200, help="training clips read from each training folder (default: 3200)")
    p.add_argument("--train-dirs", nargs="+", default=["synthetic"],
                   help="training shard folders under --data-root, read in turn (default: synthetic)")
    p.add_argument("--curve", nargs="+", type=int, default=[],
                   help="also a learning curve: each input set probed on the first N training clips, for each N "
                        "(a table and learning_curve.png)")
    p.add_argument("--heldout-clips", type=int, default=32)
    p.add_argument("--heldout-dir", default="synthetic_heldout",
                   help="the folder under --data-root the probes are scored on (default: synthetic_heldout, the library's "
                        "test subjects; e.g. clips of the training subjects, to tell new poses from new clips)")
    p.add_argument("--steps", type=int, default=3000, help="probe training steps, batch 256 (default: 3000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=1,
                   help="W > 1 adds the input set 'landmarks + past frames': the frame's and the W - 1 before it (default: 1)")
    p.add_argument("--sets", nargs="+", choices=list(INPUT_SETS), help="input sets to probe (default: every one the shards carry)")
    p.add_argument("--checkpoint", action="append", default=[], help="add the network of this checkpoint as a row")
    p.add_argument("--out", default="docs/probe_inputs")
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("probe_inputs", args.out)  # before any work: a path that cannot be written fails now, in one line
    root = Path(args.data_root)
    for sub in (*args.train_dirs, args.heldout_dir):
        if not (root / sub / "manifest.json").is_file():
            print(f"error: no shards in {root / sub}; make them first (training/checkpoints/README.md, 'How it was made')", file=sys.stderr)
            return 2
    if args.window < 1:
        print(f"error: --window {args.window}: give 1 (one frame) or more", file=sys.stderr)
        return 2
    train = load_frames([root / d for d in args.train_dirs], args.clips, "training clips", args.window)
    test = load_frames(root / args.heldout_dir, args.heldout_clips, "held-out clips", args.window)
    rows = {"MediaPipe world landmarks, linear map to the joints": linear_world_map(train, test)}
    sets = [s for s in available_sets(train) if s in available_sets(test) and (not args.sets or s in args.sets)]
    for s in sets:
        rows[row_name(s)] = probe(train, test, s, args.steps, args.seed)
    total = int(train["clip"].max()) + 1
    curve = {s: {n: rows[row_name(s)] if n >= total else probe(subset(train, n), test, s, args.steps, args.seed)
                 for n in args.curve} for s in sets if args.curve}
    for ck in args.checkpoint:
        rows[f"{Path(ck).name} (the model, whole clips)"] = checkpoint_row(ck, root / args.heldout_dir, args.heldout_clips, test)

    heldout_note = ", the motion library's test subjects" if args.heldout_dir == "synthetic_heldout" else ""
    cmd = "python tools/probe_inputs.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = ["# What BlazePose's outputs tell of the 3D pose", "", f"`{cmd}`", "",
             f"Training frames: {len(train['joints'])} (where BlazePose found the person, {int(train['clip'].max()) + 1} clips of "
             f"{', '.join(d + '/' for d in args.train_dirs)}); "
             f"held-out frames: {len(test['joints'])} ({args.heldout_dir}/{heldout_note}). "
             "14 LSP joints, mid-hips centred, mm.", "",
             f"BlazePose's 12 limb landmarks lie {100 * float(test['error2d'].mean()):.1f} % of the person's height from the body's joints "
             f"in the image on the held-out frames ({100 * float(train['error2d'].mean()):.1f} % on the training frames): its own error "
             "and where it puts a hip or a shoulder against where the body's joints are.", "",
             "| input | held-out PA-MPJPE | held-out MPJPE | training PA-MPJPE |", "|---|---:|---:|---:|"]
    for name, r in rows.items():
        tr = r.get("train_pa_mpjpe")
        lines.append(f"| {name} | {r['pa_mpjpe']:.1f} | {r['mpjpe']:.1f} | {'' if tr is None else f'{tr:.1f}'} |")
    if curve:
        lines += ["", "**Learning curve**: held-out PA-MPJPE / MPJPE of each probe trained on the first N training clips "
                  "(training frames in brackets).", "",
                  "| input | " + " | ".join(f"{n} clips ({int((train['clip'] < n).sum())})" for n in args.curve) + " |",
                  "|---|" + "---:|" * len(args.curve)]
        for s, by_n in curve.items():
            lines.append(f"| {s} | " + " | ".join(f"{r['pa_mpjpe']:.1f} / {r['mpjpe']:.1f}" for r in by_n.values()) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "probe_inputs.md").write_text(table)
        if curve:
            plot_curve(curve, out / "learning_curve.png")
        (out / "probe_inputs.json").write_text(json.dumps({"command": cmd, "rows": rows, "train_frames": len(train["joints"]),
                                                          "curve": {s: {str(n): r for n, r in c.items()} for s, c in curve.items()},
                                                          "landmark_error_share_of_height": float(test["error2d"].mean()),
                                                          "heldout_frames": len(test["joints"])}, indent=2))
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror}; pass --out a folder you can write", file=sys.stderr)
        return 2
    print(f"wrote {out / 'probe_inputs.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
