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
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from blazepose_on_renders import CATEGORIES, categories  # noqa: E402
from make_synthetic import blazepose_annotator  # noqa: E402
from training.body import BodyModel  # noqa: E402
from training.evaluation import HELDOUT_SEED  # noqa: E402
from training.fitting import PosePrior, fit_landmarks  # noqa: E402
from training.metrics import mpjpe, pa_mpjpe  # noqa: E402
from training.synthetic import SyntheticConfig, SyntheticGenerator  # noqa: E402

#: The 12 limb joints in LSP order (r ankle, r knee, r hip, l hip, l knee, l ankle, r wrist, r elbow,
#: r shoulder, l shoulder, l elbow, l wrist): their spin49 indices (its GT24 part) and MediaPipe's landmarks.
SPIN49_LIMBS = list(range(25, 37))
MEDIAPIPE_LIMBS = [28, 26, 24, 23, 25, 27, 16, 14, 12, 11, 13, 15]
HIPS = (2, 3)  # in the 12


def _centred(x: torch.Tensor) -> torch.Tensor:
    return x - x[:, list(HIPS)].mean(1, keepdim=True)


def errors(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame MPJPE (mid-hips aligned) and PA-MPJPE, mm, of ``(N, 12, 3)`` metres."""
    p, t = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64)
    m = mpjpe(_centred(p), _centred(t), pelvis_align=False)
    return 1000 * m.numpy(), 1000 * pa_mpjpe(p, t).numpy()


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
    fit = fit_landmarks(world, vis, body=body, prior=prior, iters=args.iters)
    with torch.no_grad():
        out = body(torch.as_tensor(fit.pose), torch.as_tensor(fit.betas)[None].expand(len(fit.pose), -1))
        fitted = body.joint_set(out, "spin49")[:, SPIN49_LIMBS].numpy()
    rows = {"(a) MediaPipe world landmarks": errors(world[:, MEDIAPIPE_LIMBS], target),
            "(b) per-frame fit of the body to them": errors(fitted, target)}
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
            f"steps per start, mean landmark residual {1000 * fit.residual.mean():.1f} mm.")
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
