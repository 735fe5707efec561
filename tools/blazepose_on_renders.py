#!/usr/bin/env python3
"""How well BlazePose — run exactly as the live app runs it — sees the generator's renders, per pose category.

    python tools/blazepose_on_renders.py [--clips 200] [--crop 128] [--split test] [--out docs/synthetic]

Generated clips (the motion library's ``--split`` subjects, a quarter procedural) are played through
``tools/make_synthetic.py``'s BlazePose annotator (the live tracking config, a fresh tracker per clip). Each
frame gets a category from the labelled body's pose (first match): *torso horizontal* (torso > 70° from upright: lying, crawling, a deep bend),
*bent over* (> 45°), *sitting / crouching* (hip flexion > 60° and knee flexion > 90°), *facing away* (the
body faces more than 120° from the camera), *arms up* (a wrist above the head), else *standing*. Per
category: the share of frames where BlazePose found the person, and PCK at 0.2 × torso (the 12 limb
landmarks that the exact labels mark visible, a frame where the person was not found counting as all
wrong) with the median error in crop pixels. Tells how hard each category is, and whether the renders
look like people to a network trained on real ones. Writes ``blazepose_on_renders.md/.json`` and a
contact sheet (exact labels green, BlazePose red) per category.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from tools.make_synthetic import blazepose_annotator
from training.body import BodyModel
from training.synthetic import SyntheticConfig, SyntheticGenerator
from training.synthetic.geometry import norm_to_pixel
from training.synthetic.motion_coverage import pose_flags

#: MediaPipe's limb landmarks: shoulders, elbows, wrists, hips, knees, ankles.
LIMBS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
CATEGORIES = ("standing", "arms up", "facing away", "sitting / crouching", "bent over", "torso horizontal")


def categories(clip: dict, body: BodyModel) -> list[str]:
    """The pose category of every frame (see the module docstring)."""
    pose = torch.from_numpy(clip["pose"]).float()
    with torch.no_grad():
        joints_c = body(pose, torch.from_numpy(clip["betas"]).float()).joints.numpy()  # camera orientation
    R = clip["R"].astype(np.float64)  # x_cam = R x_world + t
    joints_w = np.einsum("tij,tki->tkj", R, joints_c)  # R^T x per joint
    root_c = Rotation.from_rotvec(clip["pose"][:, :3])
    root_w = (Rotation.from_matrix(np.transpose(R, (0, 2, 1))) * root_c).as_rotvec()
    flags = pose_flags(joints_w, root_w)
    forward_c = root_c.apply(np.array([0.0, 0.0, 1.0]))  # the body's forward in camera axes (camera looks along +z)
    away = forward_c[:, 2] > np.cos(np.radians(60.0))  # > 120° from facing the camera
    out = []
    for t in range(len(pose)):
        if flags["torso_pitch_70"][t]:
            out.append("torso horizontal")
        elif flags["torso_pitch_45"][t]:
            out.append("bent over")
        elif flags["hip_flexion_60"][t] and flags["knee_flexion_90"][t]:
            out.append("sitting / crouching")
        elif away[t]:
            out.append("facing away")
        elif flags["wrist_above_head"][t]:
            out.append("arms up")
        else:
            out.append("standing")
    return out


def draw(rgb: np.ndarray, exact: np.ndarray, found: bool, mp: np.ndarray, size: int) -> np.ndarray:
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).copy()
    for (x, y), v in zip(norm_to_pixel(exact[:, :2], size), exact[:, 2]):
        if v > 0.5:
            cv2.circle(img, (int(round(x)), int(round(y))), 2, (60, 220, 60), -1)
    if found:
        for x, y in norm_to_pixel(mp[LIMBS, :2], size):
            cv2.circle(img, (int(round(x)), int(round(y))), 2, (40, 40, 230), 1)
    return img


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="the motion library's subjects")
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--out", default="out/blazepose_on_renders")
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("blazepose_on_renders", args.out)  # before any work: a path that cannot be written fails now, in one line
    gen = SyntheticGenerator(args.seed, SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop, motion_split=args.split))
    body = BodyModel.open()
    annotate = blazepose_annotator()
    per: dict[str, dict[str, list]] = {c: {"found": [], "hits": [], "errs": [], "samples": []} for c in CATEGORIES}
    rng = np.random.default_rng(0)
    for i in tqdm(range(args.clips), desc="clips", unit="clip"):
        clip = gen.clip(i)
        annotate(clip)
        cats = categories(clip, body)
        exact_all, mp_all = clip["kp2d_mediapipe33"], clip["mp_landmarks"]
        for t, cat in enumerate(cats):
            exact, found = exact_all[t], bool(clip["mp_found"][t])
            torso = np.linalg.norm(exact[[11, 12], :2].mean(0) - exact[[23, 24], :2].mean(0))
            vis = [j for j in LIMBS if exact[j, 2] > 0.5]
            d = per[cat]
            d["found"].append(found)
            if vis:
                err = np.linalg.norm(mp_all[t, vis, :2] - exact[vis, :2], axis=1) if found else np.full(len(vis), np.inf)
                d["hits"].extend(err < 0.2 * torso)
                d["errs"].extend(err[np.isfinite(err)] * args.crop / 2)
            if len(d["samples"]) < 8 and rng.random() < 0.2:
                d["samples"].append(draw(clip["rgb"][t], exact, found, mp_all[t], args.crop))
    rows = []
    for c in CATEGORIES:
        d = per[c]
        if not d["found"]:
            continue
        rows.append({"category": c, "frames": len(d["found"]), "found": float(np.mean(d["found"])),
                     "pck02": float(np.mean(d["hits"])) if d["hits"] else None,
                     "median_px": float(np.median(d["errs"])) if d["errs"] else None})
    frames = sum(r["frames"] for r in rows)
    table = (f"| category | frames | share | found | PCK@0.2·torso (limbs) | median error px at {args.crop} |\n"
             "|---|---:|---:|---:|---:|---:|\n")
    table += "\n".join(f"| {r['category']} | {r['frames']} | {r['frames'] / frames:.1%} | {r['found']:.3f} | "
                       f"{r['pck02']:.3f} | {r['median_px']:.1f} |" for r in rows)
    all_hits = np.concatenate([per[c]["hits"] for c in CATEGORIES if per[c]["hits"]])
    all_found = np.concatenate([per[c]["found"] for c in CATEGORIES if per[c]["found"]])
    summary = (f"All {frames} frames ({args.clips} clips of {args.seq_len}, motion library split '{args.split}', "
               f"crop {args.crop}, seed {args.seed}): found {all_found.mean():.3f}, PCK@0.2 {all_hits.mean():.3f}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sheet_rows = []
    for c in CATEGORIES:
        imgs = per[c]["samples"]
        if imgs:
            imgs = imgs + [np.zeros_like(imgs[0])] * (8 - len(imgs))
            row = np.concatenate(imgs, 1)
            label = np.full((18, row.shape[1], 3), 255, np.uint8)
            cv2.putText(label, c, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
            sheet_rows.append(np.concatenate([label, row], 0))
    cv2.imwrite(str(out / "blazepose_on_renders.png"), np.concatenate(sheet_rows, 0))
    text = (f"# BlazePose on the generator's renders, per pose category\n\n`python tools/blazepose_on_renders.py "
            f"--clips {args.clips} --crop {args.crop} --split {args.split}`\n\n{table}\n\n{summary}\n\n"
            "Contact sheet: `blazepose_on_renders.png` (exact labels green, BlazePose's limb landmarks red rings).\n")
    (out / "blazepose_on_renders.md").write_text(text)
    (out / "blazepose_on_renders.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    print(table)
    print(summary)
    print(f"wrote {out / 'blazepose_on_renders.md'} and the contact sheet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
