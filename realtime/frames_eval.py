"""``dtsvibe-eval --frames TEST.npz --images DIR``: still test frames through the live path, against their 3D labels.

::

    dtsvibe-eval --frames h36m_valid_protocol2.npz --images /data/h36m [--bundle DIR] [--out DIR] [--max-frames N]

The frames come in the SPIN/mmpose ``.npz`` layout (``imgname``, ``center``, ``scale``, ``S`` as (N, 24, 4) SPIN
order or (N, 17, 4) Human3.6M/MPI-INF-3DHP order, metres or millimetres; ``training.data.still_frames``).
Each image is played through the live app's own stages (:mod:`realtime.pipeline`: ``DetectTrack`` — BlazePose
detector, landmarks and tracker with the live tracking config —, ``CropFlow`` — ``PersonInputs.for_manifest`` —,
``Inference`` — the engine bundle) as a clip of the image repeated T times (T = the bundle's window, so the
temporal model sees a full window), fresh tracker and state per image; the last frame's result counts, for the
person whose box best matches the file's box (SPIN's convention: a square of side ``scale * 200`` px centred
on ``center``; IoU at least :data:`MIN_IOU`, else the person was not found).

``--frames`` may also be a VIBE test db of videos (``3dpw_test_db.pt`` …: ``training.data.still_frames.read_vibe_sequences``):
then each sequence is played once, frame after frame in ``frame_id`` order at ``--fps``, as a video through the same
stages (fresh tracker and state per sequence), every frame's result counts for the person matching its box, and the
rows also carry Accel (mm/frame², the 12 limb joints centred on their hips, over every three consecutive frames
where the person was found).

Rows, in mm, on the LSP-14 joints and on the 12 limb joints (``training.baselines``):

* the model (the bundle's folder name): its body's LSP-14 joints under ``--joints``
  (``training.baselines.evaluation_joints``): ``h36m`` — the mesh's Human3.6M joints, on which SPIN and VIBE
  score Human3.6M, MPI-INF-3DHP and 3DPW —, or ``lsp`` — its spin49 joints' LSP-14 part; ``auto`` (the default):
  what the file's optional ``joints`` key says (``tools/make_still_frames.py`` writes it), else ``h36m``;
* MediaPipe world landmarks: the same frames' world landmarks (limbs only: MediaPipe has no neck or head top);
* per-frame fit: the body fitted to those landmarks (``training.fitting.fit_landmarks``), its joints under the
  same ``--joints``.

MPJPE after aligning the mid-hips, PA-MPJPE after a similarity (Procrustes) alignment, over the labelled joints
(confidence > 0). Frames where no person matched the box are misses, counted; every row is scored on the same
frames, those where MediaPipe found the person (the model and the fit need its landmarks too).

Anything the user can fix (a missing file or folder, wrong keys or shapes, a bad bundle) is one line on stderr
and exit status 2. ``eval_main`` is the ``dtsvibe-eval`` console script: it runs this mode when ``--frames`` or
``--images`` is given and ``training.cli.eval_main`` (checkpoints on VIBE test sets) otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

PROG = "dtsvibe-eval"
#: The least IoU between the file's box and a tracked person's square box for that person to be the one labelled.
MIN_IOU = 0.2
#: Row names of the baselines.
MEDIAPIPE_ROW, FIT_ROW = "MediaPipe world landmarks", "per-frame fit"
FRAMES_HELP = ("Still test frames (SPIN/mmpose .npz: imgname, center, scale, S) through the live path: MPJPE and "
               "PA-MPJPE on the 14 LSP and the 12 limb joints, with MediaPipe's world landmarks and the per-frame fit as baselines.")

__all__ = ["FramesEvalError", "LivePath", "LiveResults", "accel", "eval_main", "evaluate", "frames_main", "run_live", "sequences_of",
           "table_markdown"]


class FramesEvalError(ValueError):
    """Something the user can fix; the message says what, in one line."""


# -- the live path -----------------------------------------------------------------------------------------
class LivePath:
    """The live app's detection, crops and flow, and engine, run on one still image at a time.

    ``run(image_bgr)`` plays the image ``window`` times through ``DetectTrack → CropFlow → Inference`` (as
    ``dtsvibe-live`` runs them, on one thread) with a fresh tracker and fresh per-person state, and returns the
    last frame's packet (``people``, ``results``)."""

    def __init__(self, bundle: Optional[str] = None, log: Callable[[str], None] = print, joints: str = "lsp") -> None:
        from training.baselines import JOINT_DEFINITIONS
        from training.body import BodyModel
        from training.config.schema import BodyModelConfig

        from .graph import open_engine
        from .config import load_live_config
        from .detection import LandmarkEstimator, PersonDetector

        cfg = load_live_config("default", [f"engine.bundle={bundle}"] if bundle else [])
        self.session = open_engine(cfg, log)
        m = self.session.manifest
        if m.joint_set != "spin49":
            raise FramesEvalError(f"engine bundle {self.session.folder} gives {m.joint_set} joints; this evaluation reads "
                                  "spin49 joints: rebuild the bundle with tools/build_engine.py")
        self.tracking = cfg.tracking.model_copy(update={"max_persons": min(cfg.tracking.max_persons, m.max_persons)})
        self.window = int(m.window)
        self.name = self.session.folder.resolve().name
        self.detector, self.estimator = PersonDetector(), LandmarkEstimator()
        if joints not in JOINT_DEFINITIONS:
            raise FramesEvalError(f"--joints {joints}: choose one of {', '.join(JOINT_DEFINITIONS)}")
        #: Which body points are scored (``training.baselines.evaluation_joints``) and the bundle's body they are on.
        self.joints = joints
        self.body = BodyModel.from_config(BodyModelConfig(**m.model_config["body_model"]))
        if joints == "h36m" and not self.body.has_joint_set("h36m17"):
            raise FramesEvalError(f"--joints h36m: the bundle's body model has no Human3.6M joints; put J_regressor_h36m.npy "
                                  "next to the SMPL file, or pass --joints lsp")

    def lsp14(self, vertices: np.ndarray, joints3d: np.ndarray) -> np.ndarray:
        """One result's LSP-14 joints ``(14, 3)`` under :attr:`joints`, from its ``vertices`` and spin49 ``joints3d``."""
        import torch

        from training.baselines import evaluation_joints

        with torch.no_grad():
            return evaluation_joints(self.body, self.joints, torch.from_numpy(np.asarray(vertices, np.float32))[None],
                                     torch.from_numpy(np.asarray(joints3d, np.float32))[None])[0].numpy()

    def stream(self, images: Iterable[np.ndarray], fps: Optional[float] = None) -> Iterator:
        """Each image in turn through the live stages, as one video (``fps``: its frames' positions in seconds,
        k / fps; None: none, as a camera's); yields each frame's packet. Fresh tracker and per-person state."""
        from .detection import MultiPersonPose
        from .person_inputs import PersonInputs
        from .pipeline import CropFlow, DetectTrack, Inference, Packet
        from .sources import Frame

        pose = MultiPersonPose.from_tracking(self.tracking, self.detector, self.estimator)
        stages = [DetectTrack(pose), CropFlow(PersonInputs.for_manifest(self.session.manifest, scale=self.tracking.crop_scale)),
                  Inference(self.session)]
        try:
            for k, image in enumerate(images):
                packet = Packet(Frame(k, image, time.monotonic(), None if fps is None else k / fps))
                for stage in stages:
                    packet = stage.process(packet)
                yield packet
        finally:
            for tid in list(self.session.slots.tracks):  # the next image or sequence starts with no one
                self.session.release(tid)

    def run(self, image_bgr: np.ndarray):
        """The image played :attr:`window` times; the last frame's packet."""
        for packet in self.stream(itertools.repeat(image_bgr, self.window)):
            pass
        return packet


@dataclass
class LiveResults:
    """Per frame: ``found`` (N,) — a person matched the box —, the model's LSP-14 joints ``model`` (N, 14, 3),
    MediaPipe's world landmarks ``world`` (N, 33, 3) and ``visibility`` (N, 33), the box ``iou`` (N,); zeros
    where not found."""

    found: np.ndarray
    model: np.ndarray
    world: np.ndarray
    visibility: np.ndarray
    iou: np.ndarray


def match_person(boxes: np.ndarray, target: np.ndarray) -> tuple[Optional[int], float]:
    """The index of the person box ``(P, 4)`` whose square best overlaps ``target`` ``(4,)`` (IoU ≥ :data:`MIN_IOU`)."""
    from .detection import box_iou
    from .detection.tracker import square_boxes

    if len(boxes) == 0:
        return None, 0.0
    iou = box_iou(square_boxes(np.asarray(boxes, np.float32)), np.asarray(target, np.float32)[None])[:, 0]
    k = int(np.argmax(iou))
    return (k, float(iou[k])) if iou[k] >= MIN_IOU else (None, float(iou[k]))


def sequences_of(frames) -> list[np.ndarray]:
    """The frame indices of each video sequence of ``frames``, in play order (one per frame for still frames)."""
    if frames.sequence is None:
        return [np.array([i]) for i in range(len(frames))]
    names = np.asarray(frames.sequence)
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    return np.split(np.arange(len(frames)), starts[1:])


def run_live(frames, images: Path, live: LivePath, progress: bool = True, fps: float = 30.0) -> LiveResults:
    """Every frame of ``frames`` (:class:`training.data.still_frames.StillFrames`) through ``live``: each still
    image repeated (:meth:`LivePath.run`), each video sequence played once at ``fps`` (:meth:`LivePath.stream`)."""
    import cv2
    from tqdm import tqdm

    n = len(frames)
    res = LiveResults(np.zeros(n, bool), np.zeros((n, 14, 3), np.float32), np.zeros((n, 33, 3), np.float32),
                      np.zeros((n, 33), np.float32), np.zeros(n, np.float32))
    boxes = frames.boxes

    def read(i: int) -> np.ndarray:
        path = images / frames.imgname[i]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FramesEvalError(f"{path}: not a readable image (frame {i} of {frames.path.name}); replace it or pass --max-frames")
        return image

    bar = tqdm(total=n, desc="frames (live path)", unit="frame", disable=not progress)
    if frames.sequence is None:
        played = ((int(i), live.run(read(int(i)))) for i in range(n))
    else:
        played = ((int(seq[k]), packet) for seq in sequences_of(frames)  # each stream runs to its end (state released)
                  for k, packet in enumerate(live.stream((read(int(i)) for i in seq), fps)))
    for i, packet in played:
        bar.update()
        if packet.results is None:
            continue
        k, res.iou[i] = match_person(np.array([p.track.box for p in packet.people]), boxes[i])
        if k is None or packet.people[k].landmarks.world is None:
            continue
        lm = packet.people[k].landmarks
        res.found[i] = True
        row = packet.results.ids.index(packet.people[k].id)
        res.model[i] = live.lsp14(packet.results.vertices[row], packet.results.joints3d[row])
        res.world[i], res.visibility[i] = lm.world, lm.visibility
    bar.close()
    return res


# -- scoring and the report -----------------------------------------------------------------------------------
def _mean(x: np.ndarray) -> Optional[float]:
    x = x[np.isfinite(x)]
    return round(float(x.mean()), 2) if x.size else None


def _scores(pred: np.ndarray, target: np.ndarray, labelled: np.ndarray) -> dict[str, Optional[float]]:
    from training.baselines import joint_errors

    if not len(pred):
        return {"mpjpe": None, "pa_mpjpe": None}
    m, pa = joint_errors(pred, target, labelled)
    return {"mpjpe": _mean(m), "pa_mpjpe": _mean(pa)}


def accel(pred12: np.ndarray, frames, found: np.ndarray) -> Optional[float]:
    """Accel error (mm/frame²) of ``pred12`` ``(F, 12, 3)`` — the limb joints of the ``found`` frames, LSP order — against
    the labels: both centred on their hips, over every three consecutive frames (``frame_id``) of a sequence where the
    person was found and the limbs are labelled; None for still frames or without such a triple."""
    from training.baselines import LIMBS12

    if frames.sequence is None:
        return None
    n = len(frames)
    pred = np.full((n, 12, 3), np.nan)
    pred[found] = pred12
    target = frames.lsp14[:, LIMBS12].astype(np.float64)
    ok = found & frames.labelled[:, LIMBS12].all(1)
    centred = lambda x: x - x[:, 2:4].mean(1, keepdims=True)  # noqa: E731 - LSP limbs: hips at 2, 3
    pred, target = centred(pred) * 1000, centred(target) * 1000
    errors = []
    for seq in sequences_of(frames):
        if len(seq) < 3:
            continue
        fid = frames.frame_id[seq]
        keep = ok[seq[:-2]] & ok[seq[1:-1]] & ok[seq[2:]] & (fid[2:] - fid[:-2] == 2)
        second = lambda x: x[seq[:-2]] - 2 * x[seq[1:-1]] + x[seq[2:]]  # noqa: E731
        errors.append(np.linalg.norm(second(pred) - second(target), axis=-1).mean(-1)[keep])
    errors = np.concatenate(errors) if errors else np.zeros(0)
    return round(float(errors.mean()), 2) if errors.size else None


def evaluate(frames, live: LiveResults, fit_iters: int = 300, model_name: str = "model",
             log: Callable[[str], None] = print, joints: str = "lsp") -> tuple[list[dict], dict]:
    """The three rows (model, MediaPipe world landmarks, per-frame fit — its joints under ``joints``,
    ``training.baselines.JOINT_DEFINITIONS``) on the frames where MediaPipe found the person, and facts for the
    notes (``found``, ``fit_residual_mm``)."""
    from training.baselines import LIMBS12, MEDIAPIPE_LIMBS, fitted_lsp14

    ok = live.found
    target, labelled = frames.lsp14[ok], frames.labelled[ok]
    lsp = lambda pred: _scores(pred, target, labelled)  # noqa: E731
    limbs = lambda pred: _scores(pred, target[:, LIMBS12], labelled[:, LIMBS12])  # noqa: E731
    common = {"frames": len(frames), "found": int(ok.sum())}
    rows = [{"method": model_name, "lsp14": lsp(live.model[ok]), "limbs12": limbs(live.model[ok][:, LIMBS12]),
             "accel": accel(live.model[ok][:, LIMBS12], frames, ok), **common},
            {"method": MEDIAPIPE_ROW, "lsp14": None, "limbs12": limbs(live.world[ok][:, MEDIAPIPE_LIMBS]),
             "accel": accel(live.world[ok][:, MEDIAPIPE_LIMBS], frames, ok), **common}]
    facts = {"found": int(ok.sum()), "fit_residual_mm": None}
    if fit_iters > 0:
        if ok.any():
            log(f"fitting the body to MediaPipe's world landmarks of {int(ok.sum())} frames ({fit_iters} steps per start)")
            fitted, residual = fitted_lsp14(live.world[ok], live.visibility[ok], iters=fit_iters, definition=joints)
            facts["fit_residual_mm"] = round(1000 * float(residual.mean()), 1)
        else:
            fitted = np.zeros((0, 14, 3), np.float32)
        rows.append({"method": FIT_ROW, "lsp14": lsp(fitted), "limbs12": limbs(fitted[:, LIMBS12]),
                     "accel": accel(fitted[:, LIMBS12], frames, ok), **common})
    return rows, facts


def table_markdown(rows: Sequence[dict]) -> str:
    """The rows as a markdown table; an Accel column when they carry one (video sequences)."""
    fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
    videos = any(r.get("accel") is not None for r in rows)
    lines = ["| method | LSP-14 MPJPE | LSP-14 PA-MPJPE | limbs-12 MPJPE | limbs-12 PA-MPJPE |" + (" limbs-12 Accel |" if videos else "")
             + " frames | found by MediaPipe |", "|---|---:|---:|---:|---:|" + ("---:|" if videos else "") + "---:|---:|"]
    for r in rows:
        lsp, limbs = r["lsp14"] or {}, r["limbs12"] or {}
        lines.append(f"| {r['method']} | {fmt(lsp.get('mpjpe'))} | {fmt(lsp.get('pa_mpjpe'))} | {fmt(limbs.get('mpjpe'))} | "
                     f"{fmt(limbs.get('pa_mpjpe'))} |" + (f" {fmt(r.get('accel'))} |" if videos else "") + f" {r['frames']} | {r['found']} |")
    return "\n".join(lines)


def _notes(frames, total: int, live: LivePath, facts: dict, fit_iters: int, fps: float = 30.0) -> list[str]:
    joints = {"lsp": "its LSP joints, spin49[25:39]",
              "h36m": "its Human3.6M joints (the mesh's h36m17, J_regressor_h36m for SMPL) in LSP order, as SPIN and VIBE "
                      "score Human3.6M, MPI-INF-3DHP and 3DPW"}[live.joints]
    unit = "millimetres" if frames.units == "mm" else "metres"
    stages = (f"the live path (BlazePose detection and tracking, crops and flow, {live.session.backend} "
              f"{live.session.precision_label})")
    if frames.sequence is None:
        notes = [f"{frames.path.name}: S in {frames.layout} order, in {unit} (median joint distance from the skeleton's centre "
                 f"{frames.spread:.3g}); {len(frames)} frames" + (f" of {total} (--max-frames, evenly spaced)" if len(frames) < total else "") + ".",
                 f"Each image played {live.window} times (the bundle's window) through {stages}; the last frame's result of the "
                 f"person whose box matches the file's (IoU ≥ {MIN_IOU})."]
    else:
        count = len(sequences_of(frames))
        notes = [f"{frames.path.name}: joints3D in {frames.layout} order, its LSP-14 part, in {unit} (median joint distance from "
                 f"the skeleton's centre {frames.spread:.3g}); {count} sequences, {len(frames)} frames"
                 + (f" of {total} (--max-frames: the first)" if len(frames) < total else "") + ".",
                 f"Each sequence played once, frame after frame at {fps:g} fps, through {stages}, fresh for each sequence; each "
                 f"frame's result of the person whose box matches the file's (IoU ≥ {MIN_IOU}). Accel: the 12 limb joints centred "
                 "on their hips, mm/frame², over every three consecutive frames where MediaPipe found the person."]
    notes += [f"MediaPipe found the person in {facts['found']} of {len(frames)} frames ({len(frames) - facts['found']} misses); "
              "every row is scored on those same frames, over the labelled joints (confidence > 0).",
              "MPJPE in mm after aligning the mid-hips, PA-MPJPE after a similarity (Procrustes) alignment. MediaPipe has no "
              "neck or head top: its row has limb figures only.",
              f"The model's and the fit's body are scored on {joints} (--joints {live.joints}"
              + (", the file's joints key)." if frames.joints == live.joints else ").")]
    if frames.layout.startswith("Human3.6M"):
        notes.append("Human3.6M-17 → LSP-14 as VIBE's H36M_TO_J14: the LSP neck is Human3.6M's thorax (joint 8), the head top its head (joint 10).")
    if fit_iters > 0:
        res = facts["fit_residual_mm"]
        notes.append(f"Per-frame fit: {fit_iters} Adam steps per start, frames independent, one body shape per 2048 frames"
                     + (f"; mean landmark residual {res:.1f} mm." if res is not None else "."))
    return notes


# -- the command ---------------------------------------------------------------------------------------------
def frames_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=FRAMES_HELP)
    p.add_argument("--frames", required=True, metavar="TEST",
                   help="the test frames: SPIN/mmpose .npz of still frames (imgname, center, scale, S), or a VIBE test db of "
                        "videos (e.g. 3dpw_test_db.pt: vid_name, frame_id, img_name, bbox, joints3D), played as videos")
    p.add_argument("--images", required=True, metavar="DIR", help="the folder that the file's image paths are relative to")
    p.add_argument("--fps", type=float, default=30.0, help="a video test set's frame rate (default 30: 3DPW; 25 for Human3.6M's)")
    p.add_argument("--bundle", metavar="DIR", help="engine bundle (tools/build_engine.py); default: the embedded checkpoint's")
    p.add_argument("--out", metavar="DIR", default="eval_frames", help="where <npz name>.md and .json go (default: eval_frames)")
    p.add_argument("--max-frames", type=int, metavar="N",
                   help="score N frames: evenly spaced over a file of still frames, the first N of a video test set (default: all)")
    from training.data.still_frames import JOINT_KEYS

    p.add_argument("--joints", choices=("auto", *JOINT_KEYS), default="auto",
                   help="which body points are scored against the labels: h36m (the mesh's Human3.6M joints, as SPIN/VIBE "
                        "score Human3.6M, MPI-INF-3DHP and 3DPW), lsp (the body's LSP joints); auto (default): the file's "
                        "joints key if it has one (tools/make_still_frames.py writes it), else h36m")
    p.add_argument("--fit-iters", type=int, default=300, metavar="N", help="Adam steps of the per-frame fit per start (0: no fit row; default 300)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _fail(exc: BaseException) -> int:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(f"{PROG}: {msg}", file=sys.stderr)
    return 2


def frames_main(argv: Optional[Sequence[str]] = None) -> int:
    """``dtsvibe-eval --frames TEST.npz --images DIR …``: returns the exit status."""
    from engines import BundleError
    from training.data.still_frames import StillFramesError, read_test_frames

    from .detection import DetectionSetupError
    from .recording import OutputPathError, check_writable

    args = frames_parser().parse_args(argv)
    log = lambda m: print(f"{PROG}: {m}", flush=True)  # noqa: E731
    try:
        if args.max_frames is not None and args.max_frames < 1:
            raise FramesEvalError(f"--max-frames {args.max_frames}: give a positive number of frames")
        if args.fit_iters < 0:
            raise FramesEvalError(f"--fit-iters {args.fit_iters}: give 0 (no fit) or a positive number of steps")
        if not args.fps > 0:
            raise FramesEvalError(f"--fps {args.fps}: give the video test set's frame rate, e.g. 30")
        frames = read_test_frames(args.frames)
        total = len(frames)
        if args.max_frames is not None and args.max_frames < total:
            frames = frames.subset(np.arange(args.max_frames) if frames.sequence is not None
                                   else np.unique(np.linspace(0, total - 1, args.max_frames).round().astype(np.int64)))
        images = Path(args.images)
        if not images.is_dir():
            raise FramesEvalError(f"--images {images} is not a folder: pass the folder that the file's image paths "
                                  f"(e.g. {frames.imgname[0]}) are relative to")
        missing = [name for name in frames.imgname if not (images / name).is_file()]
        if missing:
            raise FramesEvalError(f"--images {images}: {len(missing)} of the {len(frames)} images the file names are missing, "
                                  f"e.g. {images / missing[0]}; pass the folder they are relative to")
        out = Path(args.out)
        check_writable(out, f"--out {out}")
        joints = args.joints if args.joints != "auto" else (frames.joints or "h36m")
        live = LivePath(args.bundle, log, joints)
        log(f"{len(frames)} frames of {frames.path.name} ({frames.layout}, {frames.units}) through {live.name}, "
            + (f"each image {live.window} times" if frames.sequence is None else
               f"{len(sequences_of(frames))} sequences played as videos at {args.fps:g} fps"))
        results = run_live(frames, images, live, progress=not args.no_progress, fps=args.fps)
    except (FramesEvalError, StillFramesError, BundleError, DetectionSetupError, OutputPathError) as exc:
        return _fail(exc)
    rows, facts = evaluate(frames, results, args.fit_iters, live.name, log, live.joints)
    table = table_markdown(rows)
    notes = _notes(frames, total, live, facts, args.fit_iters, args.fps)
    print(table)
    for n in notes:
        print(n)
    stem = frames.path.stem
    command = f"dtsvibe-eval --frames {args.frames} --images {args.images}" + (f" --bundle {args.bundle}" if args.bundle else "") \
        + (f" --max-frames {args.max_frames}" if args.max_frames else "") + (f" --joints {args.joints}" if args.joints != "auto" else "") \
        + (f" --fps {args.fps:g}" if frames.sequence is not None and args.fps != 30.0 else "")
    md, js = out / f"{stem}.md", out / f"{stem}.json"
    title = "Still frames" if frames.sequence is None else "Video sequences"
    md.write_text(f"# {title} through the live path: {frames.path.name}\n\n`{command}`\n\n{table}\n\n"
                  + "\n".join(f"* {n}" for n in notes) + "\n", encoding="utf-8")
    meta = {"npz": str(frames.path), "images": str(images), "bundle": str(live.session.folder), "model_name": live.session.manifest.model_name,
            "window": live.window, "backend": live.session.backend, "precision": live.session.precision_label,
            "layout": frames.layout, "units": frames.units, "frames": len(frames), "frames_in_file": total,
            "found": facts["found"], "misses": len(frames) - facts["found"], "min_iou": MIN_IOU, "fit_iters": args.fit_iters, "joints": live.joints,
            "fit_residual_mm": facts["fit_residual_mm"],
            "sequences": None if frames.sequence is None else len(sequences_of(frames)), "fps": None if frames.sequence is None else args.fps}
    js.write_text(json.dumps({"rows": rows, **meta, "notes": notes}, indent=1, allow_nan=False), encoding="utf-8")
    log(f"wrote {md}, {js}")
    return 0


def _frames_mode(argv: Sequence[str]) -> bool:
    return any(a in ("--frames", "--images") or a.startswith(("--frames=", "--images=")) for a in argv)


def eval_main(argv: Optional[Sequence[str]] = None) -> int:
    """``dtsvibe-eval``: still frames (``--frames``/``--images``) here, checkpoints on test sets in ``training.cli``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if _frames_mode(argv):
        if "-h" in argv or "--help" in argv:  # also ``--frames --help``, before --frames wants its argument
            frames_parser().print_help()
            return 0
        return frames_main(argv)
    from training.cli import eval_main as checkpoints_main

    return checkpoints_main(argv)


if __name__ == "__main__":
    sys.exit(eval_main())

