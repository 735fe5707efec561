#!/usr/bin/env python3
"""Does the body lean and reach in depth as the person does? Side views of real clips, ours beside MediaPipe's.

    python tools/side_views.py [VIDEOS...] [--frames 4] [--max-frames 150] [--out docs/eval_clips/side_views.png]

The overlay shows the body in the image, where the landmark fit holds it on BlazePose's 2D landmarks; how far
the torso bends towards the camera and the limbs reach in depth is seen only from the side. For each clip (default:
``../shared/media``'s portrait, surfer and aerobics clips) its longest track is run through ``dtsvibe-live``'s
pipeline (``tools/eval_clips.py``'s :func:`collect`), and at ``--frames`` evenly spaced frames the picture shows the
video frame and, seen from the side (the image's left-right axis dropped: depth across, height up), our 12 limb joints (hip-centred) over MediaPipe's world landmarks —
what a network trained on real people says of the same depth. Not ground truth: agreement, and a look.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from tools.eval_clips import MEDIA, collect

#: The 12 limb joints' bones (``tools/eval_clips.py`` order: r/l shoulder, elbow, wrist, r/l hip, knee, ankle),
#: with the shoulders' and hips' lines and the two sides of the trunk.
BONES = [(0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11), (0, 3), (6, 9), (0, 6), (3, 9)]
DEFAULT_CLIPS = ("single_person_portrait", "surfer_wave", "aerobics_dancer_studio")


def side_views(videos: list[Path], out: Path, frames: int = 4, max_frames: int = 150, bundle: str | None = None) -> list[str]:
    """Write the picture (module docstring) to ``out``; returns a line per clip (its track and frames)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(videos), 2 * frames, figsize=(3 * 2 * frames, 3.4 * len(videos)), squeeze=False)
    lines = []
    for row, video in enumerate(videos):
        tracks = collect(video, bundle, max_frames).tracks
        if not tracks:
            lines.append(f"{video.name}: nobody tracked")
            for ax in axes[row]:
                ax.axis("off")
            continue
        tid, track = max(tracks.items(), key=lambda kv: len(kv[1]["frame"]))
        picks = np.linspace(0, len(track["frame"]) - 1, frames).astype(int)
        cap = cv2.VideoCapture(str(video))
        for k, i in enumerate(picks):
            index = int(track["frame"][i])
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, image = cap.read()
            ax = axes[row, 2 * k]
            if ok:
                ax.imshow(image[..., ::-1])
            ax.set_title(f"{video.stem} · frame {index}", fontsize=8)
            ax.axis("off")
            ax = axes[row, 2 * k + 1]
            for key, colour, label in (("mp3d", "tab:orange", "MediaPipe world landmarks"), ("ours3d", "tab:blue", "ours")):
                j = np.asarray(track[key][i])
                for n, (a, b) in enumerate(BONES):
                    ax.plot([j[a, 2], j[b, 2]], [-j[a, 1], -j[b, 1]], color=colour, lw=2, label=label if n == 0 else None)
            ax.set_aspect("equal")
            ax.set_xlim(-0.9, 0.9)
            ax.set_ylim(-1.1, 1.0)
            ax.tick_params(labelsize=6)
            ax.set_title("from the side: camera ← → away (m)", fontsize=8)
            if row == 0 and k == 0:
                ax.legend(fontsize=7, loc="lower left")
        cap.release()
        lines.append(f"{video.name}: track {tid}, frames {', '.join(str(int(track['frame'][i])) for i in picks)}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=60)
    plt.close(fig)
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="side_views.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--max-frames", type=int, default=150)
    ap.add_argument("--bundle", help="engine bundle folder (default: the embedded checkpoint's)")
    ap.add_argument("--out", type=Path, default=Path("docs/eval_clips/side_views.png"))
    args = ap.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("side_views", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line
    videos = args.videos or [MEDIA / f"{name}.mp4" for name in DEFAULT_CLIPS]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"side_views.py: no such video: {', '.join(missing)} (pass clips, or put ../shared/media beside the project)", file=sys.stderr)
        return 2
    if args.frames < 1:
        print("side_views.py: --frames must be at least 1", file=sys.stderr)
        return 2
    for line in side_views(videos, args.out, args.frames, args.max_frames, args.bundle):
        print(line)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
