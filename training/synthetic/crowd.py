"""Full frames with several people at room and street distances: the multi-person detection benchmark.

A static camera (an RTSP camera on a wall or a pole: 2–4 m up, looking down a little) sees a floor and a
far wall; 1–6 people of the generator's shapes and clothing, moving like the motion library's *test*
subjects, walk across the view along straight lines at distances that make them 1/3 down to 1/12 of the
frame height, some towards each other, so they pass and hide one another. Per frame and person the clip
carries the exact box, the share of the person that is visible and the share inside the frame::

    clip = CrowdGenerator(seed=0).clip(0)
    clip["frames"]   (T, H, W, 3) uint8 BGR, as a camera delivers them
    clip["boxes"]    (T, N, 4) x0, y0, x1, y1: the tight box of the whole body (continuous pixels)
    clip["visible"]  (T, N) share of the body's pixels not hidden by another person
    clip["inside"]   (T, N) share of the body's box inside the frame
    clip["height"]   (T, N) the box's height over the frame height

Rendered by the generator's rasteriser (:class:`~training.synthetic.render.GLRenderer`) into a square as
wide as the frame, of which the frame is the middle band. No video backgrounds (they may show real people,
who would count as false detections).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .appearance import background_texture, body_appearance, floor_texture
from .generator import SyntheticConfig, SyntheticGenerator
from .geometry import crop_projection, look_at, project_image, rotvec_to_matrix
from .render import Lighting, MeshDraw

__all__ = ["CrowdConfig", "CrowdGenerator"]


@dataclass
class CrowdConfig:
    frame_size: tuple[int, int] = (960, 540)  # width, height (pixels)
    seq_len: int = 90
    fps: float = 30.0
    people: tuple[int, int] = (1, 6)  # how many, inclusive
    height_frac: tuple[float, float] = (1 / 12, 1 / 3)  # a person's height over the frame's (log-uniform)
    hfov_deg: tuple[float, float] = (55.0, 75.0)
    camera_height: tuple[float, float] = (2.0, 4.0)
    speed: tuple[float, float] = (0.7, 1.6)  # walking speed, m/s
    p_towards: float = 0.5  # share of people who walk the other way of the first (crossing)
    motion_split: str = "test"  # the motion library's subjects (test: never used for training)


class CrowdGenerator:
    """``clip(index)`` → one seeded clip (module docstring)."""

    def __init__(self, seed: int = 0, config: Optional[CrowdConfig] = None) -> None:
        self.seed = int(seed)
        self.cfg = config or CrowdConfig()
        w, h = self.cfg.frame_size
        if h > w:
            raise ValueError(f"CrowdConfig.frame_size must be landscape (width ≥ height), got {w}×{h}")
        # The generator's bodies, clothing, motions and rasteriser (its render square = the frame's width).
        self.gen = SyntheticGenerator(seed=self.seed, config=SyntheticConfig(
            seq_len=self.cfg.seq_len, fps=self.cfg.fps, crop_size=w, motion_split=self.cfg.motion_split,
            use_video_backgrounds=False))

    def clip(self, index: int) -> dict[str, Any]:
        cfg, gen = self.cfg, self.gen
        rng = np.random.default_rng([self.seed, int(index), 7])
        w, h = cfg.frame_size
        T = cfg.seq_len
        hfov = math.radians(rng.uniform(*cfg.hfov_deg))
        f = (w / 2) / math.tan(hfov / 2)
        K = np.array([[f, 0, w / 2 - 0.5], [0, f, h / 2 - 0.5], [0, 0, 1.0]])
        cam_h = rng.uniform(*cfg.camera_height)
        pitch = math.radians(rng.uniform(6, 16))  # looking down
        eye = np.array([0.0, cam_h, 0.0])
        R, t = look_at(eye[None], (eye + np.array([0.0, -math.sin(pitch), math.cos(pitch)]))[None])
        R, t = R[0], t[0]
        # the frame is the middle band of the rendered square (generator convention: box centre in pixel indices)
        proj = crop_projection(K, np.array([[(w - 1) / 2, (h - 1) / 2, float(w)]]))[0]

        n = int(rng.integers(cfg.people[0], cfg.people[1] + 1))
        lo, hi = np.log(cfg.height_frac)
        direction0 = rng.choice([-1.0, 1.0])
        verts, apps = [], []
        for k in range(n):
            frac = float(np.exp(rng.uniform(lo, hi)))
            betas = np.clip(rng.standard_normal(gen.cfg.num_betas), -gen.cfg.beta_clip, gen.cfg.beta_clip)
            pose, _ = gen.library_source(rng, T, cfg.fps)
            v, _ = gen.pose_person(pose, betas)
            v = v - np.array([0.0, v[..., 1].min(), 0.0])  # feet on the floor
            tall = float(np.ptp(v[0, :, 1]))
            depth = f * tall / (frac * h)  # distance that gives that height in the image
            along = direction0 * (1 if rng.random() >= cfg.p_towards or k == 0 else -1)
            speed = rng.uniform(*cfg.speed)
            half_view = depth * math.tan(hfov / 2)
            x0 = rng.uniform(-0.8, 0.8) * half_view - along * speed * T / cfg.fps / 2
            vz = rng.uniform(-0.15, 0.15) * speed
            tt = np.arange(T) / cfg.fps
            path = np.stack([x0 + along * speed * tt, np.zeros(T), depth + vz * tt], 1)
            # face the way the person walks (or, for a third of them, anywhere: people turn)
            heading = math.atan2(along * speed, vz) if rng.random() < 0.67 else rng.uniform(-math.pi, math.pi)
            root0 = rotvec_to_matrix(pose[0, :3])
            facing = root0 @ np.array([0.0, 0.0, 1.0])
            yaw = heading - math.atan2(facing[0], facing[2])
            turn = rotvec_to_matrix(np.array([0.0, yaw, 0.0]))
            centre = v[:, :, [0, 2]].mean(1, keepdims=True)  # the body's own drift taken out: the path moves it
            v = v.copy()
            v[:, :, [0, 2]] -= centre
            v = v @ turn.T + path[:, None]
            verts.append(v)
            apps.append(body_appearance(rng, gen.regions))

        far = max(float(v[..., 2].max()) for v in verts) + rng.uniform(4, 10)
        width = 2 * far * math.tan(hfov / 2) + 4
        wall = np.array([[-width / 2, -1, far], [width / 2, -1, far], [width / 2, far * 0.8, far], [-width / 2, far * 0.8, far]])
        floor = np.array([[-width / 2, -0.002, 0.5], [width / 2, -0.002, 0.5], [width / 2, -0.002, far], [-width / 2, -0.002, far]])
        quad = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
        uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float64)
        tile = rng.uniform(0.8, 2.5)
        wall_tex, _ = background_texture(rng, gen.cfg.texture_size, use_video=False)
        planes = [
            ("wall", wall, dict(c1=rng.uniform(0.8, 1.1, (1, 3)), uv=uv * np.array([width / 8, far * 0.8 / 8]), texture=wall_tex,
                                texture_repeat=True), np.array([0.0, 0.0, -1.0])),
            ("floor", floor, dict(c1=rng.uniform(0.8, 1.05, (1, 3)), uv=floor[:, [0, 2]] / tile, texture=floor_texture(rng),
                                  texture_repeat=True), np.array([0.0, 1.0, 0.0])),
        ]
        light_w = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.5, 1.0), rng.uniform(-0.8, 0.2)])
        light = Lighting(direction=R @ (light_w / np.linalg.norm(light_w)), colour=np.clip(rng.uniform(0.9, 1.1, 3), 0.5, 1.4),
                         ambient=rng.uniform(0.35, 0.6), diffuse=rng.uniform(0.35, 0.7))

        r = gen.renderer
        r._ensure()
        r.reset_cache()
        top = (w - h) // 2
        frames = np.zeros((T, h, w, 3), np.uint8)
        boxes = np.zeros((T, n, 4), np.float32)
        visible = np.zeros((T, n), np.float32)
        inside = np.zeros((T, n), np.float32)
        scene = [MeshDraw(pos=p @ R.T + t, prev=p @ R.T + t, normal=np.tile(R @ nrm, (4, 1)), faces=quad, obj_id=99, key=name, **kw)
                 for name, p, kw, nrm in planes]
        for i in range(T):
            bodies = []
            for k, v in enumerate(verts):
                vc = v[i] @ R.T + t
                bodies.append(MeshDraw(pos=vc, prev=vc, normal=gen.normals(vc), faces=gen.faces, obj_id=k + 1, key=f"body{k}",
                                       cull=gen.cull, **apps[k]))
                px = project_image(vc, K) + 0.5  # continuous pixels
                full = np.concatenate([px.min(0), px.max(0)])
                clipped = np.clip(full, 0, [w, h, w, h])
                area = max(float(np.prod(full[2:] - full[:2])), 1e-6)
                boxes[i, k] = full
                inside[i, k] = float(np.prod(np.clip(clipped[2:] - clipped[:2], 0, None))) / area
            out = r.render(scene + bodies, proj, proj, light)
            frames[i] = out.rgb[top : top + h, :, ::-1]
            obj = out.obj[top : top + h]
            for k in range(n):
                alone = r.render([bodies[k]], proj, proj, light).obj[top : top + h]
                total = int((alone == k + 1).sum())
                visible[i, k] = float((obj == k + 1).sum()) / total if total else 0.0
        r.reset_cache()
        return {"frames": frames, "boxes": boxes, "visible": visible, "inside": inside,
                "height": (boxes[..., 3] - boxes[..., 1]) / h, "K": K, "fps": cfg.fps}
