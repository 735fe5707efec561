"""Export one track of a live results folder (``dtsvibe-live --out DIR``) to BVH and/or glTF binary.

    python tools/export_track.py out/live --track 0 --bvh out/track0.bvh --glb out/track0.glb [--fps 30]

Without ``--frame-size`` the frame size comes from a recorded ``*.mp4`` in the folder when there is one;
with it the root moves where the camera saw the person, otherwise the body stays in place.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence


from realtime.export import export_bvh, export_glb


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT (e.g. 1280x720), got {value!r}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="results folder (layout.json, track_<id>.bin, index.jsonl)")
    p.add_argument("--track", type=int, required=True, help="track id (the <id> of track_<id>.bin)")
    p.add_argument("--bvh", type=Path, help="write a BVH file here")
    p.add_argument("--glb", type=Path, help="write a glTF binary (.glb) here")
    p.add_argument("--fps", type=float, help="sample rate (default: from the capture timestamps)")
    p.add_argument("--units", choices=["cm", "m"], default="cm", help="BVH offsets and positions (default: cm)")
    p.add_argument("--no-mesh", action="store_true", help="glTF: skeleton and animation only")
    p.add_argument("--frame-size", type=_size, metavar="WxH", help="input frame size, to place the root in the world")
    p.add_argument("--body", help="body model (open-body format .npz; default: the embedded open body)")
    args = p.parse_args(argv)
    if not args.bvh and not args.glb:
        p.error("nothing to do: give --bvh OUT.bvh and/or --glb OUT.glb")
    if args.fps is not None and args.fps <= 0:
        p.error(f"--fps must be positive, got {args.fps}")
    try:
        track = args.track
        common = dict(fps=args.fps, frame_size=args.frame_size, body_path=args.body)
        if args.bvh:
            print(f"wrote {export_bvh(args.results, track, args.bvh, units=args.units, **common)}")
        if args.glb:
            print(f"wrote {export_glb(args.results, track, args.glb, mesh=not args.no_mesh, **common)}")
    except (OSError, ValueError) as e:
        print(f"export_track: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
