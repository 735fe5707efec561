"""The synthetic clip generator: a posed, clothed body filmed by a moving camera, with exact labels.

One clip (``T`` frames of ``S × S`` person crops) comes from one call ``generator.clip(index)``; the
clip's randomness is ``numpy.random.default_rng([seed, index])`` so the same (seed, index) gives a
byte-identical clip on the same machine (same library versions and torch thread count).

Scene (world +y up, metres, floor at y = 0): the person (CMU library, procedural or keyframed motion
(:mod:`.keyframed`: sitting on an unrendered chair, kneeling, lying, crawling…) or ``motion_source``),
sometimes a second person (background, unlabelled), a textured wall behind them, often a textured
floor, sometimes occluders (flat shapes between camera and person), one light (Lambert + ambient).
A virtual ``1920 × 1080`` pinhole camera (random field of view, distance, height, azimuth) moves
slowly; the crop is VIBE's: the square box around the projected body, × 1.2, smoothed over time
(with a small detector-like jitter). Everything is rendered straight into the crop (see
:mod:`.render`).

**Labels** (frame t, camera frame = OpenCV axes of frame t's camera):

* ``pose`` (T, 72) axis-angle; the root orientation is expressed in the camera frame (a person
  upright in the image has a root rotated by ≈π about x, as ``training.model.params`` expects);
  ``betas`` (T, B); ``transl`` (T, 3) such that ``body(pose, betas).vertices + transl`` are the
  camera-space vertices that were rendered.
* ``kp3d`` (T, 49, 3) spin49 joints of ``body(pose, betas)`` (camera orientation, metres, **without**
  ``transl``; the losses centre them on the pelvis).
* ``kp2d_<set>`` (T, K, 3): x, y in normalised crop coordinates (the *perspective* projection of the
  rendered geometry through the crop) and visibility.
* ``cam`` (T, 3) = (s, tx, ty): the weak-perspective camera that best fits (least squares over the
  24 SMPL joints) the perspective 2D joints, i.e. ``s·(kp3d_xy + t) ≈ kp2d_xy``. The relation is
  ``s ≈ ax/Z_root`` and ``t ≈ transl_xy + bx·Z_root/ax`` (crop projection ``x_n = ax·X/Z + bx``, see
  :mod:`.geometry`); it is exact only for an infinitely distant camera, and the residual (mean ≈ 0.01
  normalised units, i.e. ~1 px at 224, up to a few px for near cameras) is the perspective effect.
* ``flow`` (T, 2, S, S) float16, backward: at each pixel of frame t, the displacement (crop pixels)
  to where that surface point was in frame t−1's crop; ``flow[0] = 0``.
* ``mask`` (T, S, S) uint8: pixels where the labelled person is the visible surface.

**Visibility rule.** A point is visible when it projects inside the crop and is not hidden: with
``Z`` its camera depth and ``D`` the rendered depth buffer at its nearest pixel (∞ where empty),
visible ⇔ ``Z ≤ D + tol``, where ``tol = 3 cm + d`` and ``d`` is the point's depth *inside* the body
in the rest pose (its distance to the nearest template vertex: < 2 mm for the surface landmarks
``vertex/*``, the face, heel, toe and thumb ``mp/*`` and ``extra/jaw_h36m``; ≈ 5–8 mm for the hand and
foot joints and the finger and head-top landmarks; 2–9 cm for the other kinematic joints). So a joint
is occluded when another surface (an occluder, another person, or another body part) lies more than
``tol`` in front of it.

*Surface points* (``d < SURFACE_DEPTH`` = 3 mm) are in addition held to what the flow can carry: such
a point is visible only if each of the 4 pixels of its bilinear neighbourhood (``⌊x⌋..⌊x⌋+1`` ×
``⌊y⌋..⌊y⌋+1``, inside the crop) shows the labelled person (``mask``) at a depth within ``tol`` of
``Z``, on a body face within ``SURFACE_RADIUS`` = 10 cm of the point in the rest pose (not another limb
touching it at the same depth), and the 4 flow vectors agree within ``SURFACE_FLOW_SPREAD`` = 0.25 px.
Then the bilinearly sampled backward flow at a visible surface point of frame t moves it onto its
frame t−1 position to well within 0.5 px (measured over every visible surface point: max 0.16 px at
224 px, 20 clips × 16 frames; max 0.10 px at 96 px, 40 clips × 5 frames; tested). The price: surface
landmarks on the silhouette or beside another limb (toe tips, heels, ears, eye corners in profile,
thumbs against the body…) are flagged invisible; about half of the surface points visible under the
plain rule stay visible at 224 px (a third at 96 px).

*Documented limit for the other points* (kinematic joints, and landmarks 0.5–9 cm inside): they keep
the plain rule, so that the 2D keypoint losses still see them, but no surface flow carries them
exactly: the flow at their pixel is that of the surface in front of them, which moves differently
when the limb rotates about the joint, and near the silhouette the bilinear sample mixes in the
background's flow. Measured on their visible points (backward flow, bilinear): at 224 px (20 clips ×
16 frames) median 0.10 px, 90th percentile 0.47, 95th 0.66, 99th 1.2, max 4.6 px (up to ≈ 9 px seen
on other clips; elbows and shoulders are the worst, median ≈ 0.2 px); at 96 px median 0.06 px, 95th
percentile ≈ 0.5, max ≈ 3–4 px.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..body import BodyModel, lbs
from ..body.rotations import axis_angle_to_matrix
from ..body.joint_sets import JOINT_SETS, SMPL_JOINTS
from .appearance import BodyRegions, background_texture, body_appearance, floor_texture
from .geometry import (
    VertexNormals,
    crop_boxes,
    crop_intrinsics,
    crop_projection,
    fit_weak_perspective,
    look_at,
    matrix_to_rotvec,
    norm_to_pixel,
    project_crop,
    project_image,
    rotvec_to_matrix,
)
from .keyframed import keyframed_motion
from .motion import MotionSource, as_motion, procedural_motion
from .render import GLRenderer, Lighting, MeshDraw

__all__ = ["SyntheticConfig", "SyntheticGenerator", "KP_SETS"]

#: Joint sets labelled in 2D (spin49 is ``kp2d``).
KP_SETS = ("spin49", "smpl24", "lsp14", "h36m17", "mediapipe33")

# The stricter visibility of surface points (module docstring, "Visibility rule"):
#: a pool point is a *surface* point when it lies within this distance (m) of the rest mesh;
SURFACE_DEPTH = 0.003
#: the body faces its bilinear neighbourhood shows lie within this distance (m) of it in the rest pose;
SURFACE_RADIUS = 0.10
#: the 4 flow vectors of its bilinear neighbourhood agree within this (crop px, per axis).
SURFACE_FLOW_SPREAD = 0.25


@dataclass
class SyntheticConfig:
    seq_len: int = 16
    crop_size: int = 224
    fps: float = 30.0
    num_betas: int = 10
    beta_clip: float = 2.5
    image_size: tuple[int, int] = (1920, 1080)
    hfov_deg: tuple[float, float] = (35.0, 75.0)
    distance: tuple[float, float] = (2.5, 8.0)
    camera_height: tuple[float, float] = (0.4, 2.2)
    camera_speed: float = 0.35  # max m/s
    crop_scale: float = 1.2
    crop_jitter: float = 0.02
    crop_smooth: float = 1.5
    p_front: float = 0.65  # camera within ±60° of the person's initial facing
    p_second_person: float = 0.3
    p_occluder: float = 0.35
    p_floor: float = 0.7
    use_video_backgrounds: bool = True
    texture_size: int = 512
    pixel_noise: float = 3.0  # max std of added Gaussian noise (intensity levels)
    min_depth: float = 1.2  # no vertex of the person nearer than this (m)
    #: Where the labelled person's motion comes from (unless a ``motion_source`` is given): "library" = the
    #: CMU motion library (real mocap, random heading and mirroring) with ``p_procedural`` of the clips
    #: made here instead; "procedural" = all made here (both kinds, see ``p_keyframed``). ``motion_split``: the library's subjects to draw from
    #: (train for training data, test for the held-out benchmark: the two never share a subject).
    motion: str = "library"
    p_procedural: float = 0.25
    motion_split: str = "train"
    #: Share of the procedural clips (labelled person) that are keyframed motions (sitting, kneeling,
    #: crouching, lying, crawling, stretching: :mod:`.keyframed`); the rest are :func:`procedural_motion`.
    p_keyframed: float = 0.6
    #: Library clips: the probability that the legs, and each arm on its own, move as in another window of
    #: the same split (:meth:`.motion_library.MotionLibrary.sample_window`): pose combinations the few
    #: training subjects never made. 0 keeps every clip of a seed as it was.
    part_mix: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _pool_names(body: BodyModel) -> list[str]:
    return [f"smpl/{n}" for n in SMPL_JOINTS] + list(body.landmark_names)


def _ground(v: np.ndarray, tr: np.ndarray, each: bool) -> np.ndarray:
    """Translations ``tr`` (T, 3) moved up or down so that the lowest vertex of ``v`` (T, V, 3) + ``tr``
    is on the floor (y = 0): in every frame (``each``), else in the clip's lowest frame."""
    low = v[..., 1].min(axis=1) + tr[:, 1]
    tr = tr.copy()
    tr[:, 1] -= low if each else low.min()
    return tr


#: A flat scene mesh: (name, world vertices (N, 3), or (T, N, 3) when it moves, faces (F, 3), world
#: normal (3,), :class:`MeshDraw` appearance keywords).
_Plane = tuple[str, np.ndarray, np.ndarray, np.ndarray, dict]


# What the stages of ``SyntheticGenerator.clip`` hand on (T frames; world frame: +y up, metres).
@dataclass
class _People:
    """Stage 1: the people in the world frame."""

    betas: np.ndarray  # (B,) the labelled person's shape
    pose: np.ndarray  # (T, 72) axis-angle, root in the world frame
    transl: np.ndarray  # (T, 3) on the floor, centred (x, z) on the origin over the clip
    verts: np.ndarray  # (T, V, 3) vertices without ``transl``
    pool: np.ndarray  # (T, P, 3) pool points (joints ++ landmarks) without ``transl``
    pelvis: np.ndarray  # (T, 3) = pool[:, 0] + transl
    centre: np.ndarray  # (3,) the mean pelvis
    activity: str
    verts2: Optional[np.ndarray]  # (T, V, 3) the background person without translation; None = none
    transl2: Optional[np.ndarray]  # (T, 3) its motion's translation (zeros if it has none), not yet placed


@dataclass
class _Camera:
    """Stage 2: the moving camera (``x_cam = R x_world + t``, OpenCV axes) and the labelled person in
    the camera frame of each frame."""

    K: np.ndarray  # (3, 3) intrinsics of the full image (pixels)
    R: np.ndarray  # (T, 3, 3)
    t: np.ndarray  # (T, 3)
    eye: np.ndarray  # (T, 3) camera centres (world)
    az: float  # azimuth (rad, from +z towards +x) of ``direction``
    direction: np.ndarray  # (3,) horizontal unit vector from the person towards the camera
    dist: float  # horizontal distance to the person (m) after any backing off for ``min_depth``
    vel: np.ndarray  # (3,) drift velocity (m/s)
    verts: np.ndarray  # (T, V, 3) the labelled person's vertices as rendered
    pool: np.ndarray  # (T, P, 3) its pool points
    pose: np.ndarray  # (T, 72) its pose, root re-expressed in the camera frame
    transl: np.ndarray  # (T, 3): body(pose, betas).vertices + transl = verts


@dataclass
class _Scene:
    """Stage 4: everything drawn besides the labelled person's geometry (world frame)."""

    static: list[_Plane]  # the wall, and the floor if any
    occluders: list[_Plane]  # drifting flat shapes (vertices (T, N, 3))
    floor: bool
    background: str  # kind of the wall's texture
    appearance: dict  # the labelled person's :class:`MeshDraw` appearance keywords
    verts2: Optional[np.ndarray]  # (T, V, 3) the background person, placed; None = none
    appearance2: Optional[dict]
    light_dir: np.ndarray  # (3,) unit vector towards the light
    light: dict  # the other :class:`Lighting` fields (colour, ambient, diffuse)


@dataclass
class _Frames:
    """Stage 5: the rendered crops (S × S pixels)."""

    rgb: np.ndarray  # (T, S, S, 3) uint8, pixel noise included
    flow: np.ndarray  # (T, 2, S, S) float16 backward flow (crop pixels); flow[0] = 0
    mask: np.ndarray  # (T, S, S) uint8: the labelled person is the visible surface
    depth: np.ndarray  # (T, S, S) float32 camera depth (m), 0 = empty
    face: np.ndarray  # (T, S, S) int32 face id + 1, 0 = empty
    body_face0: int  # the ``face`` value of the labelled body's face 0


class SyntheticGenerator:
    """Makes clips. ``clip(index)`` → dict of numpy arrays (see the module docstring)."""

    def __init__(
        self,
        seed: int = 0,
        config: Optional[SyntheticConfig] = None,
        body: Optional[BodyModel] = None,
        motion_source: Optional[MotionSource] = None,
    ) -> None:
        self.seed = int(seed)
        self.cfg = config or SyntheticConfig()
        self.body = body or BodyModel.open()
        self.motion_source = motion_source
        self.library_source = self._library_source() if motion_source is None else None
        if self.cfg.num_betas > self.body.num_betas:
            raise ValueError(f"num_betas={self.cfg.num_betas} but the body model has {self.body.num_betas}")
        b = self.body
        self.faces = b.faces.numpy().astype(np.int32)
        self.nv = b.num_vertices
        self.normals = VertexNormals(self.faces, self.nv)
        with torch.no_grad():
            rest = b()
        v_rest = rest.vertices[0].double().numpy()
        pool = _pool_names(b)
        pts = np.concatenate([rest.joints[0].double().numpy(), rest.landmarks[0].double().numpy()])
        self.pool_index = {n: i for i, n in enumerate(pool)}
        self.set_index = {k: np.array([self.pool_index[n] for n in JOINT_SETS[k]]) for k in KP_SETS}
        from scipy.spatial import cKDTree

        reg = b.landmark_regressor
        k = max(int((reg != 0).sum(1).max()), 1) if len(reg) else 1
        order = torch.argsort((reg != 0).float(), dim=1, descending=True, stable=True)[:, :k]
        self._lm_idx = order  # (L, K) vertex indices of each landmark's non-zero weights (padded)
        self._lm_w = torch.gather(reg, 1, order)  # (L, K), zero on the padding

        inside, _ = cKDTree(v_rest).query(pts)
        self.pool_tol = 0.03 + inside  # (P,)
        #: (P,) surface points (on the rest mesh: ``vertex/*``, the face/feet/thumb ``mp/*``,
        #: ``extra/jaw_h36m``) get the stricter visibility rule (module docstring); the others (kinematic
        #: joints and landmarks 0.5–9 cm inside the body) keep the plain one.
        self.pool_surface = inside < SURFACE_DEPTH
        #: (P, F) the body faces within ``SURFACE_RADIUS`` of each surface point in the rest pose: the
        #: only faces its bilinear neighbourhood may show (all False for the other points).
        near_v = np.linalg.norm(v_rest[None] - pts[self.pool_surface, None], axis=-1) < SURFACE_RADIUS  # (Ps, V)
        self.near_faces = np.zeros((len(pts), len(self.faces)), bool)
        self.near_faces[self.pool_surface] = near_v[:, self.faces].any(-1)
        lms = {n: pts[24 + i] for i, n in enumerate(b.landmark_names)}
        self.regions = BodyRegions(b.v_template.double().numpy(), b.weights.numpy(), lms)
        self.renderer = GLRenderer(self.cfg.crop_size)
        #: Back-face culling of the bodies: exact for the closed, consistently wound open body (checked
        #: against unculled renders in the tests); turn off for other topologies with holes.
        self.cull = True

    # -- helpers -----------------------------------------------------------------------------------
    def pose_person(self, pose: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One person in the world frame, without translation: pose (T, 72), betas (B,) →
        vertices (T, V, 3) and pool points (T, 24 + L, 3) (joints ++ landmarks), float64.

        The same maths as ``BodyModel.forward`` (``training.body.lbs``), arranged for one shape over
        many frames: the shape blend and joint regression run once, skinning is one matrix product
        (the tests check it against ``BodyModel.forward``).
        """
        b = self.body
        t_ = len(pose)
        with torch.no_grad():
            beta = torch.as_tensor(betas, dtype=torch.float32)[None]
            v_shaped = lbs.shape_blend(b.v_template, b.shapedirs, beta)  # (1, V, 3)
            rest_joints = lbs.regress_joints(b.j_regressor, v_shaped).expand(t_, -1, -1)
            rot = axis_angle_to_matrix(torch.as_tensor(pose, dtype=torch.float32).reshape(t_, 24, 3))
            v_rest = v_shaped.expand(t_, -1, -1)
            if b.posedirs is not None:
                v_rest = v_rest + lbs.pose_blend(rot, b.posedirs)
            joints, transforms = lbs.chain_transforms(rot, rest_joints, b.parents)
            a = (b.weights @ transforms[..., :3, :].reshape(t_, 24, 12)).reshape(t_, -1, 3, 4)
            verts = (a[..., :3] @ v_rest[..., None])[..., 0] + a[..., 3]
            landmarks = (verts[:, self._lm_idx] * self._lm_w[None, :, :, None]).sum(2)  # sparse regressor
        pool = torch.cat([joints, landmarks], 1)
        return verts.double().numpy(), pool.double().numpy()

    def _library_source(self) -> Optional[MotionSource]:
        if self.cfg.motion == "procedural":
            return None
        if self.cfg.motion != "library":
            raise ValueError(f"SyntheticConfig.motion must be 'library' or 'procedural', got {self.cfg.motion!r}")
        from .motion_library import load_motion_library

        return load_motion_library().motion_source(self.cfg.motion_split, part_mix=self.cfg.part_mix)

    def _motion(self, rng: np.random.Generator, labelled: bool):
        t = self.cfg.seq_len
        if labelled and self.motion_source is not None:
            pose, transl = as_motion(self.motion_source(rng, t, self.cfg.fps), t)
            return pose, transl, "source", transl is None
        if labelled and self.library_source is not None and rng.random() >= self.cfg.p_procedural:
            pose, transl = as_motion(self.library_source(rng, t, self.cfg.fps), t)
            return pose, transl, "mocap", False
        if labelled and self.cfg.p_keyframed > 0 and rng.random() < self.cfg.p_keyframed:
            pose, transl, act = keyframed_motion(rng, t, self.cfg.fps)
            return pose, transl, act, True  # grounded per frame with the clip's own shape
        pose, transl, act = procedural_motion(rng, t, self.cfg.fps)
        return pose, transl, act, True

    # -- one clip ----------------------------------------------------------------------------------
    def clip(self, index: int, buffers: bool = False) -> dict[str, Any]:
        """Clip ``index`` as numpy arrays; ``buffers=True`` adds the rendered ``depth`` (T, S, S) and
        ``face`` (T, S, S) buffers (face id + 1 over the scene, 0 = empty) and ``body_face0`` (the
        ``face`` value of the labelled body's face 0) for checks."""
        rng = np.random.default_rng([self.seed, int(index)])
        # The stages draw from ``rng`` in this order: reordering any draw changes every clip of a seed.
        people = self._people(rng)
        cam = self._camera(rng, people)
        boxes, proj = self._crop(rng, cam)
        scene = self._scene(rng, people, cam, proj)
        frames = self._render(rng, cam, proj, scene)
        return self._labels(index, people, cam, boxes, proj, scene, frames, buffers)

    def _people(self, rng: np.random.Generator) -> _People:
        """1. People: the labelled person's shape and motion, on the floor and centred on the origin,
        and sometimes a background person (world frame, metres)."""
        cfg = self.cfg
        T = cfg.seq_len
        betas = np.clip(rng.standard_normal(cfg.num_betas), -cfg.beta_clip, cfg.beta_clip)
        pose_w, transl_w, activity, ground_each = self._motion(rng, True)
        second = rng.random() < cfg.p_second_person
        verts_w, pool_w = self.pose_person(pose_w, betas)
        v2 = transl2 = None
        if second:
            betas2 = np.clip(rng.standard_normal(cfg.num_betas), -cfg.beta_clip, cfg.beta_clip)
            pose2, transl2, _, _ = self._motion(rng, False)
            v2, _ = self.pose_person(pose2, betas2)
            transl2 = np.zeros((T, 3)) if transl2 is None else transl2
        transl_w = np.zeros((T, 3)) if transl_w is None else transl_w.copy()
        transl_w = _ground(verts_w, transl_w, ground_each)
        transl_w[:, [0, 2]] -= transl_w[:, [0, 2]].mean(0)  # person centred on the origin over the clip
        pelvis_w = pool_w[:, 0] + transl_w  # (T, 3)
        return _People(betas=betas, pose=pose_w, transl=transl_w, verts=verts_w, pool=pool_w, pelvis=pelvis_w,
                       centre=pelvis_w.mean(0), activity=activity, verts2=v2, transl2=transl2)

    def _camera(self, rng: np.random.Generator, people: _People) -> _Camera:
        """2. Camera: random intrinsics and a slowly drifting, shaking camera aimed near the pelvis, backed
        off until the person is at least ``min_depth`` away; the labelled person in its frames."""
        cfg = self.cfg
        T = cfg.seq_len
        centre = people.centre
        root0 = rotvec_to_matrix(people.pose[0, :3])
        facing = root0 @ np.array([0.0, 0.0, 1.0])
        face_az = math.atan2(facing[0], facing[2])
        if rng.random() < cfg.p_front:
            az = face_az + math.radians(rng.uniform(-60, 60))
        else:
            az = rng.uniform(-math.pi, math.pi)
        dist = rng.uniform(*cfg.distance)
        cam_h = rng.uniform(*cfg.camera_height)
        hfov = math.radians(rng.uniform(*cfg.hfov_deg))
        w_img, h_img = cfg.image_size
        f = (w_img / 2) / math.tan(hfov / 2)
        K = np.array([[f, 0, w_img / 2 - 0.5], [0, f, h_img / 2 - 0.5], [0, 0, 1.0]])
        follow = rng.uniform(0.3, 1.0)
        aim_off = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.4), rng.uniform(-0.3, 0.3)])
        target = centre + follow * (people.pelvis - centre) + aim_off
        tt = np.arange(T) / cfg.fps
        vel = rng.standard_normal(3) * np.array([1, 0.3, 1])
        vel *= rng.uniform(0, cfg.camera_speed) / max(np.linalg.norm(vel), 1e-9)
        shake = 0.01 * rng.uniform(0, 1) * np.sin(2 * np.pi * rng.uniform(0.5, 2.0, 3) * tt[:, None] + rng.uniform(0, 6.3, 3))
        direction = np.array([math.sin(az), 0.0, math.cos(az)])
        for _ in range(4):
            eye = centre * np.array([1, 0, 1]) + dist * direction + np.array([0, cam_h, 0]) + vel * tt[:, None] + shake
            R, t = look_at(eye, target)
            vc = np.einsum("tij,tvj->tvi", R, people.verts + people.transl[:, None]) + t[:, None]
            if vc[..., 2].min() >= cfg.min_depth:
                break
            dist *= 1.5
        j0 = people.pool[0, 0]  # rest pelvis location (the root joint does not move with pose)
        transl_c = np.einsum("tij,tj->ti", R, j0 + people.transl) + t - j0  # body(pose_c) + transl_c = rendered
        pool_c = np.einsum("tij,tpj->tpi", R, people.pool + people.transl[:, None]) + t[:, None]
        root_c = matrix_to_rotvec(R @ rotvec_to_matrix(people.pose[:, :3]))
        pose_c = people.pose.copy()
        pose_c[:, :3] = root_c
        return _Camera(K=K, R=R, t=t, eye=eye, az=az, direction=direction, dist=dist, vel=vel,
                       verts=vc, pool=pool_c, pose=pose_c, transl=transl_c)

    def _crop(self, rng: np.random.Generator, cam: _Camera) -> tuple[np.ndarray, np.ndarray]:
        """3. Crop: VIBE's jittered, smoothed square box around the projected body → boxes (T, 3) =
        (cx, cy, side) in image pixels and crop projections (T, 4) = (ax, bx, ay, by) (:mod:`.geometry`)."""
        cfg = self.cfg
        T = cfg.seq_len
        pix = project_image(cam.verts, cam.K)
        jit = None
        if cfg.crop_jitter > 0:
            jit = rng.standard_normal((T, 3)) * np.array([cfg.crop_jitter, cfg.crop_jitter, cfg.crop_jitter * 1.5])
        boxes = crop_boxes(pix, cfg.crop_scale, cfg.crop_smooth, jit)
        return boxes, crop_projection(cam.K, boxes)

    def _scene(self, rng: np.random.Generator, people: _People, cam: _Camera, proj: np.ndarray) -> _Scene:
        """4. Scene (world frame): a textured wall behind the person covering every frame's crop (``proj``
        (T, 4)), often a floor, sometimes occluders and the background person, the light, the appearances."""
        cfg = self.cfg
        T = cfg.seq_len
        centre, pelvis_w, v2, transl2 = people.centre, people.pelvis, people.verts2, people.transl2
        R, t, eye, dist, vel = cam.R, cam.t, cam.eye, cam.dist, cam.vel
        second = v2 is not None
        tt = np.arange(T) / cfg.fps
        meshes_static: list[_Plane] = []
        n_wall = -cam.direction  # from the person towards the wall (away from the camera)
        wall_gap = rng.uniform(1.0, 6.0)
        tangent = np.cross(np.array([0.0, 1.0, 0.0]), n_wall)
        tangent /= np.linalg.norm(tangent)
        second_off = None
        if second:
            behind = rng.uniform(0.3, 3.0)
            side = rng.uniform(0.6, 1.6) * rng.choice([-1, 1]) if behind < 0.8 else rng.uniform(-1.6, 1.6)
            second_off = behind * n_wall + side * tangent
            wall_gap = max(wall_gap, behind + 1.2)
        wall_point = centre * np.array([1, 0, 1]) + wall_gap * n_wall
        # the wall's visible region: crop-corner rays of every frame hit the plane
        corners = np.array([[-1.15, -1.15], [1.15, -1.15], [1.15, 1.15], [-1.15, 1.15]])
        rays_c = np.stack(
            [(corners[None, :, 0] - proj[:, None, 1]) / proj[:, None, 0], (corners[None, :, 1] - proj[:, None, 3]) / proj[:, None, 2],
             np.ones((T, 4))], -1
        )  # (T, 4, 3) camera-frame directions
        rays_w = np.einsum("tji,tkj->tki", R, rays_c)  # R^T d
        origin = eye[:, None, :]
        denom = rays_w @ n_wall
        lam = ((wall_point - origin) @ n_wall) / np.where(np.abs(denom) < 1e-6, 1e-6, denom)
        lam = np.where(lam > 0, lam, 1e3)
        hits = origin + lam[..., None] * rays_w
        u = (hits - wall_point) @ tangent
        vv = hits[..., 1]
        u0, u1 = u.min() - 0.5, u.max() + 0.5
        v0, v1 = vv.min() - 0.5, vv.max() + 0.5
        ext = max(u1 - u0, v1 - v0)
        wall_tex, bg_kind = background_texture(rng, cfg.texture_size, cfg.use_video_backgrounds)
        quad_uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
        wall_verts = np.array([wall_point + (u0 + a * (u1 - u0)) * tangent + np.array([0, v0 + b * (v1 - v0), 0]) for a, b in quad_uv])
        wall_uv = np.stack([(quad_uv[:, 0] * (u1 - u0)) / ext, 1 - (quad_uv[:, 1] * (v1 - v0)) / ext], -1)
        quad_faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
        tint = rng.uniform(0.85, 1.1, 3)
        meshes_static.append(("wall", wall_verts, quad_faces, -n_wall, dict(c1=tint[None], uv=wall_uv, texture=wall_tex)))
        has_floor = rng.random() < cfg.p_floor
        if has_floor:
            tile = rng.uniform(0.6, 2.5)
            # floor: from the wall to behind the camera, as wide as the wall's visible span
            w_far = wall_gap
            w_near = -(dist + 2.0 + np.linalg.norm(vel) * tt[-1])
            uu0, uu1 = min(u0, -dist * 2), max(u1, dist * 2)
            fl = []
            for a, b in quad_uv:
                p = centre * np.array([1, 0, 1]) + (uu0 + a * (uu1 - uu0)) * tangent + (w_near + b * (w_far - w_near)) * n_wall
                fl.append(p)
            fl = np.array(fl)
            fl[:, 1] = -0.002
            floor_uv = np.stack([fl[:, 0] / tile, fl[:, 2] / tile], -1)
            meshes_static.append(("floor", fl, quad_faces, np.array([0.0, 1.0, 0.0]),
                                  dict(c1=rng.uniform(0.8, 1.05, (1, 3)), uv=floor_uv, texture=floor_texture(rng), texture_repeat=True)))

        # occluders (flat shapes facing the first camera, drifting sideways)
        occluders: list[_Plane] = []
        if rng.random() < cfg.p_occluder:
            z_root = (R[0] @ pelvis_w[0] + t[0])[2]
            for k in range(int(rng.integers(1, 3))):
                xn, yn = rng.uniform(-0.65, 0.65, 2)
                z_occ = z_root * rng.uniform(0.35, 0.8)
                size_n = rng.uniform(0.25, 0.7)
                half = size_n / 2 * z_occ / proj[0, 0]
                centre_c = np.array([(xn - proj[0, 1]) / proj[0, 0] * z_occ, (yn - proj[0, 3]) / proj[0, 2] * z_occ, z_occ])
                ex, ey = R[0, 0], R[0, 1]  # camera-0 axes in the world
                centre_o = R[0].T @ (centre_c - t[0])
                shape = int(rng.integers(4))
                if shape == 0:  # rectangle
                    aspect = rng.uniform(0.4, 2.5)
                    loc = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array([half * aspect ** 0.5, half / aspect ** 0.5])
                    fcs = quad_faces
                elif shape == 1:  # pole
                    loc = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array([half * 0.15, half * 4])
                    fcs = quad_faces
                elif shape == 2:  # ellipse
                    n_seg = 24
                    ang = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)
                    ab = np.array([half * rng.uniform(0.6, 1.4), half * rng.uniform(0.6, 1.4)])
                    loc = np.concatenate([[[0, 0]], np.stack([np.cos(ang), np.sin(ang)], -1) * ab])
                    fcs = np.array([[0, 1 + i, 1 + (i + 1) % n_seg] for i in range(n_seg)], np.int32)
                else:  # triangle
                    loc = rng.uniform(-1, 1, (3, 2)) * half * 1.5
                    fcs = np.array([[0, 1, 2]], np.int32)
                rot = rng.uniform(0, np.pi)
                cr, sr = math.cos(rot), math.sin(rot)
                loc = loc @ np.array([[cr, sr], [-sr, cr]])
                base = centre_o + loc[:, :1] * ex + loc[:, 1:] * ey  # (N, 3)
                drift = (rng.uniform(-0.5, 0.5) * ex + rng.uniform(-0.15, 0.15) * ey)
                vw = base[None] + drift * tt[:, None, None]
                c1 = _rand_colour(rng)[None]
                c2 = _rand_colour(rng)[None]
                style = np.array([[float(rng.integers(0, 5)), rng.uniform(3, 15), rng.uniform(0, 3.1), 0.2]])
                pat = np.concatenate([loc, np.zeros((len(loc), 1))], 1)
                occluders.append((f"occ{k}", vw, fcs, -R[0, 2], dict(c1=c1, c2=c2, style=style, pat=pat)))

        # second person in the world
        v2w = app2 = None
        if second:
            tr2 = _ground(v2, transl2, True)
            tr2[:, [0, 2]] += centre[[0, 2]] + second_off[[0, 2]] - tr2[:, [0, 2]].mean(0)
            v2w = v2 + tr2[:, None]
            app2 = body_appearance(rng, self.regions)

        # light (world), shared by all frames
        light_az = cam.az + math.radians(rng.uniform(-75, 75))
        light_el = math.radians(rng.uniform(15, 70))
        light_w = np.array([math.sin(light_az) * math.cos(light_el), math.sin(light_el), math.cos(light_az) * math.cos(light_el)])
        light = dict(
            colour=np.clip(rng.uniform(0.85, 1.15, 3) * rng.uniform(0.85, 1.2), 0.5, 1.4),
            ambient=rng.uniform(0.3, 0.6),
            diffuse=rng.uniform(0.35, 0.8),
        )
        app = body_appearance(rng, self.regions)
        return _Scene(static=meshes_static, occluders=occluders, floor=bool(has_floor), background=bg_kind, appearance=app,
                      verts2=v2w, appearance2=app2, light_dir=light_w, light=light)

    def _render(self, rng: np.random.Generator, cam: _Camera, proj: np.ndarray, scene: _Scene) -> _Frames:
        """5. Render every frame into the crop (``proj`` (T, 4)), with the backward flow, mask and
        buffers; then sometimes Gaussian pixel noise."""
        cfg = self.cfg
        T, S = cfg.seq_len, cfg.crop_size
        R, t, vc = cam.R, cam.t, cam.verts
        planes = scene.static + scene.occluders
        r = self.renderer
        r._ensure()
        r.reset_cache()
        rgb = np.zeros((T, S, S, 3), np.uint8)
        flow = np.zeros((T, 2, S, S), np.float16)
        mask = np.zeros((T, S, S), np.uint8)
        depth = np.zeros((T, S, S), np.float32)
        faces = np.zeros((T, S, S), np.int32)
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)

        def to_cam(x: np.ndarray, i: int) -> np.ndarray:
            return x @ R[i].T + t[i]

        def plane_world(v: np.ndarray, i: int) -> np.ndarray:
            return v if v.ndim == 2 else v[i]

        for i in range(T):
            ip = max(i - 1, 0)
            meshes = []
            for name, vw, fcs, nrm, kw in planes:
                pos = to_cam(plane_world(vw, i), i)
                prv = to_cam(plane_world(vw, ip), ip)
                meshes.append(MeshDraw(pos=pos, prev=prv, normal=np.tile(R[i] @ nrm, (len(pos), 1)), faces=fcs,
                                       obj_id=3 if name.startswith("occ") else 4, key=name, **kw))
            meshes.append(MeshDraw(pos=vc[i], prev=vc[ip], normal=self.normals(vc[i]), faces=self.faces, obj_id=1, key="body",
                                   cull=self.cull, **scene.appearance))
            if scene.verts2 is not None:
                p2 = to_cam(scene.verts2[i], i)
                meshes.append(MeshDraw(pos=p2, prev=to_cam(scene.verts2[ip], ip), normal=self.normals(p2), faces=self.faces, obj_id=2,
                                       key="body2", cull=self.cull, **scene.appearance2))
            lt = Lighting(direction=R[i] @ scene.light_dir, **scene.light)
            out = r.render(meshes, proj[i], proj[ip], lt)
            rgb[i] = out.rgb
            mask[i] = out.obj == 1
            depth[i] = out.depth
            faces[i] = out.face
            if i > 0:
                drawn = out.obj > 0
                fx = np.where(drawn, norm_to_pixel(out.prev[..., 0], S) - xx, 0.0)
                fy = np.where(drawn, norm_to_pixel(out.prev[..., 1], S) - yy, 0.0)
                flow[i, 0], flow[i, 1] = fx, fy
        r.reset_cache()
        body_face0 = 1 + sum(len(m[2]) for m in planes)  # face buffer id of the body's face 0

        noise = rng.uniform(0, cfg.pixel_noise) if rng.random() < 0.5 else 0.0
        if noise > 0:
            rgb = np.clip(rgb.astype(np.float32) + rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(noise), 0, 255)
            rgb = np.round(rgb).astype(np.uint8)
        return _Frames(rgb=rgb, flow=flow, mask=mask, depth=depth, face=faces, body_face0=body_face0)

    def _labels(self, index: int, people: _People, cam: _Camera, boxes: np.ndarray, proj: np.ndarray, scene: _Scene,
                frames: _Frames, buffers: bool) -> dict[str, Any]:
        """6. Labels: the clip's dict (module docstring): frames, camera-frame SMPL parameters, 2D keypoints
        with visibility (from the depth buffer), 3D keypoints, weak-perspective camera, geometry, meta."""
        cfg = self.cfg
        T, S = cfg.seq_len, cfg.crop_size
        pool_c, transl_c = cam.pool, cam.transl
        depth = frames.depth
        xy = project_crop(pool_c, proj)  # (T, P, 2)
        px = np.round(norm_to_pixel(xy, S)).astype(np.int64)
        inside = (xy > -1).all(-1) & (xy < 1).all(-1)
        pxc = np.clip(px, 0, S - 1)
        d_buf = depth[np.arange(T)[:, None], pxc[..., 1], pxc[..., 0]]
        d_buf = np.where(d_buf > 0, d_buf, np.inf)
        vis = inside & (pool_c[..., 2] <= d_buf + self.pool_tol[None])
        surf = self.pool_surface
        vis[:, surf] &= self._clean_neighbourhood(np.flatnonzero(surf), norm_to_pixel(xy[:, surf], S), pool_c[:, surf, 2],
                                                  frames.mask, depth, frames.face, frames.body_face0, frames.flow)
        pool_model = pool_c - transl_c[:, None]
        out: dict[str, Any] = {
            "rgb": frames.rgb,
            "flow": frames.flow,
            "mask": frames.mask,
            "pose": cam.pose.astype(np.float32),
            "betas": np.repeat(people.betas[None], T, 0).astype(np.float32),
            "transl": transl_c.astype(np.float32),
        }
        for name in KP_SETS:
            idx = self.set_index[name]
            out[f"kp2d_{name}"] = np.concatenate([xy[:, idx], vis[:, idx, None]], -1).astype(np.float32)
        out["kp3d"] = pool_model[:, self.set_index["spin49"]].astype(np.float32)
        out["cam"] = fit_weak_perspective(pool_model[:, :24], xy[:, :24]).astype(np.float32)
        out["K"] = cam.K.astype(np.float32)
        out["R"] = cam.R.astype(np.float32)
        out["t"] = cam.t.astype(np.float32)
        out["bbox"] = boxes.astype(np.float32)
        out["crop_K"] = crop_intrinsics(proj, S).astype(np.float32)
        out["crop_proj"] = proj.astype(np.float64)
        out["meta"] = {
            "index": int(index), "seed": self.seed, "activity": people.activity, "background": scene.background,
            "floor": scene.floor, "second_person": people.verts2 is not None, "occluders": len(scene.occluders),
        }
        if buffers:
            out["depth"], out["face"], out["body_face0"] = depth, frames.face, frames.body_face0
        return out

    def _clean_neighbourhood(self, j: np.ndarray, p: np.ndarray, z: np.ndarray, mask: np.ndarray, depth: np.ndarray,
                             face: np.ndarray, face0: int, flow: np.ndarray) -> np.ndarray:
        """(T, J) bool: the 2×2 bilinear neighbourhood of pool points ``j`` (J,) at crop pixels ``p``
        (T, J, 2) lies in the crop and each of its 4 pixels shows the labelled person (``mask``) at a
        depth within the point's ``pool_tol`` of its depth ``z`` (T, J), on a body face near the point
        (``near_faces``; ``face`` (T, S, S) is the face buffer, ``face0`` the body's first id), and the
        4 flow vectors agree within ``SURFACE_FLOW_SPREAD`` px (one coherent motion)."""
        t_, s_ = mask.shape[0], mask.shape[-1]
        ok = (p >= 0).all(-1) & (p < s_ - 1).all(-1)
        x0 = np.clip(np.floor(p[..., 0]).astype(np.int64), 0, s_ - 2)
        y0 = np.clip(np.floor(p[..., 1]).astype(np.int64), 0, s_ - 2)
        ti = np.arange(t_)[:, None]
        tol = self.pool_tol[j][None]
        near = self.near_faces[j]  # (J, F)
        jj = np.arange(len(j))[None]
        lo = np.full((t_, len(j), 2), np.inf, np.float32)
        hi = np.full((t_, len(j), 2), -np.inf, np.float32)
        for dy in (0, 1):
            for dx in (0, 1):
                yy, xx = y0 + dy, x0 + dx
                ok &= mask[ti, yy, xx] > 0
                ok &= np.abs(depth[ti, yy, xx] - z) < tol
                ok &= near[jj, np.clip(face[ti, yy, xx] - face0, 0, near.shape[1] - 1)]
                f = np.stack([flow[ti, 0, yy, xx], flow[ti, 1, yy, xx]], -1).astype(np.float32)
                lo, hi = np.minimum(lo, f), np.maximum(hi, f)
        return ok & ((hi - lo) <= SURFACE_FLOW_SPREAD).all(-1)

    def debug_geometry(self, index: int) -> dict[str, np.ndarray]:
        """The camera-space vertices (T, V, 3) of the labelled person of clip ``index`` (for tests).

        Re-runs the clip; vertices = body(pose, betas).vertices + transl from the clip's labels.
        """
        c = self.clip(index, buffers=True)
        with torch.no_grad():
            o = self.body(pose=torch.as_tensor(c["pose"]).reshape(-1, 24, 3), betas=torch.as_tensor(c["betas"]))
        return {"clip": c, "vertices": o.vertices.double().numpy() + c["transl"][:, None].astype(np.float64)}


def _rand_colour(rng: np.random.Generator) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 0.9), rng.uniform(0.15, 0.95)))
