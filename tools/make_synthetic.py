#!/usr/bin/env python3
"""Write synthetic training clips to tar shards, or measure the generator's throughput.

    python tools/make_synthetic.py --out data/synthetic --clips 2000 --shard-size 64 --seed 0 --crop 224
    python tools/make_synthetic.py --out data/synthetic_mp --clips 4000 --crop 128 --blazepose   # + MediaPipe in the loop
    python tools/make_synthetic.py --benchmark --crop 224 --clips 12 [--blazepose]  # frames/s table, writes nothing

Each clip is ``--seq-len`` frames (default 16) of ``--crop``² person crops with exact optical flow,
SMPL labels, 3D/2D joints (see ``training/synthetic/dataset.py`` for the format). Read them back
with ``training.synthetic.SyntheticShardDataset(DIR)``. Writing resumes where it stopped (complete
shards are kept).

``--blazepose`` plays every clip through BlazePose as ``dtsvibe-live`` runs it on a camera — the live
config's detector, regions, following and tracker (``MultiPersonPose.from_tracking``), a fresh tracker
per clip — and stores what the landmark model said about the labelled person beside the exact labels
(``mp_*`` arrays, crop-normalised like ``kp2d``: see :func:`blazepose_annotator`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


import numpy as np
import torch
from tqdm import tqdm

from training.synthetic import SyntheticConfig, SyntheticGenerator, write_shards
from training.synthetic.dataset import clip_to_sample, encode_clip
from training.synthetic.motion import amass_motion_source


def _config(args: argparse.Namespace) -> SyntheticConfig:
    cfg = SyntheticConfig(seq_len=args.seq_len, crop_size=args.crop, num_betas=args.num_betas, motion_split=args.motion_split,
                          part_mix=args.part_mix)
    if args.no_video_backgrounds:
        cfg.use_video_backgrounds = False
    return cfg


def _motion(args: argparse.Namespace, cfg: SyntheticConfig):
    """Recorded AMASS motion when ``--amass`` is given, else the procedural generator (None)."""
    return amass_motion_source(args.amass, cfg.fps) if args.amass else None


def blazepose_annotator(heatmap_size: int = 16, mask_size: int = 64, embedding_onnx: Path | None = None):
    """``annotate(clip)``: adds BlazePose's view of the labelled person, as the live app gets it.

    Arrays added (T frames, S the crop side): ``mp_found`` (T,) bool; ``mp_landmarks`` (T, 33, 5): x, y in
    normalised crop coordinates (as ``kp2d``), z in the same units, visibility, presence; ``mp_world`` (T, 33, 3)
    metres, hip-centred; ``mp_score`` (T,); ``mp_roi`` (T, 4): the model's region, centre x, y and side in
    normalised crop units, rotation in radians; ``mp_heatmaps`` (T, 39, h, h) float16; ``mp_segmentation``
    (T, m, m) uint8 (both in the region's square). Zeros where BlazePose did not find the person. With
    ``embedding_onnx`` (a copy of the landmark ONNX that outputs its last feature map, written there) the landmark
    model runs on ONNX Runtime and ``mp_embedding`` (T, 1152) float16 is added: an input experiment's data."""
    from realtime.config import load_live_config
    from realtime.detection import LandmarkEstimator, MultiPersonPose, PersonDetector
    from realtime.detection.clip_landmarks import landmarks_of_person
    from training.blazepose_input import IDENTITY, crop_landmarks
    from training.synthetic.geometry import norm_to_pixel, pixel_to_norm

    tracking = load_live_config("default").tracking
    detector = PersonDetector()
    if embedding_onnx is None:
        estimator = LandmarkEstimator()
    else:
        from realtime.detection.runtime import landmark_onnx_with_embedding

        estimator = LandmarkEstimator(runtime="onnxruntime", onnx_path=landmark_onnx_with_embedding(embedding_onnx))

    def annotate(clip: dict) -> None:
        s = clip["rgb"].shape[1]
        kp = clip["kp2d_mediapipe33"]
        person = np.concatenate([norm_to_pixel(kp[..., :2], s), kp[..., 2:]], -1)
        res = landmarks_of_person(clip["rgb"], person, MultiPersonPose.from_tracking(tracking, detector, estimator),
                                  heatmap_size, mask_size, embedding=embedding_onnx is not None)
        found = res.found
        res.landmarks[found, :, :3] = crop_landmarks(res.landmarks[found, :, :2], res.landmarks[found, :, 2], IDENTITY, s)
        res.roi[found, :2] = pixel_to_norm(res.roi[found, :2], s)
        res.roi[:, 2] *= 2.0 / s
        clip.update(res.arrays())

    return annotate


def benchmark(args: argparse.Namespace) -> None:
    cfg = _config(args)
    gen = SyntheticGenerator(args.seed, cfg, motion_source=_motion(args, cfg))
    embedding_onnx = Path(tempfile.mkdtemp(prefix="dtsvibe-embedding-")) / "embedding.onnx" if args.blazepose_embedding else None
    annotate = blazepose_annotator(args.heatmap_size, args.mask_size, embedding_onnx) if args.blazepose else None
    gen.clip(10**6)  # warm-up: GL context, shader compilation, video frames
    times = {"generate": [], "blazepose": [], "to_tensors": [], "encode": []}
    found = []
    for i in tqdm(range(args.clips), desc="benchmark", unit="clip"):
        t0 = time.perf_counter()
        clip = gen.clip(i)
        t1 = time.perf_counter()
        if annotate is not None:
            annotate(clip)
            found.append(clip["mp_found"].mean())
        times["blazepose"].append(time.perf_counter() - t1)
        t1 = time.perf_counter()
        clip_to_sample(clip)
        t2 = time.perf_counter()
        encode_clip(clip)
        t3 = time.perf_counter()
        times["generate"].append(t1 - t0)
        times["to_tensors"].append(t2 - t1)
        times["encode"].append(t3 - t2)
    frames = args.clips * cfg.seq_len
    load = os.getloadavg()
    gen_s = sum(times["generate"]) + sum(times["blazepose"])
    print()
    print(f"synthetic generator benchmark: {args.clips} clips × {cfg.seq_len} frames at {cfg.crop_size}×{cfg.crop_size}, "
          f"with flow; torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f}")
    print(f"{'stage':<28}{'ms/clip':>10}{'ms/frame':>10}{'frames/s':>10}")
    rows = [
        ("generate (render+labels)", sum(times["generate"])),
        *([("+ BlazePose in the loop", gen_s)] if annotate is not None else []),
        ("+ to tensors (on the fly)", gen_s + sum(times["to_tensors"])),
        ("+ encode shard (PNG+npz)", gen_s + sum(times["encode"])),
    ]
    for name, total in rows:
        print(f"{name:<28}{1000 * total / args.clips:>10.1f}{1000 * total / frames:>10.2f}{frames / total:>10.1f}")
    if found:
        print(f"BlazePose found the labelled person in {100 * np.mean(found):.1f} % of the frames")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="output folder (shards + manifest.json)")
    p.add_argument("--clips", type=int, default=None, help="number of clips (default 1000; 12 with --benchmark)")
    p.add_argument("--shard-size", type=int, default=64, help="clips per tar shard")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop", type=int, default=224, help="crop size in pixels (224 paper, 128 lite)")
    p.add_argument("--seq-len", type=int, default=16, help="frames per clip")
    p.add_argument("--num-betas", type=int, default=10, choices=range(1, 17), metavar="{1..16}")
    p.add_argument("--part-mix", type=float, default=0.0, metavar="P",
                   help="library clips: probability that the legs, and each arm, move as in another window (0–1; default 0)")
    p.add_argument("--motion-split", default="train", choices=["train", "val", "test"],
                   help="which subjects of the motion library the people move like (test: the held-out benchmark's)")
    p.add_argument("--no-video-backgrounds", action="store_true", help="procedural backgrounds only")
    p.add_argument("--amass", type=Path, help="folder of AMASS .npz motions (default: procedural motions)")
    p.add_argument("--blazepose", action="store_true", help="MediaPipe in the loop: store BlazePose's outputs per frame (mp_* arrays)")
    p.add_argument("--heatmap-size", type=int, default=16, choices=[4, 8, 16, 32, 64], help="with --blazepose: heatmaps pooled to this side")
    p.add_argument("--mask-size", type=int, default=64, help="with --blazepose: segmentation mask resized to this side")
    p.add_argument("--blazepose-embedding", action="store_true",
                   help="with --blazepose: also store the landmark network's last feature map (mp_embedding, 1152 float16 "
                        "a frame; the landmark model then runs on ONNX Runtime) for tools/probe_inputs.py")
    p.add_argument("--benchmark", action="store_true", help="print a throughput table and write nothing")
    args = p.parse_args(argv)
    if args.blazepose_embedding and not args.blazepose:
        p.error("--blazepose-embedding needs --blazepose")
    if not 0.0 <= args.part_mix <= 1.0:
        p.error(f"--part-mix is a probability (0–1), got {args.part_mix}")
    for option, value, least in (("--clips", args.clips, 1), ("--shard-size", args.shard_size, 1), ("--seq-len", args.seq_len, 1),
                                 ("--crop", args.crop, 32)):
        if value is not None and value < least:
            p.error(f"{option} must be at least {least}, got {value}")
    from training.paths import writable_or_exit

    if args.out is not None:
        writable_or_exit("make_synthetic", args.out)  # before any clip is made
    if args.benchmark:
        args.clips = args.clips or 12
        benchmark(args)
        return 0
    if args.out is None:
        p.error("--out is required (or use --benchmark)")
    args.clips = args.clips or 1000
    cfg = _config(args)
    with tqdm(total=args.clips, desc="synthetic clips", unit="clip") as bar:
        annotation = ({"blazepose": "MultiPersonPose.from_tracking(live default tracking), fresh tracker per clip",
                       "heatmap_size": args.heatmap_size, "mask_size": args.mask_size,
                       "embedding": args.blazepose_embedding} if args.blazepose else None)
        embedding_onnx = args.out / "pose_landmark_full_embedding.onnx" if args.blazepose_embedding else None
        path = write_shards(args.out, args.clips, args.shard_size, args.seed, cfg, progress=bar.update,
                            motion_source=_motion(args, cfg),
                            annotate=blazepose_annotator(args.heatmap_size, args.mask_size, embedding_onnx) if args.blazepose else None,
                            annotation=annotation)
    print(f"wrote {args.clips} clips to {path.parent} (manifest {path.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
