"""PCK of a checkpoint's projected 2D joints against MediaPipe's landmarks on real videos.

    python tools/pck_clips.py [VIDEOS...] [--checkpoint CKPT] [--start-frame N] [--out DIR]

Runs the live path on each video: MediaPipe (BlazePose detector + landmarks, ``realtime.detection``)
finds and tracks people, ``realtime.person_inputs`` cuts their crops, flow and landmarks, and the
checkpoint's engine bundle (ONNX Runtime, ``engines``) streams them frame by frame. The model's spin49
joints, projected with its weak-perspective camera, are mapped back to frame pixels and compared with
MediaPipe's landmarks on the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) that
MediaPipe sees (visibility > 0.5): a joint is correct within ``--alpha`` × the torso size (MediaPipe's
mid-shoulder to mid-hip distance). Rows: the checkpoint and the same network untrained (random
weights). Writes ``pck.md``, ``pck.json`` and one overlay PNG per video (MediaPipe green, model red).

The model's keypoint stream reads the same MediaPipe landmarks, so this measures how well the 3D body
it predicts reproduces them, not an independent ground truth.
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

from engines import EngineSession
from realtime.detection import LandmarkEstimator, MultiPersonPose, PersonDetector, PersonTracker
from realtime.person_inputs import PersonInputs

MEDIA = ROOT.parent / "shared" / "media"
#: spin49 indices of the 12 limb joints: r/l shoulder, elbow, wrist, hip, knee, ankle (OpenPose order).
LIMBS = [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]
SHOULDERS, HIPS = (2, 5), (9, 12)


def _first_frame_decodes(path: Path) -> bool:
    cap = cv2.VideoCapture(str(path))
    try:
        return Path(path).is_file() and cap.isOpened() and cap.read()[0]
    finally:
        cap.release()


def run_video(path: Path, session: EngineSession, start: int, max_frames: int, alpha: float, overlay: Path | None) -> dict:
    from tools.pseudo_label import spin49_from_mediapipe

    pose = MultiPersonPose(PersonDetector(), LandmarkEstimator(), PersonTracker(max_persons=session.manifest.max_persons))
    builder = PersonInputs.for_manifest(session.manifest)
    cap = cv2.VideoCapture(str(path))
    hits = total = frames = 0
    seen: set[int] = set()
    best_frame = None
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok or frames >= max_frames:
            break
        people = pose.process(frame, index)
        index += 1
        alive = {t.id for t in pose.tracker.tracks}
        for tid in seen - alive:  # a dropped track starts over (fresh ring buffer, zero flow)
            session.release(tid)
            builder.forget(tid)
        seen = alive
        if not people:
            continue
        batch = builder.build(frame, people)
        out = session.process(batch.ids, batch.inputs)
        if index - 1 < start:
            continue
        frames += 1
        for i, person in enumerate(people):
            ref = spin49_from_mediapipe(person.landmarks.xy, person.landmarks.visibility)
            pred = batch.to_frame(i, out["joints2d"][i])
            torso = np.linalg.norm(ref[list(SHOULDERS), :2].mean(0) - ref[list(HIPS), :2].mean(0))
            vis = ref[LIMBS, 2] > 0.5
            err = np.linalg.norm(pred[LIMBS, :2] - ref[LIMBS, :2], axis=1)
            hits += int((err[vis] < alpha * torso).sum())
            total += int(vis.sum())
            if overlay is not None and best_frame is None and frames >= 10:
                best_frame = (frame.copy(), ref[LIMBS], pred[LIMBS])
    cap.release()
    for tid in seen:
        session.release(tid)
    if overlay is not None and best_frame is not None:
        img, ref, pred = best_frame
        r = max(3, img.shape[0] // 200)
        for (x, y, v), (px, py) in zip(ref, pred):
            if v > 0.5:
                cv2.circle(img, (int(x), int(y)), r, (0, 200, 0), -1)
            cv2.circle(img, (int(px), int(py)), r, (0, 0, 255), 2)
        scale = 720 / max(img.shape[:2])
        cv2.imwrite(str(overlay), cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    return {"video": path.name, "frames": frames, "joints": total, "pck": hits / total if total else float("nan")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="*", help=f"video files (default: every .mp4 in {MEDIA})")
    p.add_argument("--checkpoint", help="default: the embedded training/checkpoints/lite_default.pt")
    p.add_argument("--start-frame", type=int, default=0, help="score frames from this index on (earlier ones only warm up the model)")
    p.add_argument("--max-frames", type=int, default=1000, help="score at most this many frames per video")
    p.add_argument("--alpha", type=float, default=0.2, help="PCK threshold as a fraction of the torso size")
    p.add_argument("--skip", nargs="*", default=[], help="video=start pairs overriding --start-frame, e.g. taiji.mp4=300")
    p.add_argument("--out", default="out/pck")
    args = p.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("pck_clips", args.out)  # before any work: a path that cannot be written fails now, in one line

    import torch

    from engines.build.onnx_export import export_bundle
    from training.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, save_checkpoint
    from training.model import build_model

    videos = [Path(v) for v in args.videos] or sorted(MEDIA.glob("*.mp4"))
    if not videos:
        print(f"pck_clips: error: no videos given and none in {MEDIA}", file=sys.stderr)
        return 2
    unreadable = [str(v) for v in videos if not _first_frame_decodes(v)]
    if unreadable:  # before the checkpoints are exported: a table row of nothing says nothing
        p.error(f"{', '.join(unreadable)}: missing, or no first frame decodes; pass video files")
    ckpt_path = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
    starts = {k: int(v) for k, v in (s.split("=") for s in args.skip)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = load_checkpoint(ckpt_path)
        torch.manual_seed(0)
        untrained = save_checkpoint(Path(tmp) / "untrained.pt", build_model(ckpt.model_config), ckpt.model_config)
        for label, path in ((ckpt_path.stem, ckpt_path), ("untrained", untrained)):
            export_bundle(path, Path(tmp) / label, max_persons=4)
            session = EngineSession(Path(tmp) / label, backend="onnxruntime")
            for video in videos:
                start = starts.get(video.name, args.start_frame)
                overlay = out / f"{video.stem}_{label}.png" if label != "untrained" else None
                r = run_video(video, session, start, args.max_frames, args.alpha, overlay)
                r.update(method=label, start_frame=start)
                rows.append(r)
                print(f"  {label:14s} {video.name:28s} frames {r['frames']:4d}  joints {r['joints']:5d}  PCK@{args.alpha} {r['pck']:.3f}", flush=True)
    head = f"| method | video | scored frames (from) | joints | PCK@{args.alpha} torso |\n|---|---|---:|---:|---:|"
    body = "\n".join(f"| {r['method']} | {r['video']} | {r['frames']} (from {r['start_frame']}) | {r['joints']} | {r['pck']:.3f} |" for r in rows)
    table = head + "\n" + body
    print(table)
    (out / "pck.md").write_text(f"# PCK against MediaPipe landmarks\n\n{table}\n\n{__doc__.split(chr(10) + chr(10))[2]}\n")
    (out / "pck.json").write_text(json.dumps({"checkpoint": str(ckpt_path), "alpha": args.alpha, "rows": rows}, indent=2))
    print(f"wrote {out / 'pck.md'}, {out / 'pck.json'} and overlays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
