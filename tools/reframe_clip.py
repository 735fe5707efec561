#!/usr/bin/env python3
"""A clip as another camera would frame and see it: keep one box of every frame (and put a desk in front), mirror,
tilt, shrink, darken, add sensor noise or blur.

    python tools/reframe_clip.py ../shared/media/taiji.mp4 data/framed/taiji_thighs_up.mp4 --keep 0 0.62 0.2 0.8
    python tools/reframe_clip.py ../shared/media/taiji.mp4 data/framed/taiji_desk.mp4 --keep 0 0.8 0.2 0.8 --cover 0.6 1 0 1
    python tools/eval_clips.py data/framed/*.mp4

``--keep TOP BOTTOM LEFT RIGHT`` are fractions of the frame's height and width. A desk webcam sees people from
the thighs or the waist up, with the legs below the frame; the shared clips show whole bodies. Cut this way they
test what the live app does with limbs outside the frame (``docs/eval_clips/framed``). Writes an MP4 at the
clip's own frame rate (``--max-frames``, default 300). ``--cover TOP BOTTOM LEFT RIGHT`` (fractions of the kept
box) paints a plain wooden board over that part of every frame: a desk hiding the legs inside the frame, where
BlazePose reports them present but not visible (the cut above puts them outside the frame).

The other options make the clip look as a different camera would show it — what a clip the project has never seen
may bring (``docs/eval_clips/cameras``): ``--mirror`` (left and right swapped), ``--roll DEG`` (the camera tilted
about its axis, counter-clockwise), ``--width PX`` (a smaller sensor; the height follows), ``--gain G`` (a darker
room: every pixel × G) with ``--noise SIGMA`` (the grain of a high ISO: Gaussian, in 8-bit levels, seeded),
``--blur SIGMA`` (out of focus; pixels of the output). Applied in that order, after ``--keep`` and ``--cover``.

    python tools/reframe_clip.py ../shared/media/surfer_wave.mp4 data/cameras/surfer_dark.mp4 --gain 0.35 --noise 6
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


#: The desk's colour (BGR) and the darker grain lines painted across it.
DESK, GRAIN = (60, 105, 150), (45, 80, 120)


@dataclass(frozen=True)
class Camera:
    """How the other camera sees the kept box (module docstring); the defaults change nothing."""

    mirror: bool = False
    roll: float = 0.0
    width: int = 0
    gain: float = 1.0
    noise: float = 0.0
    blur: float = 0.0
    seed: int = 0

    def check(self) -> "Camera":
        if self.width < 0 or not 0 < self.gain or self.noise < 0 or self.blur < 0:
            raise ValueError(f"--width {self.width} --gain {self.gain} --noise {self.noise} --blur {self.blur}: "
                             "need WIDTH ≥ 0 (0 = as kept), GAIN > 0, NOISE ≥ 0 and BLUR ≥ 0")
        return self

    def apply(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = frame[:, ::-1] if self.mirror else frame
        if self.roll:
            h, w = out.shape[:2]
            out = cv2.warpAffine(np.ascontiguousarray(out), cv2.getRotationMatrix2D((w / 2, h / 2), self.roll, 1.0), (w, h))
        if self.width and self.width != out.shape[1]:
            h = max(2, round(out.shape[0] * self.width / out.shape[1] / 2) * 2)  # even sizes for the encoder
            out = cv2.resize(out, (self.width, h), interpolation=cv2.INTER_AREA)
        if self.gain != 1.0 or self.noise:
            x = out.astype(np.float32) * self.gain
            if self.noise:
                x += rng.normal(0.0, self.noise, x.shape).astype(np.float32)
            out = x.clip(0, 255).astype(np.uint8)
        if self.blur:
            out = cv2.GaussianBlur(out, (0, 0), self.blur)
        return np.ascontiguousarray(out)


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
            cover: tuple[float, float, float, float] | None = None, camera: Camera = Camera()) -> int:
    """Write the ``keep`` box (top, bottom, left, right fractions) of ``src``'s first ``max_frames`` frames to
    ``dst``, with a desk painted over the ``cover`` box (fractions of the kept box), as ``camera`` sees it;
    returns the frames written. ``ValueError`` with a one-line reason when it cannot."""
    top, bottom, left, right = _box("--keep", keep)
    camera.check()
    rng = np.random.default_rng(camera.seed)
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
            box = camera.apply(box, rng)
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
    ap.add_argument("--mirror", action="store_true", help="swap left and right")
    ap.add_argument("--roll", type=float, default=0.0, metavar="DEG", help="tilt the camera (degrees, counter-clockwise)")
    ap.add_argument("--width", type=int, default=0, metavar="PX", help="shrink to this width (the height follows)")
    ap.add_argument("--gain", type=float, default=1.0, metavar="G", help="a darker (< 1) or brighter room")
    ap.add_argument("--noise", type=float, default=0.0, metavar="SIGMA", help="sensor noise (8-bit levels)")
    ap.add_argument("--blur", type=float, default=0.0, metavar="SIGMA", help="out of focus (pixels)")
    ap.add_argument("--seed", type=int, default=0, help="the noise's seed")
    args = ap.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("reframe_clip", args.dst, option="dst", file=True)  # before the clip is read
    camera = Camera(args.mirror, args.roll, args.width, args.gain, args.noise, args.blur, args.seed)
    try:
        n = reframe(args.src, args.dst, tuple(args.keep), args.max_frames, tuple(args.cover) if args.cover else None, camera)
    except (ValueError, OSError) as exc:
        print(f"reframe_clip.py: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {n} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
