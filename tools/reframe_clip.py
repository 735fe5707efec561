#!/usr/bin/env python3
"""A clip as a closer or narrower camera would frame it: keep one box of every frame (and put a desk in front).

    python tools/reframe_clip.py ../shared/media/taiji.mp4 data/framed/taiji_thighs_up.mp4 --keep 0 0.62 0.2 0.8
    python tools/reframe_clip.py ../shared/media/taiji.mp4 data/framed/taiji_desk.mp4 --keep 0 0.8 0.2 0.8 --cover 0.6 1 0 1
    python tools/eval_clips.py data/framed/*.mp4

``--keep TOP BOTTOM LEFT RIGHT`` are fractions of the frame's height and width. A desk webcam sees people from
the thighs or the waist up, with the legs below the frame; the shared clips show whole bodies. Cut this way they
test what the live app does with limbs outside the frame (``docs/eval_clips/framed``). Writes an MP4 at the
clip's own frame rate (``--max-frames``, default 300). ``--cover TOP BOTTOM LEFT RIGHT`` (fractions of the kept
box) paints a plain wooden board over that part of every frame: a desk hiding the legs inside the frame, where
BlazePose reports them present but not visible (the cut above puts them outside the frame).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np


#: The desk's colour (BGR) and the darker grain lines painted across it.
DESK, GRAIN = (60, 105, 150), (45, 80, 120)


def _box(name: str, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    top, bottom, left, right = box
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(f"{name} {top} {bottom} {left} {right}: need 0 ≤ TOP < BOTTOM ≤ 1 and 0 ≤ LEFT < RIGHT ≤ 1")
    return box


def _paint_desk(frame: np.ndarray, cover: tuple[float, float, float, float]) -> None:
    h, w = frame.shape[:2]
    y0, y1, x0, x1 = int(cover[0] * h), int(cover[1] * h), int(cover[2] * w), int(cover[3] * w)
    frame[y0:y1, x0:x1] = DESK
    frame[y0:y1:max(3, h // 40), x0:x1] = GRAIN  # a board, not a flat patch


def reframe(src: Path, dst: Path, keep: tuple[float, float, float, float] = (0, 1, 0, 1), max_frames: int = 300,
            cover: tuple[float, float, float, float] | None = None) -> int:
    """Write the ``keep`` box (top, bottom, left, right fractions) of ``src``'s first ``max_frames`` frames to
    ``dst``, with a desk painted over the ``cover`` box (fractions of the kept box); returns the frames written.
    ``ValueError`` with a one-line reason when it cannot."""
    top, bottom, left, right = _box("--keep", keep)
    if cover is not None:
        _box("--cover", cover)
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise ValueError(f"{src}: cannot open this video (missing, not a video, or a codec OpenCV lacks)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer, n = None, 0
    try:
        while n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            box = np.ascontiguousarray(frame[int(top * h):int(bottom * h), int(left * w):int(right * w)])
            if cover is not None:
                _paint_desk(box, cover)
            if writer is None:
                dst.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (box.shape[1], box.shape[0]))
                if not writer.isOpened():
                    raise ValueError(f"{dst}: cannot write a video there; pass a writable path ending in .mp4")
            writer.write(box)
            n += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if n == 0:
        raise ValueError(f"{src}: no frame decodes (corrupt file or unsupported codec)")
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="reframe_clip.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--keep", type=float, nargs=4, default=(0.0, 1.0, 0.0, 1.0), metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"))
    ap.add_argument("--cover", type=float, nargs=4, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                    help="paint a desk over this box of the kept frame (fractions)")
    ap.add_argument("--max-frames", type=int, default=300)
    args = ap.parse_args(argv)
    try:
        n = reframe(args.src, args.dst, tuple(args.keep), args.max_frames, tuple(args.cover) if args.cover else None)
    except (ValueError, OSError) as exc:
        print(f"reframe_clip.py: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {n} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
