"""Generated still frames in the SPIN / mmpose ``.npz`` layout, for ``dtsvibe-eval --frames`` (the reader is
:mod:`training.data.still_frames`).

The real test frames the model issue names (Human3.6M, MPI-INF-3DHP) are not on this machine; these are the
same kind of file made from the generator, so the still-frame path — the live app's detection, tracking, crops,
flow and engine, each image played T times — can be measured on people whose 3D joints are known, with
motions of the library's test subjects. Each chosen frame's person crop is enlarged and pasted on a plain canvas
(the generator renders crops, not whole camera frames); the box is SPIN's (a square of ``1.2 ×`` the labelled
2D joints' extent), the ground truth the body's own joints: SPIN-24 in metres (``spin.npz``, its LSP points) and
Human3.6M-17 in millimetres (``h36m.npz``, its Human3.6M points), both for the same images, each file's ``joints``
key saying which points it holds (``dtsvibe-eval`` scores the model on the same ones). ``videos_db.pt`` holds the
same frames as a VIBE test db of videos, one per clip (``dtsvibe-eval --frames videos_db.pt`` plays each clip's
frames in order: give consecutive ``frames``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import torch

from ..data.vibe_format import write_vibe_db
from .generator import SyntheticGenerator
from .geometry import norm_to_pixel

__all__ = ["write_still_frames"]


def write_still_frames(gen: SyntheticGenerator, clips: Iterable[int], out: Path, frames: Sequence[int] = (0,),
                       upscale: int = 2, canvas: tuple[int, int] = (640, 640), offset: tuple[int, int] = (64, 64),
                       grey: int = 90) -> dict[str, int]:
    """Write frames ``frames`` of each of ``gen``'s clips ``clips`` to ``out/images/c<clip>/frame_<t>.png`` and the
    ground truth to ``out/spin.npz`` and ``out/h36m.npz`` (module docstring). The crop, ×``upscale``, goes at
    ``offset`` (row, col) on a ``canvas`` (rows, cols) of ``grey``. Frames with fewer than 4 labelled 2D joints
    are left out. Returns ``{activity: frames}`` (the motion kinds of the frames written)."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    crop = gen.cfg.crop_size
    if offset[0] + crop * upscale > canvas[0] or offset[1] + crop * upscale > canvas[1]:
        raise ValueError(f"a {crop}-px crop ×{upscale} at (row, col) {offset} does not fit a {canvas} canvas")
    names, centers, scales, spin24, h36m17, kinds = [], [], [], [], [], {}
    videos, frame_ids, spin49 = [], [], []
    for c in clips:
        clip = gen.clip(int(c))
        with torch.no_grad():
            body = gen.body(pose=torch.as_tensor(clip["pose"]).reshape(-1, 24, 3), betas=torch.as_tensor(clip["betas"]))
            h36m = gen.body.joint_set(body, "h36m17").numpy()
        for t in frames:
            kp = clip["kp2d_spin49"][t]
            if int((kp[:, 2] > 0).sum()) < 4:
                continue
            image = np.full((*canvas, 3), grey, np.uint8)
            big = cv2.resize(cv2.cvtColor(clip["rgb"][t], cv2.COLOR_RGB2BGR), None, fx=upscale, fy=upscale,
                             interpolation=cv2.INTER_LINEAR)
            image[offset[0]:offset[0] + big.shape[0], offset[1]:offset[1] + big.shape[1]] = big
            name = f"c{int(c):04d}/frame_{int(t):04d}.png"  # one folder per clip, as Human3.6M's S9/...
            (out / "images" / name).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / "images" / name), image)
            px = norm_to_pixel(kp[kp[:, 2] > 0, :2], crop) * upscale + np.array(offset[::-1], np.float64)
            lo, hi = px.min(0), px.max(0)
            names.append(name)
            centers.append((lo + hi) / 2)
            scales.append(1.2 * (hi - lo).max() / 200)
            spin24.append(np.concatenate([clip["kp3d"][t, 25:], np.ones((24, 1))], 1))
            h36m17.append(np.concatenate([1000 * h36m[t], np.ones((17, 1))], 1))
            videos.append(f"c{int(c):04d}")
            frame_ids.append(int(t))
            spin49.append(clip["kp3d"][t, :, :3])
            kind = str(clip["meta"]["activity"])
            kinds[kind] = kinds.get(kind, 0) + 1
    if not names:
        raise ValueError("no frame had 4 labelled joints; nothing written")
    common = dict(imgname=np.array(names), center=np.array(centers, np.float32), scale=np.array(scales, np.float32))
    # ``joints``: which of the body's points each file's labels are (``dtsvibe-eval --frames`` scores the same ones)
    np.savez(out / "spin.npz", S=np.array(spin24, np.float32), joints=np.array("lsp"), **common)
    np.savez(out / "h36m.npz", S=np.array(h36m17, np.float32), joints=np.array("h36m"), **common)
    # the same frames as a VIBE test db of videos (one per clip; consecutive ``frames`` play as a video)
    side = common["scale"][:, None] * 200.0
    write_vibe_db(out / "videos_db.pt", {"vid_name": np.array(videos), "frame_id": np.array(frame_ids), "img_name": common["imgname"],
                                         "bbox": np.concatenate([common["center"], side, side], 1),
                                         "joints3D": np.array(spin49, np.float32), "joints2D": np.zeros((len(names), 49, 3), np.float32)})
    return kinds
