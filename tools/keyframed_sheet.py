#!/usr/bin/env python3
"""Contact sheet of generated clips whose labelled person moves by a keyframed motion (one clip per
motion in :data:`training.synthetic.keyframed.KEYFRAMED_MOTIONS`, the first generator index drawing it).

    python tools/keyframed_sheet.py --out docs/motion/keyframed_sheet.png
"""

from __future__ import annotations

import argparse
from pathlib import Path


import numpy as np

from tools.synthetic_sheet import sample_block, write_grid
from training.synthetic import SyntheticConfig, SyntheticGenerator
from training.synthetic.keyframed import KEYFRAMED_MOTIONS


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/motion/keyframed_sheet.png"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop", type=int, default=160)
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--columns", type=int, default=3)
    p.add_argument("--max-index", type=int, default=200)
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("keyframed_sheet", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line
    cfg = SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop, motion="procedural", p_procedural=1.0, p_keyframed=1.0,
                          p_occluder=0.0, p_second_person=0.0)
    gen = SyntheticGenerator(args.seed, cfg)
    frames = np.linspace(0, args.seq_len - 1, args.frames).round().astype(int).tolist()
    found: dict[str, np.ndarray] = {}
    for i in range(args.max_index):  # every clip of this config is keyframed: keep the first of each motion
        clip = gen.clip(i)
        act = clip["meta"]["activity"]
        if act in found:
            continue
        found[act] = sample_block(clip, frames)
        print(f"#{i} {act}", flush=True)
        if len(found) == len(KEYFRAMED_MOTIONS):
            break
    blocks = [found[m] for m in KEYFRAMED_MOTIONS if m in found]
    sheet = write_grid(args.out, blocks, args.columns)
    print(f"wrote {args.out} ({sheet.shape[1]}×{sheet.shape[0]}, {len(blocks)} motions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
