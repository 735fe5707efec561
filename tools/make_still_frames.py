#!/usr/bin/env python3
"""Held-out generated still frames in the SPIN / mmpose ``.npz`` layout, for ``dtsvibe-eval --frames``.

    python tools/make_still_frames.py --out data/stills --clips 50 [--seed 5000001] [--crop 256] [--frames 5 15]
    dtsvibe-eval --frames data/stills/spin.npz --images data/stills/images --out docs/eval_frames
    python tools/make_still_frames.py --out data/videos --clips 16 --frames $(seq 0 15)   # whole clips, as videos:
    dtsvibe-eval --frames data/videos/videos_db.pt --images data/videos/images

The test frames of Human3.6M and MPI-INF-3DHP are not shipped with the project; this writes the same kind of
file from the generator (``training/synthetic/still_frames.py``): people moving like the motion library's
**test** subjects (never used in training), each chosen frame's crop enlarged ×2 on a plain canvas, with
``spin.npz`` (SPIN-24, metres) and ``h36m.npz`` (Human3.6M-17, millimetres) beside ``images/``. Then the
still-frame evaluation — the live path, each image played T times, against MediaPipe's world landmarks and the
fit of the body to them — can be run where the 3D joints are known. ``videos_db.pt`` holds the same frames as a VIBE
test db, one video per clip, for the video evaluation (consecutive ``--frames``: each clip played in order).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make_still_frames.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for images/, spin.npz and h36m.npz")
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--seed", type=int, default=5000001, help="generator seed (the held-out clip sets use 1000003 and 1000004)")
    ap.add_argument("--crop", type=int, default=256, help="the generator's crop side in pixels (pasted ×2)")
    ap.add_argument("--frames", type=int, nargs="+", default=[5, 15], help="which frames of each 16-frame clip")
    ap.add_argument("--motion-split", default="test", choices=("train", "val", "test"))
    args = ap.parse_args(argv)
    if args.clips < 1 or any(not 0 <= t < 16 for t in args.frames):
        print("make_still_frames.py: --clips must be ≥ 1 and --frames within 0–15", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"make_still_frames.py: cannot write {args.out}: {exc.strerror}; pass a writable --out", file=sys.stderr)
        return 2

    from training.synthetic import SyntheticConfig, SyntheticGenerator
    from training.synthetic.still_frames import write_still_frames

    gen = SyntheticGenerator(seed=args.seed, config=SyntheticConfig(seq_len=16, crop_size=args.crop, motion_split=args.motion_split))
    side = 2 * args.crop + 128
    kinds = write_still_frames(gen, tqdm(range(args.clips), desc="clips", unit="clip"), args.out, frames=args.frames,
                               upscale=2, canvas=(side, side), offset=(64, 64))
    total = sum(kinds.values())
    print(f"wrote {total} frames to {args.out}: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"dtsvibe-eval --frames {args.out / 'spin.npz'} --images {args.out / 'images'}")
    print(f"dtsvibe-eval --frames {args.out / 'videos_db.pt'} --images {args.out / 'images'}   # each clip's frames as a video")
    return 0


if __name__ == "__main__":
    sys.exit(main())
