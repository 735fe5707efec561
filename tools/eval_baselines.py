#!/usr/bin/env python3
"""The baselines any model must beat, on the held-out generated benchmark: MediaPipe's world landmarks, and
the body model fitted to them frame by frame.

    python tools/eval_baselines.py [--clips 24] [--crop 128] [--out docs/eval_baselines]

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

MPJPE after aligning the mid-hips (MediaPipe's world axes are the camera's), PA-MPJPE after a similarity
alignment, in mm, over all frames and per pose category (as in ``tools/blazepose_on_renders.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from blazepose_on_renders import CATEGORIES, categories  # noqa: E402
from make_synthetic import blazepose_annotator  # noqa: E402
from training.baselines import LIMBS12, LSP14_IN_SPIN49, MEDIAPIPE_LIMBS, fitted_lsp14, joint_errors  # noqa: E402
from training.body import BodyModel  # noqa: E402
from training.evaluation import HELDOUT_SEED  # noqa: E402
from training.fitting import PosePrior  # noqa: E402
from training.synthetic import SyntheticConfig, SyntheticGenerator  # noqa: E402

#: The 12 limb joints in LSP order (``training.baselines``): their spin49 indices (its GT24 part).
SPIN49_LIMBS = [LSP14_IN_SPIN49[i] for i in LIMBS12]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--iters", type=int, default=300, help="fitting steps per start")
    p.add_argument("--out", default="out/eval_baselines")
    args = p.parse_args(argv)
    gen = SyntheticGenerator(HELDOUT_SEED, SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop, motion_split="test"))
    body, prior, annotate = BodyModel.open(), PosePrior.from_motion_library(), blazepose_annotator()
    world, vis, target, cats = [], [], [], []
    for i in tqdm(range(args.clips), desc="clips (BlazePose)", unit="clip"):
        clip = gen.clip(i)
        annotate(clip)
        found = clip["mp_found"]
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
    note = (f"{args.clips} held-out clips of {args.seq_len} frames at {args.crop}² (motion library test subjects, seed "
            f"{HELDOUT_SEED}); frames where BlazePose found the person: {len(world)} ({counts}). Fit: {args.iters} Adam "
            f"steps per start, mean landmark residual {1000 * residual.mean():.1f} mm.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_baselines.md").write_text(f"# Baselines on the held-out generated benchmark\n\n`python tools/eval_baselines.py "
                                           f"--clips {args.clips} --crop {args.crop}`\n\n{table}\n{note}\n")
    (out / "eval_baselines.json").write_text(json.dumps({"rows": results, "note": note}, indent=1))
    print(table)
    print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
