#!/usr/bin/env python3
"""Does the body follow real people? Per clip, through ``dtsvibe-live``, against MediaPipe's own view.

    python tools/eval_clips.py [VIDEOS...] [--bundle DIR] [--max-frames 300] [--out docs/eval_clips]

With no video, every clip in ``../shared/media``. Each clip runs through the live app's own pipeline
(``realtime.graph.build_pipeline``: detection and tracking, crops and flow, the engine bundle, the overlay
view recorded to MP4), every frame, and for every tracked person and frame — the frames where MediaPipe
found that person — three figures are taken on the 12 limb joints (shoulders, elbows, wrists, hips, knees,
ankles):

* **PCK@0.2·torso**: our 2D joints (the weak-perspective projection, in frame pixels) within 0.2 × the
  torso (MediaPipe's mid-shoulder to mid-hip) of MediaPipe's landmarks, where MediaPipe sees them;
* **spread ratio**: how much our hip-centred 3D limb joints move over the frames (standard deviation over
  each track, summed over joints and axes) over the same for MediaPipe's world landmarks — a body stuck
  near one pose scores far below 1; and the same over the joints MediaPipe sees (each joint's deviation over
  the frames where it sees that joint): a leg below the frame moves as MediaPipe guesses it, not as the person;
* **face**: the mean distance of our nose, eyes and ears (projected) from MediaPipe's, where it sees them, in
  torso lengths as PCK's — does the head sit and face as the person's does (no target);
* **jitter ratio**: mean |second difference| of the same hip-centred joints over three consecutive frames,
  ours over MediaPipe's (frames where the tracker lost the person break the run: a difference across the gap
  is a jump between two sightings, not a frame's jitter).

MediaPipe's world landmarks are not ground truth: the figures say whether the body takes the pose that the
2D evidence shows and moves as much as the person, not how many millimetres it is off. Writes
``eval_clips.md``/``.json`` and a contact sheet per clip (8 frames of the recorded overlay).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import cv2
import numpy as np

from realtime.graph import build_pipeline
from realtime.config import load_live_config
from training.config import ConfigError

MEDIA = ROOT.parent / "shared" / "media"
#: The 12 limb joints in the same order in both sets: r/l shoulder, elbow, wrist, r/l hip, knee, ankle.
OURS_SPIN49 = [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]
MEDIAPIPE = [12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27]
OURS_HIPS, MP_HIPS, MP_SHOULDERS = (9, 12), (23, 24), (11, 12)
#: The face in the same order in both sets: nose, right eye, left eye, right ear, left ear.
OURS_FACE, MP_FACE = [0, 15, 16, 17, 18], [0, 5, 2, 8, 7]


class Collector:
    """A pipeline sink that keeps, per track, our joints and MediaPipe's landmarks for every frame."""

    def __init__(self) -> None:
        self.tracks: dict[int, dict[str, list]] = {}
        self.frames = 0

    def write(self, packet) -> None:
        self.frames += 1
        res = packet.results
        if res is None:
            return
        for person in packet.people:
            lm = person.landmarks
            if lm is None or lm.world is None or person.id not in res.ids:
                continue
            i = res.ids.index(person.id)
            t = self.tracks.setdefault(person.id, {k: [] for k in ("ours2d", "ours3d", "mp2d", "mpvis", "mp3d", "frame",
                                                                   "ours_face", "mp_face_vis")})
            t["ours2d"].append(res.placement.joints2d_px[i][OURS_SPIN49])
            t["ours_face"].append(res.placement.joints2d_px[i][OURS_FACE])
            t["mp_face_vis"].append(lm.visibility[MP_FACE] > 0.5)
            j3 = res.joints3d[i]
            t["ours3d"].append(j3[OURS_SPIN49] - j3[list(OURS_HIPS)].mean(0))
            t["mp2d"].append(lm.xy.astype(np.float64))
            t["mpvis"].append(lm.visibility[MEDIAPIPE] > 0.5)
            t["mp3d"].append(lm.world[MEDIAPIPE] - lm.world[list(MP_HIPS)].mean(0))
            t["frame"].append(packet.frame.index)

    def close(self) -> None:
        pass


def _spread(x: np.ndarray) -> float:
    return float(x.std(0).sum()) if len(x) > 1 else 0.0


def _spread_seen(x: np.ndarray, seen: np.ndarray) -> float:
    """:func:`_spread` of ``x (F, J, 3)`` with each joint's deviation taken over the frames where ``seen (F, J)``."""
    total = 0.0
    for j in range(x.shape[1]):
        if seen[:, j].sum() > 1:
            total += float(x[seen[:, j], j].std(0).sum())
    return total


def _jitter_terms(x: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """|second difference| per joint (summed over axes) of every three consecutive frames ``(N, J)``."""
    if len(x) < 3:
        return np.zeros((0, x.shape[1]))
    steps = np.diff(frames)
    consecutive = (steps[1:] == 1) & (steps[:-1] == 1)
    return np.abs(np.diff(x, 2, axis=0)).sum(-1)[consecutive]


def scores(tracks: dict[int, dict[str, list]], min_frames: int = 10) -> dict:
    """PCK, spread and jitter ratios over the tracks with at least ``min_frames`` frames (10, or half of a clip
    shorter than 20 frames)."""
    hits, n = 0, 0
    face, face_n = 0.0, 0
    spread = {"ours": 0.0, "mp": 0.0}
    seen_spread = {"ours": 0.0, "mp": 0.0}
    jitter = {"ours": 0.0, "mp": 0.0}
    frames = 0
    for t in tracks.values():
        if len(t["frame"]) < min_frames:
            continue
        ours2d, mp2d, vis = np.array(t["ours2d"]), np.array(t["mp2d"]), np.array(t["mpvis"])
        torso = np.linalg.norm(mp2d[:, MP_SHOULDERS].mean(1) - mp2d[:, MP_HIPS].mean(1), axis=-1)  # (F,)
        err = np.linalg.norm(ours2d - mp2d[:, MEDIAPIPE], axis=-1)  # (F, 12)
        ok = err < 0.2 * torso[:, None]
        hits += int(ok[vis].sum())
        n += int(vis.sum())
        face_vis = np.array(t["mp_face_vis"])
        face_err = np.linalg.norm(np.array(t["ours_face"]) - mp2d[:, MP_FACE], axis=-1) / torso[:, None]  # (F, 5)
        face += float(face_err[face_vis].sum())
        face_n += int(face_vis.sum())
        ours3d, mp3d = np.array(t["ours3d"]), np.array(t["mp3d"])
        w = len(ours3d)
        spread["ours"] += w * _spread(ours3d)
        spread["mp"] += w * _spread(mp3d)
        seen_spread["ours"] += w * _spread_seen(ours3d, vis)
        seen_spread["mp"] += w * _spread_seen(mp3d, vis)
        frame = np.asarray(t["frame"])
        jitter["ours"] += float(_jitter_terms(ours3d, frame).sum())
        jitter["mp"] += float(_jitter_terms(mp3d, frame).sum())
        frames += w
    if not frames:
        return {"frames": 0, "tracks": 0, "pck": None, "face": None, "spread_ratio": None, "spread_seen_ratio": None,
                "jitter_ratio": None}
    return {"frames": frames, "tracks": sum(len(t["frame"]) >= min_frames for t in tracks.values()),
            "pck": hits / max(n, 1), "face": face / face_n if face_n else None,
            "spread_ratio": spread["ours"] / max(spread["mp"], 1e-9),
            "spread_seen_ratio": seen_spread["ours"] / max(seen_spread["mp"], 1e-9),
            "jitter_ratio": jitter["ours"] / max(jitter["mp"], 1e-9)}


def contact_sheet(video: Path, out: Path, frames: int = 8, width: int = 1600) -> None:
    cap = cv2.VideoCapture(str(video))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    tiles = []
    for k in range(frames):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int((k + 0.5) * n / frames))
        ok, img = cap.read()
        if ok:
            tiles.append(img)
    cap.release()
    if not tiles:
        return
    cols = 4
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
    sheet = np.concatenate([np.concatenate(tiles[r:r + cols], 1) for r in range(0, len(tiles), cols)], 0)
    scale = width / sheet.shape[1]
    cv2.imwrite(str(out), cv2.resize(sheet, (width, int(sheet.shape[0] * scale)), interpolation=cv2.INTER_AREA))


def collect(video: Path, bundle: str | None = None, max_frames: int = 300, record: Path | None = None,
            settings: tuple[str, ...] = (), config: str = "default") -> Collector:
    """Run one clip through ``dtsvibe-live``'s pipeline (every frame, not in real time) and keep, per track, our
    joints and MediaPipe's landmarks (:class:`Collector`); ``record``: also write the overlay view to this MP4."""
    overrides = [f"input.source={video}", "input.realtime=false", "view.view=overlay", "view.headless=true",
                 f"view.record={record}" if record else "view.view=none"]
    if bundle:
        overrides.append(f"engine.bundle={bundle}")
    pipeline, _ = build_pipeline(load_live_config(config, [*settings, *overrides]), max_frames, log=lambda m: None)
    collector = Collector()
    pipeline.stages[-1].sinks.append(collector)
    pipeline.run()
    return collector


def evaluate(video: Path, bundle: str | None, max_frames: int, sheet: Path | None, settings: tuple[str, ...] = (),
             config: str = "default") -> dict:
    """Scores of one clip; ``config``: the live config (a name under configs/live/, e.g. ``room``); ``settings``:
    overrides of its keys (``KEY=VALUE``), e.g. the filters' settings."""
    with tempfile.TemporaryDirectory(prefix="dtsvibe-eval-") as tmp:
        record = Path(tmp) / "overlay.mp4" if sheet else None
        collector = collect(video, bundle, max_frames, record, settings, config)
        if sheet and record.is_file():
            contact_sheet(record, sheet)
    return scores(collector.tracks, min_frames=max(2, min(10, -(-collector.frames // 2))))  # a short clip: half of it


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="*", type=Path, help=f"default: every clip in {MEDIA}")
    p.add_argument("--bundle", help="engine bundle (default: the embedded default's)")
    p.add_argument("--max-frames", type=int, default=300)
    p.add_argument("--out", default="out/eval_clips")
    p.add_argument("--no-sheets", action="store_true", help="skip the overlay contact sheets (faster)")
    p.add_argument("--config", default="default", help="live config: a name under configs/live/ (e.g. room) or a YAML path")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override a live-config key for the run, e.g. --set tracking.pose_beta=3 (repeatable)")
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("eval_clips", args.out)  # before any work: a path that cannot be written fails now, in one line
    videos = args.videos or sorted(MEDIA.glob("*.mp4"))
    if not videos:
        print(f"eval_clips: error: no videos given and none in {MEDIA}", file=sys.stderr)
        return 2
    missing = [str(v) for v in videos if not Path(v).is_file()]
    if missing:  # all checked before the first clip runs
        print(f"eval_clips: error: {', '.join(missing)} does not exist", file=sys.stderr)
        return 2
    from realtime.sources import SourceError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    for video in videos:
        sheet = None if args.no_sheets else out / f"{video.stem}_sheet.jpg"
        try:
            r = {"clip": video.name, **evaluate(video, args.bundle, args.max_frames, sheet, tuple(args.settings), args.config)}
        except ConfigError as exc:  # a --set key or value the live config refuses, or no such --config
            print(f"eval_clips: error: {exc}", file=sys.stderr)
            return 2
        except SourceError as exc:  # a clip that does not decode: the others are still scored and written
            print(f"eval_clips: error: {exc}; left out of the table", file=sys.stderr)
            failed.append(video.name)
            continue
        rows.append(r)
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"  {video.name}: PCK {fmt(r['pck'])}, face {fmt(r['face'])}, spread {fmt(r['spread_ratio'])} (seen {fmt(r['spread_seen_ratio'])}), jitter {fmt(r['jitter_ratio'])} "
              f"({r['frames']} person-frames, {r['tracks']} tracks)", flush=True)
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    table = ("| clip | person-frames | tracks | PCK@0.2·torso | face (torso) | spread ratio | spread, seen joints | jitter ratio |\n"
             "|---|---:|---:|---:|---:|---:|---:|---:|\n"
             + "\n".join(f"| {r['clip']} | {r['frames']} | {r['tracks']} | {fmt(r['pck'])} | {fmt(r['face'])} | {fmt(r['spread_ratio'])} | "
                         f"{fmt(r['spread_seen_ratio'])} | {fmt(r['jitter_ratio'])} |" for r in rows))
    bundle = args.bundle or "the embedded default's bundle"
    command = " ".join(["python tools/eval_clips.py", f"--max-frames {args.max_frames}",
                        *([f"--config {args.config}"] if args.config != "default" else []),
                        *(f"--set {kv}" for kv in args.settings), *(str(v) for v in args.videos)])
    text = (f"# Following real people: {bundle}, against MediaPipe\n\n`{command}`"
            f"\n\n{table}\n\nTargets of the model issue: PCK ≥ 0.9, spread ratio 0.8–1.25, jitter ratio ≤ 0.7 (face: our nose, "
            "eyes and ears from MediaPipe's, in torso lengths; spread, seen joints: over the frames where MediaPipe sees "
            "each joint; no target for either). "
            "Contact sheets: `<clip>_sheet.jpg` (8 frames of the live overlay).\n"
            + (f"\nLeft out (no frame decodes): {', '.join(failed)}.\n" if failed else ""))
    (out / "eval_clips.md").write_text(text)
    (out / "eval_clips.json").write_text(json.dumps({"bundle": bundle, "max_frames": args.max_frames, "rows": rows,
                                                     "left_out": failed}, indent=1))
    print(table)
    print(f"wrote {out / 'eval_clips.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
