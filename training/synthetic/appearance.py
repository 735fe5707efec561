"""Clothing-like body appearance, background textures and occluder shapes (numpy + OpenCV).

**Body regions** come from each vertex's dominant skinning joint: head/neck/hands (and forearms,
shins for short sleeves / shorts) are skin, the torso and upper arms a shirt, pelvis and legs
trousers, feet shoes; the upper/back head gets hair; eyes and mouth get darker spots near their
landmarks. Shirts and trousers get a procedural pattern (stripes, checker, blotches, dots) evaluated
in the shader on the rest-pose surface position, so patterns move with the skin (and agree with the
exact flow).

**Backgrounds** are textures (gradients, value noise, stripes/checker, random shapes, or a random
crop of a real video frame from ``/work/shared/media/*.mp4`` when available) put on a wall and an
optional floor in the 3D scene, so their flow is exact too.
"""

from __future__ import annotations

import colorsys
import glob
import os
from functools import lru_cache
import cv2
import numpy as np

from ..body.joint_sets import SMPL_JOINTS

__all__ = ["BodyRegions", "body_appearance", "background_texture", "floor_texture", "video_frames", "MEDIA_DIR"]

MEDIA_DIR = os.environ.get("DTSVIBE_SYNTH_MEDIA", "/work/shared/media")
J = {n: i for i, n in enumerate(SMPL_JOINTS)}


class BodyRegions:
    """Per-vertex region labels of one body topology (computed once from the rest template)."""

    SKIN, SHIRT, SLEEVE, TROUSER, SHIN, SHOE, HAIR, EYE, MOUTH, FOREARM = range(10)

    def __init__(self, v_template: np.ndarray, weights: np.ndarray, landmarks: dict[str, np.ndarray]) -> None:
        v = np.asarray(v_template, np.float64)
        dom = np.asarray(weights).argmax(1)
        name = np.array(SMPL_JOINTS)[dom]
        reg = np.full(len(v), self.SKIN)
        torso = np.isin(name, ["spine1", "spine2", "spine3", "left_collar", "right_collar"])
        reg[torso] = self.SHIRT
        reg[np.isin(name, ["left_shoulder", "right_shoulder"])] = self.SLEEVE
        reg[np.isin(name, ["left_elbow", "right_elbow"])] = self.FOREARM
        reg[np.isin(name, ["pelvis", "left_hip", "right_hip"])] = self.TROUSER
        reg[np.isin(name, ["left_knee", "right_knee"])] = self.SHIN
        reg[np.isin(name, ["left_ankle", "right_ankle", "left_foot", "right_foot"])] = self.SHOE
        # Neck vertices low on the neck belong to the shirt collar sometimes; keep skin.
        head = np.isin(name, ["head"])
        nose = landmarks.get("vertex/nose")
        ear_l, ear_r = landmarks.get("vertex/left_ear"), landmarks.get("vertex/right_ear")
        if nose is not None and ear_l is not None:
            ear_y = (ear_l[1] + ear_r[1]) / 2
            ear_z = (ear_l[2] + ear_r[2]) / 2
            top = v[head, 1] > nose[1] + 0.065
            back = (v[head, 2] < ear_z + 0.01) & (v[head, 1] > ear_y - 0.05)
            idx = np.flatnonzero(head)
            self.hair_top = idx[top]
            self.hair_back = idx[back & ~top]
            for key in ("vertex/left_eye", "vertex/right_eye"):
                if key in landmarks:
                    reg[np.linalg.norm(v - landmarks[key], axis=1) < 0.011] = self.EYE
            for key in ("mp/mouth_left", "mp/mouth_right"):
                if key in landmarks:
                    m = np.linalg.norm(v - landmarks[key], axis=1) < 0.012
                    reg[m & (reg == self.SKIN)] = self.MOUTH
        else:  # pragma: no cover - bodies without face landmarks
            self.hair_top = np.flatnonzero(head & (v[:, 1] > np.percentile(v[head, 1], 70)))
            self.hair_back = np.zeros(0, int)
        self.region = reg
        self.pattern_coords = v.astype(np.float32)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, np.clip(s, 0, 1), np.clip(v, 0, 1)))


def _skin(rng: np.random.Generator) -> np.ndarray:
    tone = rng.uniform(0, 1)
    light = np.array([0.93, 0.76, 0.66])
    dark = np.array([0.36, 0.24, 0.17])
    c = light * (1 - tone) + dark * tone
    return np.clip(c * rng.uniform(0.92, 1.08, 3), 0, 1)


def _garment(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c1, c2, style (4,)) of a garment."""
    if kind == "trouser":
        palette = [
            _hsv(0.6, rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.6)),  # denim
            _hsv(0.0, 0.0, rng.uniform(0.08, 0.35)),  # black/grey
            _hsv(rng.uniform(0.08, 0.13), rng.uniform(0.25, 0.5), rng.uniform(0.45, 0.75)),  # khaki
            _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)),
        ]
        c1 = palette[int(rng.choice(4, p=[0.4, 0.25, 0.15, 0.2]))]
        kinds = [0, 1, 2, 3]
        kind_p = [0.55, 0.1, 0.1, 0.25]
    else:
        c1 = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.9), rng.uniform(0.2, 0.95))
        kinds = [0, 1, 2, 3, 4]
        kind_p = [0.35, 0.25, 0.15, 0.15, 0.10]
    pk = int(rng.choice(kinds, p=kind_p))
    if rng.random() < 0.5:
        c2 = np.clip(c1 * rng.uniform(0.4, 0.8), 0, 1)
    else:
        c2 = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.9), rng.uniform(0.2, 0.95))
    freq = {0: 1.0, 1: rng.uniform(6, 25), 2: rng.uniform(4, 12), 3: rng.uniform(3, 9), 4: rng.uniform(10, 25)}[pk]
    style = np.array([pk, freq, rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)])
    return c1, c2, style


def body_appearance(rng: np.random.Generator, regions: BodyRegions) -> dict[str, np.ndarray]:
    """Random clothing for one body: a palette over the region ids — ``c1``, ``c2`` (R, 3),
    ``style`` (R, 4) — plus per-vertex ``region`` (N,) and pattern coordinates ``pat`` (N, 3)."""
    reg = regions.region.copy()
    skin = _skin(rng)
    shirt = _garment(rng, "shirt")
    trouser = _garment(rng, "trouser")
    long_sleeves = rng.random() < 0.5
    sleeveless = rng.random() < 0.15
    long_trousers = rng.random() < 0.8
    shoe = _hsv(rng.uniform(0, 1), rng.uniform(0, 0.5), rng.uniform(0.05, 0.9))
    plain = lambda c: (c, c, np.zeros(4))  # noqa: E731
    hair = _hsv(rng.uniform(0.03, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.6))
    if rng.random() < 0.1:
        hair = _hsv(0, 0, rng.uniform(0.5, 0.8))  # grey
    assign = {
        BodyRegions.SKIN: plain(skin),
        BodyRegions.SHIRT: shirt,
        BodyRegions.SLEEVE: plain(skin) if sleeveless else shirt,
        BodyRegions.FOREARM: shirt if long_sleeves and not sleeveless else plain(skin),
        BodyRegions.TROUSER: trouser,
        BodyRegions.SHIN: trouser if long_trousers else plain(skin),
        BodyRegions.SHOE: (shoe, shoe * 0.7, np.zeros(4)),
        BodyRegions.HAIR: (hair, hair * 0.8, np.array([3, 30.0, 0.0, 0.3])),
        BodyRegions.EYE: plain(np.array([0.08, 0.06, 0.05])),
        BodyRegions.MOUTH: plain(skin * np.array([0.75, 0.5, 0.5])),
    }
    n_reg = 10
    c1, c2, style = np.zeros((n_reg, 3)), np.zeros((n_reg, 3)), np.zeros((n_reg, 4))
    for r, (a, b, st) in assign.items():
        c1[r], c2[r], style[r] = a, b, st
    if rng.random() < 0.9:
        reg[regions.hair_top] = BodyRegions.HAIR
        if rng.random() < 0.85:
            reg[regions.hair_back] = BodyRegions.HAIR
    return {"c1": c1.astype(np.float32), "c2": c2.astype(np.float32), "style": style.astype(np.float32),
            "region": reg.astype(np.float32), "pat": regions.pattern_coords}


# -- background textures --------------------------------------------------------------------------
def _value_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    g = rng.random((cells, cells, channels)).astype(np.float32)
    out = cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)
    return out.reshape(size, size, channels)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return _hsv(rng.uniform(0, 1), rng.uniform(0, 0.8), rng.uniform(0.15, 0.95))


@lru_cache(maxsize=1)
def _video_paths() -> tuple[str, ...]:
    return tuple(sorted(glob.glob(os.path.join(MEDIA_DIR, "*.mp4"))))


_FRAME_CACHE: dict[tuple[str, int], np.ndarray] = {}


def video_frames(max_frames_per_video: int = 12) -> list[np.ndarray]:
    """A fixed set of RGB frames (evenly spaced) from the media videos; empty if there are none."""
    frames = []
    for p in _video_paths():
        for i in range(max_frames_per_video):
            key = (p, i)
            if key not in _FRAME_CACHE:
                cap = cv2.VideoCapture(p)
                n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
                cap.set(cv2.CAP_PROP_POS_FRAMES, int((i + 0.5) * n / max_frames_per_video))
                ok, fr = cap.read()
                cap.release()
                _FRAME_CACHE[key] = cv2.cvtColor(fr, cv2.COLOR_BGR2RGB) if ok else None
            if _FRAME_CACHE[key] is not None:
                frames.append(_FRAME_CACHE[key])
    return frames


def background_texture(rng: np.random.Generator, size: int = 512, use_video: bool = True) -> tuple[np.ndarray, str]:
    """A random wall texture (size, size, 3) uint8 and its kind."""
    kinds = ["gradient", "noise", "stripes", "checker", "shapes", "video"]
    p = np.array([0.12, 0.22, 0.14, 0.1, 0.22, 0.2])
    frames = video_frames() if use_video else []
    if not frames:
        p[-1] = 0
    kind = str(rng.choice(kinds, p=p / p.sum()))
    s = size
    if kind == "video":
        fr = frames[int(rng.integers(len(frames)))]
        h, w = fr.shape[:2]
        side = int(rng.uniform(0.35, 0.9) * min(h, w))
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img = cv2.resize(fr[y0 : y0 + side, x0 : x0 + side], (s, s), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        return np.ascontiguousarray(img), kind
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    if kind == "gradient":
        a = rng.uniform(0, 2 * np.pi)
        g = (np.cos(a) * xx + np.sin(a) * yy)
        g = (g - g.min()) / max(np.ptp(g), 1e-6)
        img = _colour(rng) * (1 - g[..., None]) + _colour(rng) * g[..., None]
        img = img + 0.05 * (_value_noise(rng, s, 24) - 0.5)
    elif kind == "noise":
        n1 = _value_noise(rng, s, int(rng.integers(3, 10)), 3)
        n2 = _value_noise(rng, s, int(rng.integers(20, 70)), 1)
        base = _colour(rng)
        img = base * (0.6 + 0.6 * n1) * (0.8 + 0.4 * n2)
    elif kind == "stripes":
        a = rng.uniform(0, np.pi)
        f = rng.uniform(3, 30)
        v = np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy))
        m = (v > rng.uniform(-0.5, 0.5)).astype(np.float32)[..., None]
        img = _colour(rng) * m + _colour(rng) * (1 - m)
    elif kind == "checker":
        f = int(rng.integers(3, 20))
        m = (((xx * f).astype(int) + (yy * f).astype(int)) % 2).astype(np.float32)[..., None]
        img = _colour(rng) * m + _colour(rng) * (1 - m)
        img = img * (0.85 + 0.3 * _value_noise(rng, s, 8))
    else:  # shapes
        img = np.ones((s, s, 3)) * _colour(rng)
        img = (img * 255).astype(np.uint8)
        for _ in range(int(rng.integers(8, 40))):
            c = tuple(int(x) for x in (_colour(rng) * 255))
            kind_s = rng.integers(3)
            cx, cy = (int(v) for v in rng.integers(0, s, 2))
            r = int(rng.integers(s // 40, s // 5))
            if kind_s == 0:
                cv2.circle(img, (cx, cy), r, c, -1, lineType=cv2.LINE_AA)
            elif kind_s == 1:
                cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy + r), c, -1)
            else:
                pts = (rng.integers(-r, r, size=(int(rng.integers(3, 7)), 2)) + [cx, cy]).astype(np.int32)
                cv2.fillPoly(img, [pts], c, lineType=cv2.LINE_AA)
        img = img.astype(np.float32) / 255.0
    return np.clip(img * 255.0, 0, 255).astype(np.uint8), kind


def floor_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A tileable floor texture (size, size, 3) uint8: tiles, planks or speckled noise."""
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    k = rng.integers(3)
    c1, c2 = _colour(rng), _colour(rng)
    if k == 0:  # tiles (tileable: integer cycles)
        f = int(rng.integers(2, 6))
        m = (((xx * f).astype(int) + (yy * f).astype(int)) % 2).astype(np.float32)[..., None]
        img = c1 * m + c2 * (1 - m)
    elif k == 1:  # planks
        f = int(rng.integers(3, 9))
        v = np.abs(np.sin(np.pi * f * yy))[..., None]
        img = c1 * (0.75 + 0.25 * (v > 0.08)) * (0.9 + 0.2 * np.sin(2 * np.pi * 3 * xx + 5 * yy))[..., None]
    else:
        img = c1 * (0.8 + 0.1 * np.sin(2 * np.pi * 7 * xx)[..., None] * np.sin(2 * np.pi * 5 * yy)[..., None])
        img = img + 0.08 * (rng.random((s, s, 1)) - 0.5)
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)
