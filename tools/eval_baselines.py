#!/usr/bin/env python3
"""The baselines any model must beat, on the held-out generated benchmark: MediaPipe's world landmarks, and
the body model fitted to them frame by frame.

    python tools/eval_baselines.py [--clips 24] [--crop 128] [--out docs/eval_baselines]
    python tools/eval_baselines.py --shards data/synthetic_heldout --checkpoint CKPT... [--out DIR]   # + models' rows

Clips of the held-out benchmark (the motion library's test subjects, seed ``HELDOUT_SEED``) are played
through BlazePose as the live app runs it (``tools/make_synthetic.py``'s annotator). On the frames where it
finds the person, over the 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists; the exact labels
are the body's LSP joints):

* **(a) MediaPipe world landmarks**: its own hip, knee, … landmarks, as they are (MediaPipe's definitions
  of those joints, which are not the evaluators': its hips sit higher and wider);
* **(b) per-frame fit**: the body fitted to those world landmarks (``training.fitting.fit_landmarks``, each
  frame alone) and its LSP limb joints — MediaPipe's evidence with the evaluators' joint definitions.

Both, and the errors, come from ``training.baselines`` (``dtsvibe-eval --frames`` scores them on still
test frames).

``--shards`` reads the held-out clips with BlazePose's outputs already stored (``training.evaluation.HELDOUT_COMMAND``)
instead of making them, from one folder or more (the fixed 32 clips and the extended set of
``training/checkpoints/README.md``: ``--shards $D/synthetic_heldout $D/synthetic_heldout_b --clips 96``); ``--checkpoint`` adds a row per checkpoint (whole clips through the model, scored on the same
frames), and ``<name> (T=1)`` for the first (the same weights, each frame alone).

MPJPE after aligning the mid-hips (MediaPipe's world axes are the camera's), PA-MPJPE after a similarity
alignment, in mm, over all frames and per pose category (as in ``tools/blazepose_on_renders.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


import numpy as np
from tqdm import tqdm

from tools.blazepose_on_renders import CATEGORIES, categories
from tools.make_synthetic import blazepose_annotator
from training.baselines import LIMBS12, LSP14_IN_SPIN49, MEDIAPIPE_LIMBS, fitted_lsp14, joint_errors
from training.body import BodyModel
from training.evaluation import HELDOUT_SEED
from training.fitting import PosePrior
from training.synthetic import SyntheticConfig, SyntheticGenerator

#: The 12 limb joints in LSP order (``training.baselines``): their spin49 indices (its GT24 part).
SPIN49_LIMBS = [LSP14_IN_SPIN49[i] for i in LIMBS12]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--iters", type=int, default=300, help="fitting steps per start")
    p.add_argument("--out", default="out/eval_baselines")
    p.add_argument("--shards", type=Path, nargs="+", help="folders of held-out clips with BlazePose's outputs "
                   "(tools/make_synthetic.py --blazepose); --clips is then per folder")
    p.add_argument("--checkpoint", nargs="*", default=[], help="checkpoints to score on the same frames")
    args = p.parse_args(argv)
    if args.shards:
        from training.synthetic import SyntheticShardDataset

        sources = [SyntheticShardDataset(folder) for folder in args.shards]
        annotate = None
    else:
        sources = [SyntheticGenerator(HELDOUT_SEED, SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop, motion_split="test"))]
        annotate = blazepose_annotator()
    clips = clip_list(sources, args.clips)
    body, prior = BodyModel.open(), PosePrior.from_motion_library()
    models = _load_models(args.checkpoint)
    world, vis, target, cats = [], [], [], []
    ours: dict[str, list] = {name: [] for name in models}
    for source, i in tqdm(clips, desc="clips (BlazePose)", unit="clip"):
        clip = source.clip(i)
        if annotate is not None:
            annotate(clip)
        found = np.asarray(clip["mp_found"], bool)
        args.seq_len = len(found)
        for name, (model, per_frame) in models.items():
            ours[name].append(_model_joints(model, clip, per_frame)[found][:, LIMBS12])
        cat = categories(clip, body)
        world.append(clip["mp_world"][found])
        vis.append(clip["mp_landmarks"][found, :, 3])
        target.append(clip["kp3d"][found][:, SPIN49_LIMBS])
        cats += [c for c, f in zip(cat, found) if f]
    world, vis, target = np.concatenate(world), np.concatenate(vis), np.concatenate(target)
    print(f"fitting the body to {len(world)} frames", flush=True)
    fitted, residual = fitted_lsp14(world, vis, body=body, prior=prior, iters=args.iters)
    rows = {"(a) MediaPipe world landmarks": joint_errors(world[:, MEDIAPIPE_LIMBS], target),
            "(b) per-frame fit of the body to them": joint_errors(fitted[:, LIMBS12], target)}
    rows.update({name: joint_errors(np.concatenate(j), target) for name, j in ours.items()})
    cats = np.array(cats)
    table = ("| method | frames | MPJPE mm | PA-MPJPE mm | " + " | ".join(f"PA {c}" for c in CATEGORIES) + " |\n"
             "|---|---:|---:|---:|" + "---:|" * len(CATEGORIES) + "\n")
    results = {}
    for name, (m, pa) in rows.items():
        per = {c: float(pa[cats == c].mean()) if (cats == c).any() else None for c in CATEGORIES}
        results[name] = {"frames": len(m), "mpjpe": float(m.mean()), "pa_mpjpe": float(pa.mean()), "pa_per_category": per}
        table += (f"| {name} | {len(m)} | {m.mean():.1f} | {pa.mean():.1f} | "
                  + " | ".join("-" if v is None else f"{v:.1f}" for v in per.values()) + " |\n")
    counts = ", ".join(f"{c} {int((cats == c).sum())}" for c in CATEGORIES)
    seeds = sorted({int(src.manifest["seed"]) for src in sources} if args.shards else {HELDOUT_SEED})
    note = (f"{len(clips)} held-out clips of {args.seq_len} frames at {args.crop}² (motion library test subjects, seed "
            f"{', '.join(map(str, seeds))}); frames where BlazePose found the person: {len(world)} ({counts}). Fit: {args.iters} Adam "
            f"steps per start, mean landmark residual {1000 * residual.mean():.1f} mm.")
    if args.shards:
        note = f"Clips from {', '.join(map(str, args.shards))}. " + note
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python tools/eval_baselines.py", *(argv if argv is not None else sys.argv[1:])])
    (out / "eval_baselines.md").write_text(f"# Baselines on the held-out generated benchmark\n\n`{command}`\n\n{table}\n{note}\n")
    (out / "eval_baselines.json").write_text(json.dumps({"rows": results, "note": note}, indent=1))
    print(table)
    print(note)
    return 0


def clip_list(sources: list, per_source: int) -> list[tuple]:
    """``(source, index)`` of the first ``per_source`` clips of each source (all of a shard folder holding fewer)."""
    return [(src, i) for src in sources for i in range(min(per_source, len(src)) if hasattr(src, "__len__") else per_source)]


def _load_models(paths: list[str]) -> dict:
    """``{row name: (model, per_frame)}``: each checkpoint, and the first again frame by frame (T = 1)."""
    if not paths:
        return {}
    from training.checkpoint import model_from_checkpoint

    models = {}
    for k, path in enumerate(paths):
        model, _ = model_from_checkpoint(path, None, None, False, device="cpu")
        models[Path(path).stem if Path(path).stem not in models else str(path)] = (model.eval(), False)
        if k == 0:
            models[f"{Path(path).stem} (T=1)"] = (model, True)
    return models


def _model_joints(model, clip: dict, per_frame: bool) -> np.ndarray:
    """The model's LSP-14 joints ``(T, 14, 3)`` over a whole clip (as ``dtsvibe-eval`` runs it)."""
    from training.evaluation import clip_to_sequence, predict_sequence
    from training.flow import make_provider, sequence_flow

    provider = model.cfg.streams.flow.provider if "flow" in model.stream_names else None
    flow_fn = (lambda frames, p=make_provider(provider): sequence_flow(p, frames)) if provider else None
    seq = clip_to_sequence(clip, "heldout", model.stream_names, flow_fn, model.cfg.rgb_input)
    return predict_sequence(model, seq, per_frame=per_frame)["joints"].numpy()


if __name__ == "__main__":
    sys.exit(main())
