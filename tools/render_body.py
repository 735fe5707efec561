#!/usr/bin/env python3
"""Render a body model to PNG: rest pose, a non-trivial pose, and ±2σ along the first shape components.

Each picture is drawn from the front and the side with Open3D, headless. Writes one PNG per view
and a labelled contact sheet ``open_body.png`` (or ``<name>.png``) in ``--out``.

    python tools/render_body.py --out docs/body          # the embedded open body (the README's pictures)
    python tools/render_body.py --smpl ~/smpl --out out/smpl
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path


import numpy as np
import torch
from tqdm import tqdm

from realtime.view.offscreen import MeshItem, SnapshotRenderer, save_png
from training.body import SMPL_JOINTS, BodyModel

SKIN = (0.80, 0.62, 0.52)


def demo_pose() -> torch.Tensor:
    """A non-trivial pose (1, 24, 3) axis-angle: arms lowered and bent, a step, a twist, a head turn.

    SMPL axes: +y up, the body faces +z, its left side is +x.
    """
    d = math.radians
    rot = {
        "left_shoulder": (0.0, d(-20), d(-60)),   # arm down from the T-pose, slightly forward
        "right_shoulder": (d(20), d(30), d(50)),
        "left_elbow": (0.0, d(-80), 0.0),         # forearm bent forward
        "right_elbow": (0.0, d(45), 0.0),
        "left_hip": (d(-50), 0.0, d(5)),          # thigh raised forward
        "left_knee": (d(70), 0.0, 0.0),           # shin bent back
        "right_hip": (d(15), 0.0, d(-5)),
        "right_knee": (d(20), 0.0, 0.0),
        "spine2": (0.0, d(15), 0.0),              # torso twist
        "neck": (d(10), d(25), 0.0),              # head turned and nodding
        "head": (0.0, d(10), d(-8)),
        "left_wrist": (0.0, 0.0, d(-30)),
        "left_collar": (0.0, 0.0, d(-8)),
    }
    pose = torch.zeros(1, 24, 3)
    for name, aa in rot.items():
        pose[0, SMPL_JOINTS.index(name)] = torch.tensor(aa)
    return pose


def label(image: np.ndarray, text: str) -> np.ndarray:
    """Caption an image (PIL; falls back to no caption if Pillow is missing)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return image
    pil = Image.fromarray(image)
    ImageDraw.Draw(pil).text((10, 8), text, fill=(30, 30, 30))
    return np.asarray(pil)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smpl", help="folder or file of official SMPL (default: the embedded open body)")
    p.add_argument("--out", default="out/body", help="output folder (default: out/body)")
    p.add_argument("--components", type=int, default=3, help="shape components to show at ±2σ (default: 3)")
    p.add_argument("--size", type=int, nargs=2, default=(360, 480), metavar=("W", "H"))
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("render_body", args.out)  # before any work: a path that cannot be written fails now, in one line

    body = BodyModel.smpl(args.smpl) if args.smpl else BodyModel.open()
    name = "smpl" if args.smpl else "open_body"
    faces = body.faces.numpy()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    betas = torch.zeros(1 + 2 * args.components, body.num_betas)
    shape_names = ["rest"]
    for k in range(args.components):
        betas[1 + 2 * k, k] = -2.0
        betas[2 + 2 * k, k] = 2.0
        shape_names += [f"beta{k + 1}_minus2", f"beta{k + 1}_plus2"]
    with torch.inference_mode():
        rest = body(betas=betas).vertices.numpy()
        posed = body(pose=demo_pose()).vertices.numpy()
    cases = [(n, v) for n, v in zip(shape_names, rest)] + [("posed", posed[0])]
    height = float(rest[0][:, 1].max() - rest[0][:, 1].min())

    rows = []
    t0 = time.perf_counter()
    with SnapshotRenderer(*args.size) as renderer:
        for case, verts in tqdm(cases, desc="rendering", unit="body"):
            tiles = []
            for view in ("front", "side"):
                img = renderer.render([MeshItem(verts, faces, SKIN)], view=view)
                save_png(img, out_dir / f"{name}_{case}_{view}.png")
                h = float(verts[:, 1].max() - verts[:, 1].min())
                tiles.append(label(img, f"{case} ({view}), {h:.2f} m tall"))
            rows.append(np.concatenate(tiles, axis=1))
    # Contact sheet: two cases (front+side each) per row.
    if len(rows) % 2:
        rows.append(np.full_like(rows[0], 255))
    sheet = np.concatenate([np.concatenate(rows[i:i + 2], axis=1) for i in range(0, len(rows), 2)], axis=0)
    save_png(sheet, out_dir / f"{name}.png")
    print(
        f"{name}: {body.num_vertices} vertices, {len(faces)} faces, {height:.3f} m tall in rest pose; "
        f"{len(cases) * 2} views in {time.perf_counter() - t0:.1f} s -> {out_dir / (name + '.png')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
