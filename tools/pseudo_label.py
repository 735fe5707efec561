"""Pseudo-label any video as a VIBE-format 2D data set, the way InstaVariety was labelled with a 2D
detector: find and track every person (realtime.detection: BlazePose detector + 33 landmarks), map
the landmarks onto VIBE's 49-joint ``spin49`` set and write one db file per video.

Usage::

    python tools/pseudo_label.py VIDEOS... --out OUT [--stride 2] [--max-frames 300] [--tiles 3]
                                 [--min-visible 6] [--min-confidence 0.5] [--crops] [--crop-size 224]

``VIDEOS`` are video files and/or folders (their *.mp4, *.avi, *.mov, *.mkv, *.webm, *.m4v). For each
video ``OUT/<stem>_db.pt`` is written with ``write_vibe_db`` (joblib), one row
per (track, frame):

* ``vid_name``  ``f"{stem}_p{track_id}"`` — one sequence per tracked person;
* ``frame_id``  frame index in the video;
* ``joints2D``  (N, 49, 3) x, y pixels + MediaPipe visibility (0 for joints MediaPipe lacks, see
  :data:`SPIN49_FROM_MEDIAPIPE`);
* ``bbox``      (N, 4) cx, cy, w, h with w = h: the tracker's square around the person, the one the live app
  crops (VIBE's convention: loaders crop a square of side w × ``scale``, so with the same ``--scale`` they cut
  the crop the live app sees); the tracker's box is smoothed over frames, so in fast motion a landmark can
  fall a little outside it;
* ``img_name``  the frame saved as ``frames/<stem>/<frame:06d>.jpg``, relative to OUT (pass OUT as the
  loader's ``image_root``); with ``--crops`` the person crop ``crops/<vid_name>/<frame:06d>.jpg``
  instead, and then ``joints2D`` and ``bbox`` are in the crop's pixels;
* ``kp2d_mediapipe33`` (N, 33, 3) MediaPipe's own landmarks: x, y in the same pixels as ``joints2D`` +
  visibility (the lite model's keypoint stream reads them);
* ``valid``     (N,) 1.

With ``--name NAME`` all videos' rows are also written together as ``OUT/NAME_train_db.pt``, the data set
``NAME`` that ``dtsvibe-train`` finds under ``data_root=OUT`` (``datasets_2d: [NAME]``).

A row whose person shows fewer than ``--min-visible`` of the 25 OpenPose joints with confidence above
``--min-confidence`` is dropped (as VIBE drops frames with too few visible keypoints).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from realtime.detection import (
    LandmarkEstimator,
    Landmarks,
    MultiPersonPose,
    PersonDetector,
    PersonTracker,
    crop_box,
)
from training.body.joint_sets import MEDIAPIPE_LANDMARKS, joint_set
from training.preprocessing import cut_crop

#: Largest --crop-size accepted (a crop is crop_size² pixels in memory per person and frame).
MAX_CROP_SIZE = 4096
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
NUM_OPENPOSE = 25

# ---------------------------------------------------------------------------------------------------
# MediaPipe 33 → spin49. Each spin49 pool name (training/body/joint_sets.py) that MediaPipe covers,
# with the MediaPipe landmarks it is taken from (several = their mean, confidence = their minimum
# visibility). Every other spin49 joint has confidence 0. Names that appear in both halves of spin49
# (OpenPose 25 and GT 24, e.g. the shoulders or the nose) are filled in both.
#
#   spin49 joint           MediaPipe landmark(s)           note
#   ---------------------  ------------------------------  ------------------------------------------
#   vertex/nose            nose
#   smpl/neck              left_shoulder + right_shoulder  OpenPose neck ≈ mid-shoulders
#   smpl/{l,r}_shoulder    {l,r}_shoulder
#   smpl/{l,r}_elbow       {l,r}_elbow
#   smpl/{l,r}_wrist       {l,r}_wrist
#   smpl/pelvis            left_hip + right_hip            OpenPose mid-hip
#   smpl/{l,r}_hip         {l,r}_hip
#   extra/{l,r}_hip_lsp    {l,r}_hip                       LSP hips (GT half)
#   smpl/{l,r}_knee        {l,r}_knee
#   smpl/{l,r}_ankle       {l,r}_ankle
#   vertex/{l,r}_eye       {l,r}_eye
#   vertex/{l,r}_ear       {l,r}_ear
#   vertex/{l,r}_big_toe   {l,r}_foot_index                MediaPipe's foot index ≈ big toe
#   vertex/{l,r}_heel      {l,r}_heel
#   vertex/*_small_toe, extra/neck_lsp, extra/head_top_lsp, extra/pelvis_mpii, extra/thorax_mpii,
#   extra/spine_h36m, extra/jaw_h36m, extra/head_h36m      — unknown, confidence 0
# ---------------------------------------------------------------------------------------------------
_SIDES = ("left", "right")
SPIN49_FROM_MEDIAPIPE: dict[str, tuple[str, ...]] = {
    "vertex/nose": ("nose",),
    "smpl/neck": ("left_shoulder", "right_shoulder"),
    "smpl/pelvis": ("left_hip", "right_hip"),
    **{f"smpl/{s}_{j}": (f"{s}_{j}",) for s in _SIDES for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")},
    **{f"extra/{s}_hip_lsp": (f"{s}_hip",) for s in _SIDES},
    **{f"vertex/{s}_{j}": (f"{s}_{j}",) for s in _SIDES for j in ("eye", "ear", "heel")},
    **{f"vertex/{s}_big_toe": (f"{s}_foot_index",) for s in _SIDES},
}


def mapping_indices() -> list[tuple[int, list[int]]]:
    """(spin49 index, MediaPipe indices) for every spin49 joint that MediaPipe covers."""
    mp_index = {n: i for i, n in enumerate(MEDIAPIPE_LANDMARKS)}
    out = []
    for i, name in enumerate(joint_set("spin49")):
        if name in SPIN49_FROM_MEDIAPIPE:
            out.append((i, [mp_index[m] for m in SPIN49_FROM_MEDIAPIPE[name]]))
    return out


_MAPPING = mapping_indices()


def spin49_from_mediapipe(xy: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """MediaPipe landmarks ``(33, 2)`` pixels + visibility ``(33,)`` → spin49 joints ``(49, 3)``."""
    out = np.zeros((len(joint_set("spin49")), 3), np.float32)
    for dst, src in _MAPPING:
        out[dst, :2] = xy[src].mean(0)
        out[dst, 2] = visibility[src].min()
    return out


def count_visible(joints2d: np.ndarray, min_confidence: float) -> int:
    """Visible OpenPose-25 joints of a ``(49, 3)`` row (each body point counted once)."""
    return int((joints2d[:NUM_OPENPOSE, 2] > min_confidence).sum())


# ---------------------------------------------------------------------------------------------------


class PseudoLabelError(RuntimeError):
    """A user-facing, one-line problem (missing input, undecodable video)."""


def shown(path: "Path | str") -> str:
    """A path as it goes into a one-line message (quoted when its name holds a newline or other control)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def find_videos(inputs: Sequence[str]) -> list[Path]:
    videos: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise PseudoLabelError(f"{shown(p)}: no videos in this folder (looked for {', '.join(VIDEO_SUFFIXES)})")
            videos.extend(found)
        elif p.is_file():
            videos.append(p)
        else:
            raise PseudoLabelError(f"{shown(p)}: no such file or folder")
    return videos


def read_frames(path: Path, stride: int = 1, max_frames: Optional[int] = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) for every ``stride``-th frame, at most ``max_frames`` of them."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise PseudoLabelError(f"{shown(path)}: cannot open this video (not a video file, or a codec OpenCV lacks)")
    try:
        index = yielded = 0
        while max_frames is None or yielded < max_frames:
            ok, frame = cap.read()
            if not ok:
                if index == 0:
                    raise PseudoLabelError(f"{shown(path)}: opened, but no frame decodes (corrupt file or unsupported codec)")
                return
            if index % stride == 0:
                yield index, frame
                yielded += 1
            index += 1
    finally:
        cap.release()


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    return max(n, 0)


@dataclass
class VideoSummary:
    video: str
    frames: int = 0
    tracks: int = 0
    kept: int = 0
    dropped: int = 0
    db: Optional[Path] = None
    error: Optional[str] = None
    seconds: float = 0.0
    data: Optional[dict] = field(default=None, repr=False)


@dataclass
class Options:
    out: Path
    stride: int = 1
    max_frames: Optional[int] = None
    tiles: int = 0
    max_persons: int = 8
    min_visible: int = 6
    min_confidence: float = 0.5
    scale: float = 1.2
    crops: bool = False
    crop_size: int = 224
    jpeg_quality: int = 90
    progress: bool = True


def label_video(path: Path, opts: Options, detector: PersonDetector, estimator: LandmarkEstimator) -> VideoSummary:
    """Detect, track and label one video; write its db file. Returns its summary row."""
    stem = path.stem
    summary = VideoSummary(stem)
    start = time.perf_counter()
    pose = MultiPersonPose(detector, estimator, PersonTracker(max_persons=opts.max_persons, max_missed=max(2, 15 // opts.stride), smoothing=0.5))
    rows: dict[str, list] = {k: [] for k in ("vid_name", "frame_id", "joints2D", "kp2d_mediapipe33", "bbox", "img_name", "valid")}
    track_ids: set[int] = set()
    total = frame_count(path)
    if opts.stride > 1 and total:
        total = (total + opts.stride - 1) // opts.stride
    if opts.max_frames:
        total = min(total, opts.max_frames) if total else opts.max_frames
    frames_iter: Iterable = read_frames(path, opts.stride, opts.max_frames)
    if opts.progress:
        from tqdm import tqdm

        frames_iter = tqdm(frames_iter, total=total or None, desc=stem, unit="frame", leave=False)
    params = [cv2.IMWRITE_JPEG_QUALITY, opts.jpeg_quality]
    for index, frame in frames_iter:
        summary.frames += 1
        frame_saved = False
        for person in pose.process(frame, index):
            lm: Landmarks = person.landmarks
            joints = spin49_from_mediapipe(lm.xy, lm.visibility)
            landmarks = np.concatenate([lm.xy, lm.visibility[:, None]], axis=1).astype(np.float32)
            if count_visible(joints, opts.min_confidence) < opts.min_visible:
                summary.dropped += 1
                continue
            cx, cy, size = crop_box(person.track.box, opts.scale)
            vid_name = f"{stem}_p{person.id}"
            if opts.crops:
                crop, m = cut_crop(frame, (cx, cy, size), opts.crop_size)
                rel = Path("crops") / vid_name / f"{index:06d}.jpg"
                (opts.out / rel).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(opts.out / rel), crop, params)
                joints[:, :2] = joints[:, :2] @ m[:, :2].T + m[:, 2]
                landmarks[:, :2] = landmarks[:, :2] @ m[:, :2].T + m[:, 2]
                c, side = opts.crop_size / 2, opts.crop_size / opts.scale
                bbox = [c, c, side, side]  # the loader's crop (side × scale) is then exactly this crop
            else:
                rel = Path("frames") / stem / f"{index:06d}.jpg"
                if not frame_saved:
                    (opts.out / rel).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(opts.out / rel), frame, params)
                    frame_saved = True
                bbox = [cx, cy, size / opts.scale, size / opts.scale]  # loaders crop side × scale (VIBE)
            track_ids.add(person.id)
            rows["vid_name"].append(vid_name)
            rows["frame_id"].append(index)
            rows["joints2D"].append(joints)
            rows["kp2d_mediapipe33"].append(landmarks)
            rows["bbox"].append(bbox)
            rows["img_name"].append(rel.as_posix())
            rows["valid"].append(1)
            summary.kept += 1
    if summary.frames == 0:
        raise PseudoLabelError(f"{shown(path)}: no frame decodes")
    summary.tracks = len(track_ids)
    data = _sorted_rows(rows)
    summary.db = write_db(opts.out / f"{stem}_db.pt", data)
    summary.data = data
    summary.seconds = time.perf_counter() - start
    return summary


def _sorted_rows(rows: dict[str, list]) -> dict[str, np.ndarray]:
    """Rows grouped by person (vid_name), then frame order, so each sequence is contiguous."""
    n = len(rows["frame_id"])
    data = {
        "vid_name": np.array(rows["vid_name"], dtype=str) if n else np.zeros(0, dtype="<U1"),
        "frame_id": np.array(rows["frame_id"], np.int64),
        "joints2D": np.array(rows["joints2D"], np.float32).reshape(n, 49, 3),
        "kp2d_mediapipe33": np.array(rows["kp2d_mediapipe33"], np.float32).reshape(n, 33, 3),
        "bbox": np.array(rows["bbox"], np.float32).reshape(n, 4),
        "img_name": np.array(rows["img_name"], dtype=str) if n else np.zeros(0, dtype="<U1"),
        "valid": np.array(rows["valid"], np.int64),
    }
    if n:
        order = np.lexsort((data["frame_id"], data["vid_name"]))
        data = {k: v[order] for k, v in data.items()}
    return data


def write_db(path: Path, data: dict[str, np.ndarray]) -> Path:
    """Write with training.data.vibe_format (validates) when it is there, else a plain joblib dump."""
    try:
        from training.data.vibe_format import write_vibe_db
    except ImportError:
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(data, path)
        return path
    return write_vibe_db(path, data)


def format_table(rows: list[VideoSummary]) -> str:
    head = ("video", "frames", "tracks", "rows kept", "rows dropped", "s", "db / error")
    body = [
        (r.video, str(r.frames), str(r.tracks), str(r.kept), str(r.dropped), f"{r.seconds:.1f}",
         r.error if r.error else str(r.db))
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join(s.rstrip() for s in [line(head), line(tuple("-" * w for w in widths))] + [line(b) for b in body])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pseudo_label.py",
        description="Detect, track and 2D-label every person in videos; write one VIBE-format db per video.",
    )
    p.add_argument("inputs", nargs="+", help="video files and/or folders of videos")
    p.add_argument("--out", required=True, help="output folder (db files, frames/ or crops/)")
    p.add_argument("--stride", type=int, default=1, help="label every N-th frame (default 1)")
    p.add_argument("--max-frames", type=int, default=None, help="at most this many labelled frames per video")
    p.add_argument("--tiles", type=int, default=0,
                   help="extra detector passes on N square tiles to find small/far people (0 = whole frame only; 3 ≈ 3× slower)")
    p.add_argument("--max-persons", type=int, default=8, help="at most this many people tracked at once")
    p.add_argument("--min-visible", type=int, default=6,
                   help="drop a person's frame with fewer visible OpenPose-25 joints than this (default 6)")
    p.add_argument("--min-confidence", type=float, default=0.5, help="a joint is visible above this confidence")
    p.add_argument("--scale", type=float, default=1.2, help="bbox = square around the landmarks × this (VIBE: 1.2)")
    p.add_argument("--crops", action="store_true", help="save person crops instead of whole frames")
    p.add_argument("--crop-size", type=int, default=224, help="crop side in pixels with --crops")
    p.add_argument("--threads", type=int, default=1, help="interpreter threads per model")
    p.add_argument("--name", help="also write all videos' rows as one data set OUT/NAME_train_db.pt (for dtsvibe-train)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def option_problem(args: argparse.Namespace) -> Optional[str]:
    """What is wrong with the parsed options (one line), or None."""
    if args.stride < 1:
        return "--stride must be ≥ 1"
    if not (math.isfinite(args.scale) and args.scale > 0):
        return f"--scale must be a positive number, got {args.scale}"
    if not 1 <= args.crop_size <= MAX_CROP_SIZE:
        return f"--crop-size must be 1..{MAX_CROP_SIZE} pixels, got {args.crop_size}"
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    problem = option_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    opts = Options(
        out=Path(args.out), stride=args.stride, max_frames=args.max_frames, tiles=args.tiles,
        max_persons=args.max_persons, min_visible=args.min_visible, min_confidence=args.min_confidence,
        scale=args.scale, crops=args.crops, crop_size=args.crop_size, progress=not args.no_progress,
    )
    try:
        videos = find_videos(args.inputs)
    except PseudoLabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        opts.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: {shown(opts.out)}: cannot create the output folder ({exc.strerror or exc})", file=sys.stderr)
        return 2
    detector = PersonDetector(tiles=opts.tiles, num_threads=args.threads)
    estimator = LandmarkEstimator(num_threads=args.threads)
    summaries: list[VideoSummary] = []
    for path in videos:
        try:
            summaries.append(label_video(path, opts, detector, estimator))
        except PseudoLabelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            summaries.append(VideoSummary(path.stem, error=str(exc)))
    print(format_table(summaries))
    if args.name:
        parts = [s.data for s in summaries if s.data is not None and len(s.data["frame_id"])]
        if parts:
            merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            print(f"data set {args.name}: {len(merged['frame_id'])} rows → {write_db(opts.out / f'{args.name}_train_db.pt', merged)}")
        else:
            print(f"error: no labelled rows to write as data set {args.name}", file=sys.stderr)
            return 1
    return 1 if any(s.error for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
