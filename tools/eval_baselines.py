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
* **(b) per-frame fit**: the body fitted to those world landmarks (``training.fitting.fit_landmarks``: each
  frame's pose alone, one body shape per clip — one person) and its LSP limb joints and mesh — MediaPipe's
  evidence with the evaluators' joint definitions.

Both, and the errors, come from ``training.baselines`` (``dtsvibe-eval --frames`` scores them on still
test frames).

``--shards`` reads the held-out clips with BlazePose's outputs already stored (``training.evaluation.HELDOUT_COMMAND``)
instead of making them, from one folder or more (the fixed 32 clips and the extended set of
``training/checkpoints/README.md``: ``--shards $D/synthetic_heldout $D/synthetic_heldout_b --clips 96``); ``--checkpoint`` adds a row per checkpoint (whole clips through the model, scored on the same
frames), and for the first ``<name> (T=1)`` (the same weights, each frame alone) and ``<name> + body filter``
(the live app's filter after the model).

MPJPE after aligning the mid-hips (MediaPipe's world axes are the camera's), PA-MPJPE after a similarity
alignment, in mm, over all frames and per pose category (as in ``tools/blazepose_on_renders.py``); then the same
rows in Table 1's layout: PA-MPJPE, MPJPE, PVE (the mesh, centred on its LSP hips; MediaPipe has none) and Accel
(mm/frame², hip-centred joints, over every three consecutive frames where BlazePose found the person).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


import numpy as np
import torch
from tqdm import tqdm

from tools.blazepose_on_renders import CATEGORIES, categories
from tools.make_synthetic import blazepose_annotator
from training.baselines import LIMBS12, LSP14_IN_SPIN49, MEDIAPIPE_LIMBS, fit_bodies, joint_errors
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
    from training.paths import writable_or_exit

    writable_or_exit("eval_baselines", args.out)  # before any work: a path that cannot be written fails now, in one line
    if args.shards:
        from training.synthetic import SyntheticShardDataset

        try:
            sources = [SyntheticShardDataset(folder) for folder in args.shards]
        except (FileNotFoundError, ValueError) as exc:  # no shards there, or not ours: one line
            p.error(f"--shards: {exc}")
        annotate = None
    else:
        sources = [SyntheticGenerator(HELDOUT_SEED, SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop, motion_split="test"))]
        annotate = blazepose_annotator()
    clips = clip_list(sources, args.clips)
    body, prior = BodyModel.open(), PosePrior.from_motion_library()
    models = _load_models(args.checkpoint)
    names = ["(a) MediaPipe world landmarks", "(b) per-frame fit of the body to them", *models]
    per: dict[str, dict[str, list]] = {n: {"mpjpe": [], "pa": [], "pve": [], "accel": []} for n in names}
    cats, residual = [], []
    for source, i in tqdm(clips, desc="clips (BlazePose, fit, models)", unit="clip"):
        clip = source.clip(i)
        if annotate is not None:
            annotate(clip)
        found = np.asarray(clip["mp_found"], bool)
        args.seq_len = len(found)
        if not found.any():
            continue
        target = clip["kp3d"][:, SPIN49_LIMBS]
        with torch.no_grad():
            true_vertices = body(torch.from_numpy(clip["pose"]).float(), torch.from_numpy(clip["betas"]).float()).vertices.numpy()
        fit = fit_bodies(clip["mp_world"][found], clip["mp_landmarks"][found, :, 3], body=body, prior=prior,
                         iters=args.iters, vertices=True)  # one shape per clip (one person), a pose per frame
        residual.append(fit.residual)
        preds = {names[0]: (_on_frames(clip["mp_world"][found][:, MEDIAPIPE_LIMBS], found), None),
                 names[1]: (_on_frames(fit.joints[:, LIMBS12], found), _on_frames(fit.vertices, found))}
        for name, model_row in models.items():
            preds[name] = _model_outputs(*model_row, clip)
        for name, (joints, vertices) in preds.items():
            for key, value in _clip_errors(joints, vertices, target, true_vertices, found).items():
                per[name][key].append(value)
        cats += [c for c, f in zip(categories(clip, body), found) if f]
    rows = {n: {k: np.concatenate(v) if v else np.zeros(0) for k, v in per[n].items()} for n in names}
    residual = np.concatenate(residual) if residual else np.zeros(0)
    cats = np.array(cats)
    table = ("| method | frames | MPJPE mm | PA-MPJPE mm | " + " | ".join(f"PA {c}" for c in CATEGORIES) + " |\n"
             "|---|---:|---:|---:|" + "---:|" * len(CATEGORIES) + "\n")
    table1 = "| method | PA-MPJPE↓ | MPJPE↓ | PVE↓ | Accel↓ |\n|---|---:|---:|---:|---:|\n"
    results = {}
    for name, r in rows.items():
        m, pa = r["mpjpe"], r["pa"]
        pve_mm = float(np.nanmean(r["pve"])) if np.isfinite(r["pve"]).any() else None
        accel = float(np.nanmean(r["accel"])) if np.isfinite(r["accel"]).any() else None
        per_cat = {c: float(pa[cats == c].mean()) if (cats == c).any() else None for c in CATEGORIES}
        results[name] = {"frames": len(m), "mpjpe": float(m.mean()), "pa_mpjpe": float(pa.mean()), "pve": pve_mm,
                         "accel": accel, "pa_per_category": per_cat}
        table += (f"| {name} | {len(m)} | {m.mean():.1f} | {pa.mean():.1f} | "
                  + " | ".join("-" if v is None else f"{v:.1f}" for v in per_cat.values()) + " |\n")
        table1 += f"| {name} | {pa.mean():.1f} | {m.mean():.1f} | {'–' if pve_mm is None else f'{pve_mm:.1f}'} | {'–' if accel is None else f'{accel:.1f}'} |\n"
    world_frames = len(cats)
    counts = ", ".join(f"{c} {int((cats == c).sum())}" for c in CATEGORIES)
    seeds = sorted({int(src.manifest["seed"]) for src in sources} if args.shards else {HELDOUT_SEED})
    # the clips' own crop size (a shard folder's manifest), not --crop, which only sets the clips made here
    crops = sorted({int(src.manifest["crop_size"]) for src in sources} if args.shards else {args.crop})
    note = (f"{len(clips)} held-out clips of {args.seq_len} frames at {' / '.join(f'{c}²' for c in crops)} (motion library test subjects, seed "
            f"{', '.join(map(str, seeds))}); frames where BlazePose found the person: {world_frames} ({counts}). Fit: {args.iters} Adam "
            f"steps per start, one body shape per clip, mean landmark residual {1000 * residual.mean():.1f} mm. "
            "Table 1's layout: the same frames and joints; PVE over the mesh (MediaPipe has none), both meshes centred on "
            "their LSP hips; Accel (mm/frame²) on the hip-centred joints over every three consecutive frames where "
            "BlazePose found the person.")
    if args.shards:
        note = f"Clips from {', '.join(map(str, args.shards))}. " + note
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python tools/eval_baselines.py", *(argv if argv is not None else sys.argv[1:])])
    (out / "eval_baselines.md").write_text(f"# Baselines on the held-out generated benchmark\n\n`{command}`\n\n{table}\n"
                                           f"Table 1's layout (mm, Accel mm/frame²), the 12 limb joints:\n\n{table1}\n{note}\n")
    (out / "eval_baselines.json").write_text(json.dumps({"rows": results, "note": note}, indent=1))
    print(table)
    print(table1)
    print(note)
    return 0


def clip_list(sources: list, per_source: int) -> list[tuple]:
    """``(source, index)`` of the first ``per_source`` clips of each source (all of a shard folder holding fewer)."""
    return [(src, i) for src in sources for i in range(min(per_source, len(src)) if hasattr(src, "__len__") else per_source)]


def _load_models(paths: list[str]) -> dict:
    """``{row name: (model, per_frame, pose_filter)}``: each checkpoint; the first again frame by frame (T = 1)
    and followed by the live body filter (``training.pose_smoothing``)."""
    if not paths:
        return {}
    from training.checkpoint import model_from_checkpoint

    models = {}
    for k, path in enumerate(paths):
        model, _ = model_from_checkpoint(path, None, None, False, device="cpu")
        models[Path(path).stem if Path(path).stem not in models else str(path)] = (model.eval(), False, False)
        if k == 0:
            models[f"{Path(path).stem} (T=1)"] = (model, True, False)
            models[f"{Path(path).stem} + body filter"] = (model, False, True)
    return models


def _model_outputs(model, per_frame: bool, pose_filter: bool, clip: dict) -> tuple[np.ndarray, np.ndarray]:
    """The model's 12 limb joints ``(T, 12, 3)`` and mesh ``(T, V, 3)`` over a whole clip (as ``dtsvibe-eval`` runs it)."""
    from training.evaluation import clip_to_sequence, predict_sequence
    from training.flow import make_provider, sequence_flow

    provider = model.cfg.streams.flow.provider if "flow" in model.stream_names else None
    flow_fn = (lambda frames, p=make_provider(provider): sequence_flow(p, frames)) if provider else None
    seq = clip_to_sequence(clip, "heldout", model.stream_names, flow_fn, model.cfg.rgb_input)
    out = predict_sequence(model, seq, per_frame=per_frame, pose_filter=pose_filter)
    return out["joints"].numpy()[:, LIMBS12], out["vertices"].numpy()


def _on_frames(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Values of the ``found`` frames → one per frame of the clip (NaN elsewhere)."""
    full = np.full((len(found), *values.shape[1:]), np.nan, np.float64)
    full[found] = values
    return full


def _clip_errors(joints: np.ndarray, vertices, target: np.ndarray, true_vertices: np.ndarray,
                 found: np.ndarray) -> dict[str, np.ndarray]:
    """One clip's errors on its ``found`` frames (mm): MPJPE and PA-MPJPE (:func:`joint_errors`), PVE (meshes
    centred on their LSP hips; NaN without a mesh) and Accel (hip-centred joints, every 3-frame stencil of found
    frames; ``training.metrics.accel_error``)."""
    from training.metrics import LSP14_PELVIS, accel_error, pve

    m, pa = joint_errors(joints[found], target[found])
    hips = list(LSP14_PELVIS)
    mm = lambda x: torch.from_numpy(np.asarray(x, np.float64) * 1000)  # noqa: E731
    centred = lambda j: np.nan_to_num(j - j[:, hips].mean(1, keepdims=True))  # noqa: E731 - frames not found: masked
    accel = accel_error(mm(centred(joints)), mm(centred(target)), torch.from_numpy(found)).numpy()
    if vertices is None:
        pv = np.full(int(found.sum()), np.nan)
    else:
        pv = pve(mm(vertices[found]), mm(true_vertices[found]), mm(joints[found][:, hips].mean(1)),
                 mm(target[found][:, hips].mean(1))).numpy()
    return {"mpjpe": m, "pa": pa, "pve": pv, "accel": accel}


if __name__ == "__main__":
    sys.exit(main())
