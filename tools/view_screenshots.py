#!/usr/bin/env python3
"""Screenshots of the live views (overlay beside the 3D view) on the shared real clips, for docs/ and the README.

    python tools/view_screenshots.py [--media ../shared/media] [--out docs/views] [--frames 40]

Each clip is streamed through ``dtsvibe-live``'s pipeline (every frame, the embedded default bundle on
ONNX Runtime) and the view of its last frame (``--frames``; fewer if the clip is shorter) is written as
``<clip>_both.png`` — the same image the window shows, rendered offscreen.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2


from realtime.graph import build_pipeline
from realtime.config import load_live_config
from realtime.view import LiveView

CLIPS = ("taiji.mp4", "single_person_portrait.mp4", "mmpose_demo.mp4")


class KeepLast:
    """A sink that composes the view of every frame (so the 3D camera follows as live) and keeps the last."""

    def __init__(self, view: LiveView) -> None:
        self.view, self.image = view, None

    def write(self, packet) -> None:
        self.image = self.view.compose(packet)

    def close(self) -> None:
        self.view.close()


def shoot(clip: Path, frames: int, mode: str) -> "cv2.Mat":
    cfg = load_live_config("default", [f"input.source={clip}", "input.realtime=false", "view.view=none"])
    pipeline, session = build_pipeline(cfg, max_frames=frames, log=lambda m: None)
    keep = KeepLast(LiveView(mode, session.faces, show=False))
    keep.view.hud = lambda people: [f"{clip.name}", f"people {people}"]
    pipeline.stages[-1].sinks.append(keep)
    pipeline.run()
    if keep.image is None:
        raise SystemExit(f"{clip}: no frame came out of the pipeline")
    return keep.image


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--media", default=str(Path(__file__).resolve().parents[2] / "shared" / "media"))
    p.add_argument("--out", default="docs/views")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--view", default="both", choices=["both", "overlay", "3d"])
    args = p.parse_args()
    from training.paths import writable_or_exit

    writable_or_exit("view_screenshots", args.out)  # before any work: a path that cannot be written fails now, in one line
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    found = [Path(args.media) / c for c in CLIPS if (Path(args.media) / c).is_file()]
    if not found:
        print(f"view_screenshots: none of {', '.join(CLIPS)} in {args.media}; pass --media", file=sys.stderr)
        return 2
    for clip in found:
        image = shoot(clip, args.frames, args.view)
        h, w = image.shape[:2]
        if w > 1600:  # keep the committed PNGs small
            image = cv2.resize(image, (1600, round(h * 1600 / w)), interpolation=cv2.INTER_AREA)
        path = out / f"{clip.stem}_{args.view}.png"
        cv2.imwrite(str(path), image)
        print(f"wrote {path} ({image.shape[1]}×{image.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
