#!/usr/bin/env python3
"""Contact sheet of random synthetic clips: frames with their 2D skeleton, and the exact flow.

    python tools/synthetic_sheet.py --out docs/synthetic/contact_sheet.png --samples 12 --seed 0

Each sample is a block of ``--frames`` frames: on top the crop with the SMPL-24 skeleton (filled
dots = visible joints, rings = occluded/outside) and the MediaPipe face/hand/foot landmarks (small
dots); below, the backward flow of that frame (hue = direction, brightness = magnitude, normalised per
clip; the black frame 0 has no flow), with the person mask outlined.
"""

from __future__ import annotations

import argparse
from pathlib import Path


import cv2
import numpy as np
from tqdm import tqdm

from training.body import SMPL_PARENTS
from training.synthetic import SyntheticConfig, SyntheticGenerator

LEFT = (60, 200, 255)
RIGHT = (255, 120, 60)
MID = (80, 255, 80)


def flow_to_rgb(flow: np.ndarray, max_mag: float) -> np.ndarray:
    """flow (2, H, W) → RGB uint8: hue = direction, value = magnitude / max_mag."""
    dx, dy = flow[0].astype(np.float32), flow[1].astype(np.float32)
    mag, ang = cv2.cartToPolar(dx, dy, angleInDegrees=True)
    hsv = np.zeros(dx.shape + (3,), np.uint8)
    hsv[..., 0] = (ang / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / max(max_mag, 1e-6) * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def draw_skeleton(img: np.ndarray, kp: np.ndarray, mp: np.ndarray) -> np.ndarray:
    s = img.shape[0]
    out = np.ascontiguousarray(img.copy())
    px = ((kp[:, :2] + 1) / 2 * s - 0.5)
    sc = 4  # sub-pixel drawing
    ipx = np.round(px * sc).astype(np.int32)
    from training.body import SMPL_JOINTS

    def colour(j: int):
        n = SMPL_JOINTS[j]
        return LEFT if n.startswith("left") else RIGHT if n.startswith("right") else MID

    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            cv2.line(out, tuple(ipx[j]), tuple(ipx[p]), colour(j), 1, cv2.LINE_AA, shift=2)
    for j in range(len(kp)):
        if kp[j, 2] > 0:
            cv2.circle(out, tuple(ipx[j]), 2 * sc, colour(j), -1, cv2.LINE_AA, shift=2)
        else:
            cv2.circle(out, tuple(ipx[j]), 2 * sc, colour(j), 1, cv2.LINE_AA, shift=2)
    mpx = np.round(((mp[:, :2] + 1) / 2 * s - 0.5) * sc).astype(np.int32)
    for k in list(range(0, 11)) + list(range(17, 23)) + list(range(29, 33)):
        if mp[k, 2] > 0:
            cv2.circle(out, tuple(mpx[k]), sc, (255, 255, 0), -1, cv2.LINE_AA, shift=2)
    return out


def sample_block(clip: dict, frames: list[int]) -> np.ndarray:
    tiles_top, tiles_bottom = [], []
    flow = clip["flow"].astype(np.float32)
    mag = np.sqrt((flow ** 2).sum(1))
    max_mag = float(np.percentile(mag[1:], 99)) if len(mag) > 1 else 1.0
    for f in frames:
        top = draw_skeleton(clip["rgb"][f], clip["kp2d_smpl24"][f], clip["kp2d_mediapipe33"][f])
        fl = flow_to_rgb(flow[f], max_mag)
        contours, _ = cv2.findContours(clip["mask"][f].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(fl, contours, -1, (255, 255, 255), 1)
        cv2.putText(top, f"t={f}", (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(fl, f"flow t={f} (max {max_mag:.1f}px)" if f == frames[0] else f"flow t={f}", (3, 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
        tiles_top.append(top)
        tiles_bottom.append(fl)
    block = np.concatenate([np.concatenate(tiles_top, 1), np.concatenate(tiles_bottom, 1)], 0)
    m = clip["meta"]
    text = f"#{m['index']} {m['activity']}, bg {m['background']}{', floor' if m['floor'] else ''}" \
           f"{', 2nd person' if m['second_person'] else ''}{', %d occl.' % m['occluders'] if m['occluders'] else ''}"
    bar = np.full((16, block.shape[1], 3), 30, np.uint8)
    cv2.putText(bar, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return np.pad(np.concatenate([bar, block], 0), ((3, 3), (3, 3), (0, 0)), constant_values=255)


def write_grid(out: Path, blocks: list[np.ndarray], columns: int) -> np.ndarray:
    """Lay RGB ``blocks`` of one size out ``columns`` wide (white where a row runs short), write ``out``."""
    rows = []
    for r in range(0, len(blocks), columns):
        row = blocks[r : r + columns]
        row += [np.full_like(blocks[0], 255)] * (columns - len(row))
        rows.append(np.concatenate(row, 1))
    sheet = np.concatenate(rows, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return sheet


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="PNG path")
    p.add_argument("--samples", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--frames", type=int, default=3, help="frames shown per sample")
    p.add_argument("--columns", type=int, default=3)
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("synthetic_sheet", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line
    gen = SyntheticGenerator(args.seed, SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop))
    rng = np.random.default_rng(args.seed)
    indices = sorted(rng.choice(100000, size=args.samples, replace=False).tolist())
    frames = np.linspace(0, args.seq_len - 1, args.frames + 1).round().astype(int)[1:].tolist()
    blocks = [sample_block(gen.clip(i), frames) for i in tqdm(indices, desc="contact sheet", unit="clip")]
    sheet = write_grid(args.out, blocks, args.columns)
    print(f"wrote {args.out} ({sheet.shape[1]}×{sheet.shape[0]}, samples {indices})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
