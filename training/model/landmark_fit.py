"""Keep BlazePose's 2D evidence: place the body on the landmarks and turn its limbs onto them.

The network's body is a good guess of the 3D pose, but on real people it is more conservative than
the image: arms not quite as far out, a knee not quite as high. BlazePose, the frozen V-CNN, sees
the limbs in 2D well on real people and renders alike. This step, without parameters, runs after the
regressor on every frame (``landmark_fit.enabled`` in the model config) and changes the result in three
closed-form steps, weighting each landmark by BlazePose's visibility:

1. **Placement.** The weak-perspective camera ``(s, tx, ty)`` is re-fitted by least squares so that the
   body's 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) project onto BlazePose's,
   the torso's at twice the weight of the limbs'. With few visible landmarks (``MIN_WEIGHT``), or a scale
   more than ×4 from the network's (``MAX_SCALE_CHANGE``; in close-ups the network's scale is often ×2–3
   off), the network's scale stays (blended, not switched) and only the body's centre moves onto theirs.
2. **Torso** (``landmark_fit.torso``). The whole body is turned about the pelvis: about the view axis, so that
   the hips-to-shoulders line leans in the image as BlazePose's does (leaning sideways, bent over seen from
   the side; how far it leans towards the camera is not read from the image: BlazePose's hips and the body's
   hip joints are not the same points, and a torso length taken from the image would tilt upright people), then
   about that line so that the shoulder and hip lines project as BlazePose's do (turning the back or a
   side to the camera): the smallest such twist, searched on a grid of angles, so where the image cannot
   tell (a side view) the network's facing stays. With ``world_depth``, between the two, the torso's lean towards
   or away from the camera moves towards BlazePose's world torso's as a limb's depth does (step 3), about the
   horizontal axis of the image, so the lean in the image stays. Lean and twist are repeated once (``TORSO_PASSES``).
3. **Limbs and head.** An arm or leg whose middle landmark (elbow, knee) lies outside the frame is first turned
   whole at the shoulder or hip, its bend kept, so that its end (wrist, ankle) projects where BlazePose's does
   (``LIMBS``). Then upper arm, forearm, thigh and shin in turn (parent bone first), each bone is turned so
   that it projects along BlazePose's 2D bone: its image-plane part follows the landmarks, its length
   stays the body's, and its depth is what that length leaves (never quite none: ``DEPTH_FLOOR``), on the
   side of the camera the network put it (the network resolves the depth ambiguity; the image the rest). ``strength`` blends
   between the network's bone (0) and that one (1). The turn is the smallest rotation, applied to the
   joint's rotation, so the twist, the hands and the feet come along. With ``world_depth`` the upper arms',
   forearms', thighs' and shins' depth then moves towards BlazePose's world landmarks' (``WORLD_DEPTH_BONES``), and a
   bone of an arm whose end lies outside the frame takes the world bone's direction (``UNSEEN_WORLD``); a thigh or
   shin whose end lies outside the frame hangs straight down the image (``UNSEEN_DOWN``), and so do both legs where the
   shoulders are seen and no knee or ankle is (a desk in front: ``LOWER_LEGS``). With ``world_direction`` each of these
   bones' whole direction then moves that far (times the landmarks' weight) towards BlazePose's world bone, the world
   landmarks first turned about the view axis onto the image landmarks (:func:`world_onto_image`: they come in the
   axes of BlazePose's region, which turns with the torso): the image landmarks and the world landmarks are two
   estimates of the same bone that err differently (on the held-out renders the world bones alone do as well as the
   2D fit, a blend of the two better than either; training/checkpoints/README.md). A landmark without weight gives
   the world bone none, so a frame where BlazePose saw nothing (``atan2(0, 0)``: NaN in ONNX Runtime) keeps the 2D
   fit's bone. Last,
   the neck turns about the view axis so that the head leans, in the image, as BlazePose's ears do over its
   shoulders; the head turns about the view axis until its ears' line lies as BlazePose's, and nods until its nose
   sits where BlazePose's does from the ears, in the image (``FACE``; the network, trained on renders, holds real
   people's heads lower than they do; nothing here assumes the image's up is the person's: a camera on its side).

Then the body is posed again and the camera re-fitted once more. Everything is batched tensor algebra
(it runs inside the exported ``temporal_step`` graph, and gradients pass).
"""

from __future__ import annotations

from typing import Optional

import torch

from ..blazepose_input import CHANNELS

__all__ = ["BONES", "FACE", "LIMB_JOINTS", "face_in_head_frame", "fit_camera", "fit_limbs", "fit_torso", "global_rotations",
           "landmark_weights", "world_onto_image"]

#: The 12 limb joints: indices into the ``spin49`` joints and the matching BlazePose landmarks
#: (r/l shoulder, elbow, wrist, r/l hip, knee, ankle).
LIMB_JOINTS = ((2, 12), (3, 14), (4, 16), (5, 11), (6, 13), (7, 15), (9, 24), (10, 26), (11, 28), (12, 23), (13, 25), (14, 27))
#: Torso joints among them (shoulders, hips) get this weight, limbs 1.
TORSO_WEIGHT = 2.0
_TORSO = (0, 3, 6, 9)
#: Bones turned onto the landmarks, parent bones first: (rotating SMPL joint, its child SMPL joint,
#: grandchild or -1, BlazePose landmark at the joint, at the child).
BONES = (
    (16, 18, 20, 11, 13), (18, 20, -1, 13, 15),  # left upper arm, forearm
    (17, 19, 21, 12, 14), (19, 21, -1, 14, 16),  # right
    (1, 4, 7, 23, 25), (4, 7, -1, 25, 27),  # left thigh, shin
    (2, 5, 8, 24, 26), (5, 8, -1, 26, 28),  # right
)
#: Whole limbs, turned before their bones (shoulder → wrist, hip → ankle) where the middle landmark lies outside
#: the frame (BlazePose's presence; a hand raised from below the frame: the elbow out of view, the wrist in it, so
#: neither arm bone has both ends seen). Not where it is only hidden (presence high, visibility low): on the held-out
#: renders BlazePose's ends of occluded limbs of lying people are worse than the network's guess.
#: (rotating SMPL joint, middle joint, end joint, BlazePose landmarks at the three).
LIMBS = ((16, 18, 20, 11, 13, 15), (17, 19, 21, 12, 14, 16), (1, 4, 7, 23, 25, 27), (2, 5, 8, 24, 26, 28))
#: The torso's points: SMPL (left, right) shoulder and hip joints and the matching BlazePose landmarks.
TORSO_SMPL, TORSO_LANDMARKS = ((16, 17), (1, 2)), ((11, 12), (23, 24))
#: Twist angles tried about the torso line: a coarse grid over the full turn, then a fine one about its best.
TWIST_COARSE, TWIST_FINE = 72, 11
#: A twist of φ costs TWIST_PRIOR · (1 − cos φ) · |line|² on top of the image error: where the image
#: cannot tell facing (sideways, or one line unseen) the network's wins; a clear view overrules it (a
#: weight of 1 would already stop short of a clearly seen 70° turn: see the torso test).
TWIST_PRIOR = 0.25
#: Lean, then twist, repeated: each changes what the other sees.
TORSO_PASSES = 2
#: The head, turned after the limbs: the neck joint turns so that the head joint sits, seen from the camera, where
#: BlazePose's ears' mid-point sits from its shoulders' mid-point: (neck joint, head joint, SMPL shoulders,
#: BlazePose shoulders, BlazePose ears).
HEAD = (12, 15, (16, 17), (11, 12), (7, 8))
#: The face, last: the head joint turns about the view axis so that its ears' line lies as BlazePose's, then about
#: that line (the nod) so that the nose sits, in the image, where BlazePose's does from its ears. The body's points:
#: ``spin49`` nose, right ear, left ear; BlazePose's: the same.
FACE = ((0, 17, 18), (0, 8, 7))
#: BlazePose puts its nose this much lower under its ears (metres, down the face in the image) than the body's own
#: nose and ear points sit: measured on the held-out renders against the true bodies (median 1.2 cm for frontal
#: faces, 2–4 cm turned further; one-off check, 2026-11-27).
NOSE_DROP = 0.015
#: The face's turns fade out as it turns sideways: full from this share of the ears' distance seen in the image,
#: none at the lower bound (a profile, where the ears' line and the nose's place are read least well).
FRONTAL_FROM, FRONTAL_FULL = 0.3, 0.7
#: The nods the head may take, radians: half-degree steps up to 70° either way (a wild landmark never stands the
#: face on end).
NOD_ANGLES = torch.deg2rad(torch.arange(-140, 141) * 0.5)
#: The world landmarks' channels in BlazePose's features (``training.blazepose_input``): metres, hip-centred,
#: on the camera's axes, z away from the camera as the body's joints here.
WORLD = slice(CHANNELS.index("world_x"), CHANNELS.index("world_z") + 1)
#: BlazePose's presence channel: how likely the landmark lies inside the frame (visibility: also not hidden).
PRESENCE = CHANNELS.index("presence")
#: The bones whose depth moves towards BlazePose's world landmarks' (``world_depth``), by their rotating joint:
#: upper arms, forearms, thighs, shins. BlazePose's thigh depth alone is wrong for seated people (on the
#: held-out renders a mean depth-fraction error of 0.28, the network's 0.10), but with the torso's lean also
#: moving towards the world torso's the blend no longer stands a seated body up (training/checkpoints/README.md).
WORLD_DEPTH_BONES = (16, 18, 17, 19, 1, 2, 4, 5)
#: Depth fractions this far apart (of the bone's length; 2 = opposite) are not blended at all; closer ones the
#: more, the closer.
DEPTH_DISAGREEMENT = 2.0
#: The most a bone's length in the image may change (a fraction of it) when its depth moves towards the world's.
IMAGE_LENGTH_CHANGE = 0.1
#: An upper arm or forearm whose end lies outside the frame (BlazePose's presence) has no 2D evidence: with
#: ``world_depth`` on, it turns this far (its whole direction, not only its depth) onto BlazePose's world bone —
#: the guess of a network trained on real people, where the network's was learned from renders (a close-up's
#: hands below the frame). Not the legs: in close-ups BlazePose puts unseen knees above the hips.
UNSEEN_WORLD = 1.0
UNSEEN_WORLD_BONES = (16, 18, 17, 19)
#: A thigh or shin whose end lies outside the frame and is not seen (a desk webcam's frame cut at the waist or
#: the thighs) hangs straight down the image instead: the network learned its legs from whole bodies, and
#: with no evidence it often guessed a knee raised in front of the hips — a knee drawn inside the frame where
#: BlazePose says there is none. Down is the guess the frame agrees with (the knee stays below its edge).
#: So do both legs when the shoulders are seen and neither knee nor ankle is (``LOWER_LEGS``: a desk or a counter
#: in front of the person; BlazePose then often calls the knees present, its guess of them behind the board). On
#: the held-out renders no knee or ankle is seen on 5 of 1,521 frames.
UNSEEN_DOWN = 1.0
UNSEEN_DOWN_BONES = (1, 4, 2, 5)
LOWER_LEGS = (25, 26, 27, 28)
#: … counted hidden from the highest of their visibilities below HIDDEN_FROM, fully below HIDDEN_FULL: stricter than
#: a landmark's own weight (VISIBLE_FROM … VISIBLE_FULL), which the renders' lying and seated people's legs often
#: fall into (held-out PA-MPJPE 80.8 → 81.2 with that ramp, see training/checkpoints/README.md).
HIDDEN_FROM, HIDDEN_FULL = 0.5, 0.35
#: Visibility below this counts as unseen; weights ramp to 1 by VISIBLE_FULL.
VISIBLE_FROM, VISIBLE_FULL = 0.5, 0.75
#: A bone the network puts within about this depth (m) of the image plane keeps little depth: which side
#: of the plane it lies on is not known, and a hard choice would flip with the slightest change.
SIDE_SOFTNESS = 0.01
#: Depth kept by a bone the landmarks show at full length (× its length): a bone at 99 % of its length in
#: the image has 14 % of it in depth, at 100 % none, so the slightest landmark noise near full stretch would
#: swing it in depth; with this floor a bone is never quite flat (its image at most 0.5 % short).
DEPTH_FLOOR = 0.1
#: The fitted scale is trusted fully from this much (weighted) landmark evidence, not at all below half of it
#: (between, a geometric blend with the network's), and never when it is more than this factor from the
#: network's (in close-ups the network's scale is often 2–3× off; a tighter bound keeps its camera there and
#: the body then misses BlazePose's shoulders). The translation follows the landmarks from half of MIN_WEIGHT
#: on, fading out below: no hard switch, which would make the body jump between two placements frame after
#: frame when a small person's few landmarks hover about the visibility line.
MIN_WEIGHT = 3.0
MAX_SCALE_CHANGE = 4.0


def landmark_weights(landmarks: torch.Tensor) -> torch.Tensor:
    """BlazePose features ``(M, 33, 9)`` (``training.blazepose_input``) → per-landmark weights ``(M, 33)``
    in ``[0, 1]`` from the visibility, 0 on frames where BlazePose found nobody (score 0)."""
    vis = landmarks[..., 3]
    found = (landmarks[..., 0, 8] > 0).to(vis.dtype)[:, None]
    return ((vis - VISIBLE_FROM) / (VISIBLE_FULL - VISIBLE_FROM)).clamp(0, 1) * found


def fit_camera(joints: torch.Tensor, landmarks: torch.Tensor, weights: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Weak-perspective camera ``(M, 3)`` that best puts ``joints49 (M, 49, 3)`` on the landmarks' x, y
    (weighted least squares over the limb joints), blended with the network's ``cam`` as far as the evidence
    falls short (:data:`MIN_WEIGHT`, :data:`MAX_SCALE_CHANGE`): with the scale kept, the body's centre still goes
    onto the landmarks' (weighted centroids)."""
    ours = joints[:, [j for j, _ in LIMB_JOINTS], :2]
    theirs = landmarks[:, [m for _, m in LIMB_JOINTS], :2]
    w = weights[:, [m for _, m in LIMB_JOINTS]].clone()
    w[:, list(_TORSO)] *= TORSO_WEIGHT
    total = w.sum(1)
    safe = total.clamp(min=1e-6)[:, None]
    mean_o = (w[..., None] * ours).sum(1) / safe
    mean_t = (w[..., None] * theirs).sum(1) / safe
    a, b = ours - mean_o[:, None], theirs - mean_t[:, None]
    s = (w * (a * b).sum(-1)).sum(1) / (w * (a * a).sum(-1)).sum(1).clamp(min=1e-9)
    s_net = cam[:, 0].clamp(min=1e-6)
    ratio = s / s_net
    in_bounds = (ratio > 1 / MAX_SCALE_CHANGE) & (ratio < MAX_SCALE_CHANGE)
    half = MIN_WEIGHT / 2
    trust = torch.where(in_bounds, ((total - half) / half).clamp(0, 1), torch.zeros_like(total))
    scale = s_net * torch.exp(trust * torch.log(torch.where(in_bounds, ratio, torch.ones_like(ratio))))
    follow = (total / half).clamp(0, 1)[:, None]
    shift = follow * (mean_t / scale[:, None] - mean_o) + (1 - follow) * cam[:, 1:]
    return torch.cat([scale[:, None], shift], 1)


def _turn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The smallest rotation ``(M, 3, 3)`` taking unit vectors ``a`` to ``b`` ``(M, 3)`` (Rodrigues about their
    common normal: always a proper rotation, even for opposite vectors, where the normal is ill-defined)."""
    cross = torch.cross(a, b, dim=-1)
    sin = cross.norm(dim=-1)
    cos = (a * b).sum(-1)
    angle = torch.atan2(sin, cos)
    k = cross / sin.clamp(min=1e-8)[:, None]
    zero = torch.zeros_like(sin)
    kx = torch.stack([zero, -k[:, 2], k[:, 1], k[:, 2], zero, -k[:, 0], -k[:, 1], k[:, 0], zero], -1).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(kx)
    return eye + torch.sin(angle)[:, None, None] * kx + (1 - torch.cos(angle))[:, None, None] * (kx @ kx)


def _toward(bone: torch.Tensor, d: torch.Tensor, weight: torch.Tensor, world: Optional[torch.Tensor] = None,
            world_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Unit direction for a 3D ``bone (M, 3)`` whose image should run along the 2D ``d (M, 2)`` (metres):
    its image-plane part along ``d``, its length kept, its depth on the network's side, blended by
    ``weight (M, 1)`` between the bone's own direction (0) and that one (1). With BlazePose's ``world (M, 3)``
    bone, the depth fraction (the direction's z) then moves by up to ``world_weight (M, 1)`` towards the world
    bone's (less the more they disagree: :data:`DEPTH_DISAGREEMENT`), the image-plane part keeping its direction
    and shrinking or growing to stay a unit vector."""
    length = bone.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    dl = d.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    xy = d * torch.clamp(length / dl, max=1.0)
    side = torch.tanh(bone[:, 2:] / SIDE_SOFTNESS)  # the network's side of the image plane, ±1 (smoothly)
    z = side * ((length ** 2 - (xy ** 2).sum(-1, keepdim=True)).clamp(min=0) + (DEPTH_FLOOR * length) ** 2).sqrt()
    out = torch.nn.functional.normalize((1 - weight) * bone / length + weight * torch.cat([xy, z], -1) / length, dim=-1)
    if world is None or world_weight is None:
        return out
    return _world_depth(out, world, world_weight)


def _world_depth(out: torch.Tensor, world: torch.Tensor, world_weight: torch.Tensor) -> torch.Tensor:
    """The unit direction ``out (M, 3)`` with its depth fraction moved by up to ``world_weight (M, 1)`` towards the
    world direction ``world (M, 3)``'s (see :func:`_toward`)."""
    wz = world[:, 2:] / world.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    # Where the two disagree by much (one puts the bone towards the camera, the other away) their mean would
    # lay it flat in the image plane, which neither says: the blend fades out with the disagreement.
    blend = world_weight * (1 - (out[:, 2:] - wz).abs() / DEPTH_DISAGREEMENT).clamp(min=0)
    fz = (1 - blend) * out[:, 2:] + blend * wz
    # The image keeps the last word: the bone's length in the image changes by at most IMAGE_LENGTH_CHANGE.
    was = out[:, :2].norm(dim=-1, keepdim=True)
    image = torch.minimum(torch.maximum((1 - fz ** 2).clamp(min=0).sqrt(), was * (1 - IMAGE_LENGTH_CHANGE)),
                          (was * (1 + IMAGE_LENGTH_CHANGE)).clamp(max=1.0))
    fz = torch.where(fz < 0, -1.0, 1.0) * (1 - image ** 2).clamp(min=0).sqrt()
    plane = out[:, :2] / was.clamp(min=1e-6)
    return torch.nn.functional.normalize(torch.cat([plane * image, fz], -1), dim=-1)


def _about(axis: torch.Tensor, angle: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``v (M, K, 3)`` turned by ``angle (M, A)`` about the unit ``axis (M, 3)`` → ``(M, A, K, 3)`` (Rodrigues)."""
    u = axis[:, None, None, :]
    v = v[:, None]
    c, s = torch.cos(angle)[..., None, None], torch.sin(angle)[..., None, None]
    return v * c + torch.cross(u.expand_as(v), v, dim=-1) * s + u * (u * v).sum(-1, keepdim=True) * (1 - c)


def _axis_angle_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation ``(M, 3, 3)`` by ``angle (M,)`` about the unit ``axis (M, 3)``."""
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device).expand(axis.shape[0], 3, 3)
    return _about(axis, angle[:, None], eye.transpose(-1, -2))[:, 0].transpose(-1, -2)


def _roll(v: torch.Tensor, d: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The rotation ``(M, 3, 3)`` about the view axis that turns the image of ``v (M, 3)`` towards the 2D
    direction ``d (M, 2)``, by ``weight (M,)`` of the angle between them: the image-plane tilt follows, the
    depth stays."""
    sin, cos = v[:, 0] * d[:, 1] - v[:, 1] * d[:, 0], (v[:, :2] * d).sum(-1)
    none = (sin.abs() + cos.abs()) < 1e-12  # no direction (no landmarks): atan2(0, 0) is NaN in ONNX Runtime
    angle = torch.where(none, torch.zeros_like(sin), weight * torch.atan2(sin, torch.where(none, torch.ones_like(cos), cos)))
    view_axis = torch.zeros_like(v)
    view_axis[:, 2] = 1.0
    return _axis_angle_matrix(view_axis, angle)


def _twist_cost(angle: torch.Tensor, axis: torch.Tensor, lines: torch.Tensor, want: torch.Tensor, weight: torch.Tensor,
                prior: torch.Tensor) -> torch.Tensor:
    """Cost ``(M, A)`` of twisting the body's ``lines (M, K, 3)`` by each ``angle (M, A)`` about ``axis (M, 3)``: the
    weighted squared distance of their images to the landmarks' 2D ``want (M, K, 2)``, plus ``prior · (1 − cos)``."""
    image = _about(axis, angle, lines)[..., :2]  # (M, A, K, 2): the lines' images at each angle
    return (weight[:, None] * ((image - want[:, None]) ** 2).sum(-1)).sum(-1) + prior * (1 - torch.cos(angle))


def fit_torso(rotmat: torch.Tensor, joints: torch.Tensor, landmarks: torch.Tensor, weights: torch.Tensor,
              scale: torch.Tensor, strength: float = 1.0, world_depth: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The body turned about its pelvis onto BlazePose's torso (module docstring, step 2) → local rotations
    ``(M, 24, 3, 3)`` (only the root's changes) and the posed SMPL joints ``(M, 24, 3)`` after the turn."""
    s = scale.clamp(min=1e-6)[:, None]
    (ls, rs), (lh, rh) = TORSO_SMPL
    (mls, mrs), (mlh, mrh) = TORSO_LANDMARKS
    w_sho = torch.minimum(weights[:, mls], weights[:, mrs])[:, None]
    w_hip = torch.minimum(weights[:, mlh], weights[:, mrh])[:, None]
    root = joints[:, :1]
    turned = torch.eye(3, dtype=joints.dtype, device=joints.device).expand_as(rotmat[:, 0])
    body_spine = lambda j: (j[:, ls] + j[:, rs] - j[:, lh] - j[:, rh]) / 2  # noqa: E731 hips' → shoulders' mid-point
    seen_spine = lambda x: (x[:, mls] + x[:, mrs] - x[:, mlh] - x[:, mrh]) / 2  # noqa: E731 the same, BlazePose's
    d, world = seen_spine(landmarks[..., :2]) / s, seen_spine(landmarks[..., WORLD])
    for _ in range(TORSO_PASSES):  # lean and twist depend on each other: a second pass settles them
        # Lean: the hips' mid-point → shoulders' mid-point line tilted in the image as BlazePose's.
        lean = _roll(body_spine(joints), d, strength * torch.minimum(w_sho, w_hip)[:, 0])
        joints = root + ((joints - root) @ lean.transpose(-1, -2))
        if world_depth > 0:  # how far it leans towards or away from the camera: towards BlazePose's world torso
            spine = torch.nn.functional.normalize(body_spine(joints), dim=-1)
            pitch = _turn(spine, _world_depth(spine, world, world_depth * strength * torch.minimum(w_sho, w_hip)))
            joints = root + ((joints - root) @ pitch.transpose(-1, -2))
            lean = pitch @ lean

        # Twist about the new spine line: shoulder and hip lines (left → right) onto BlazePose's.
        axis = torch.nn.functional.normalize(body_spine(joints), dim=-1)
        lines = torch.stack([joints[:, rs] - joints[:, ls], joints[:, rh] - joints[:, lh]], 1)  # (M, 2, 3)
        want = torch.stack([landmarks[:, mrs, :2] - landmarks[:, mls, :2], landmarks[:, mrh, :2] - landmarks[:, mlh, :2]], 1) / s[:, None]
        w = torch.cat([w_sho, w_hip], 1)  # (M, 2)
        prior = TWIST_PRIOR * (w * (lines ** 2).sum(-1)).sum(1, keepdim=True).clamp(min=1e-6)

        coarse = torch.linspace(-torch.pi, torch.pi, TWIST_COARSE + 1, dtype=joints.dtype, device=joints.device)[:-1]
        coarse = coarse.expand(joints.shape[0], -1)
        best = coarse.gather(1, _twist_cost(coarse, axis, lines, want, w, prior).argmin(1, keepdim=True))
        step = 2 * torch.pi / TWIST_COARSE
        fine_step = 2 * step / (TWIST_FINE - 1)
        fine = best + torch.linspace(-step, step, TWIST_FINE, dtype=joints.dtype, device=joints.device)[None]
        c = _twist_cost(fine, axis, lines, want, w, prior)
        i = c.argmin(1, keepdim=True).clamp(1, TWIST_FINE - 2)  # then the parabola through it and its neighbours:
        c_lo, c_mid, c_hi = c.gather(1, i - 1), c.gather(1, i), c.gather(1, i + 1)  # no grid steps in the output
        shift = (0.5 * (c_lo - c_hi) / (c_lo - 2 * c_mid + c_hi).clamp(min=1e-12)).clamp(-1, 1)
        angle = strength * (fine.gather(1, i) + shift * fine_step)[:, 0]
        twist = _axis_angle_matrix(axis, angle)
        joints = root + ((joints - root) @ twist.transpose(-1, -2))
        turned = twist @ lean @ turned

    out = rotmat.clone()
    out[:, 0] = turned @ rotmat[:, 0]
    return out, joints


def global_rotations(rotmat: torch.Tensor, parents: tuple[int, ...]) -> list[torch.Tensor]:
    """Each joint's rotation in the camera frame, ``(M, 3, 3)`` per joint, from the local ``rotmat (M, 24, 3, 3)``."""
    out = [rotmat[:, 0]]
    for j in range(1, rotmat.shape[1]):
        out.append(out[parents[j]] @ rotmat[:, j])
    return out


def face_in_head_frame(rotmat: torch.Tensor, joints: torch.Tensor, points49: torch.Tensor,
                       parents: tuple[int, ...]) -> torch.Tensor:
    """The body's nose and ears (``FACE``) in its head joint's frame ``(M, 3, 3)``, from the posed ``joints (M, 24, 3)``
    and ``points49 (M, 49, 3)`` of ``rotmat``: they move with the head, so :func:`fit_limbs` can follow them."""
    head = HEAD[1]
    chain = [head]  # the head joint and its ancestors up to the root: only their rotations are needed
    while parents[chain[-1]] >= 0:
        chain.append(parents[chain[-1]])
    g = rotmat[:, chain[-1]]
    for j in reversed(chain[:-1]):
        g = g @ rotmat[:, j]
    rel = points49[:, list(FACE[0])] - joints[:, head, None]
    return (g.transpose(-1, -2)[:, None] @ rel[..., None])[..., 0]


def _bone_levels(bones: tuple[tuple[int, ...], ...]) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """``bones`` grouped into levels that can be turned together: a bone comes one level after the bone whose
    child is its joint (upper arms and thighs, then forearms and shins). Within a level no bone moves another."""
    level: dict[int, int] = {}
    for joint, child, *_ in bones:
        level[child] = level.get(joint, -1) + 1
    depth = {b: level[b[1]] for b in bones}
    return tuple(tuple(b for b in bones if depth[b] == k) for k in range(max(depth.values()) + 1))


#: :data:`BONES` by level (:func:`_bone_levels`): each level is fitted in one batch (about 4× fewer graph nodes
#: than bone by bone: ONNX Runtime's time per node, not its arithmetic, is what the fit costs on a CPU).
BONE_LEVELS = _bone_levels(BONES)


def _rows(x: torch.Tensor, index: tuple[int, ...]) -> torch.Tensor:
    """``x[:, index]`` as one batch of rows: ``(M, N, …)`` → ``(K·M, …)``, the K picks one after another."""
    return x[:, list(index)].transpose(0, 1).reshape(-1, *x.shape[2:])


def world_onto_image(landmarks: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """BlazePose's world landmarks ``(M, 33, 3)`` turned about the view axis so that their 12 limb landmarks lie in
    the image as its image landmarks do (a weighted 2D Procrustes rotation, ``weights (M, 33)``): the rotation of
    the region they come in, and any lean of theirs the image disagrees with. Depth is unchanged."""
    idx = [m for _, m in LIMB_JOINTS]
    w = weights[:, idx, None]
    total = w.sum(1, keepdim=True).clamp(min=1e-6)
    image, world = landmarks[:, idx, :2], landmarks[:, idx, WORLD][..., :2]
    image = image - (w * image).sum(1, keepdim=True) / total
    world = world - (w * world).sum(1, keepdim=True) / total
    cross = (w[..., 0] * (world[..., 0] * image[..., 1] - world[..., 1] * image[..., 0])).sum(1)
    dot = (w[..., 0] * (world * image).sum(-1)).sum(1)
    angle = torch.atan2(cross, dot)
    c, s = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    x, y, z = landmarks[..., WORLD].unbind(-1)
    return torch.stack([c * x - s * y, s * x + c * y, z], -1)


def fit_limbs(rotmat: torch.Tensor, joints: torch.Tensor, parents: tuple[int, ...], landmarks: torch.Tensor,
              weights: torch.Tensor, scale: torch.Tensor, strength: float = 1.0, world_depth: float = 0.0,
              face: Optional[torch.Tensor] = None, world_direction: float = 0.0) -> torch.Tensor:
    """Local rotations ``(M, 24, 3, 3)`` with the limbs, then the head, turned onto BlazePose's 2D bones
    (module docstring).

    ``joints (M, 24, 3)``: the posed SMPL joints of ``rotmat``; ``scale (M,)``: the camera's ``s`` (crop units
    per metre); ``parents``: the kinematic tree; ``world_depth``: how far each bone's depth moves towards
    BlazePose's world landmarks' (module docstring, step 3); ``face``: :func:`face_in_head_frame` (no nod without);
    ``world_direction``: how far each bone's direction then moves towards BlazePose's world bone (step 3).
    The four limbs are turned in one batch, then each level of bones (:data:`BONE_LEVELS`)."""
    globals_ = global_rotations(rotmat, parents)
    pos = {j: joints[:, j] for j in range(joints.shape[1])}
    s = scale.clamp(min=1e-6)[:, None]
    present = ((landmarks[..., PRESENCE] - VISIBLE_FROM) / (VISIBLE_FULL - VISIBLE_FROM)).clamp(0, 1)
    found = (landmarks[:, :1, 8] > 0).to(landmarks.dtype)  # (M, 1): a frame where BlazePose missed keeps the network's
    # (M, 1): 1 when the shoulders are seen and no knee or ankle is (seeing nothing at all keeps the network's)
    leg_vis = landmarks[:, list(LOWER_LEGS), 3].amax(1, keepdim=True)
    shoulders = weights[:, list(TORSO_LANDMARKS[0])].amin(1, keepdim=True)
    legs_hidden = ((HIDDEN_FROM - leg_vis) / (HIDDEN_FROM - HIDDEN_FULL)).clamp(0, 1) * shoulders
    image, world_lm = landmarks[..., :2], landmarks[..., WORLD]
    world_img = world_onto_image(landmarks, weights) if world_direction > 0 else None
    normalize = torch.nn.functional.normalize

    def stacked(index: tuple[int, ...]) -> torch.Tensor:  # the joints' positions as one batch of rows (K·M, 3)
        return torch.cat([pos[j] for j in index], 0)

    def per_row(values: tuple[float, ...]) -> torch.Tensor:  # one constant per bone → (K·M, 1)
        return torch.tensor(values, dtype=joints.dtype, device=joints.device).repeat_interleave(joints.shape[0])[:, None]

    def turn_rows(turn: torch.Tensor, moved: tuple[int, ...], pivots: tuple[int, ...], turned: tuple[tuple[int, ...], ...]) -> None:
        """Apply each bone's ``turn`` (K·M, 3, 3): ``turned`` joints' global rotations, ``moved`` joints' positions
        about their ``pivots``."""
        k = len(pivots)
        for joint_set in turned:
            new = (turn @ torch.cat([globals_[j] for j in joint_set], 0)).reshape(k, -1, 3, 3).unbind(0)
            for j, g in zip(joint_set, new):
                globals_[j] = g
        pivot = stacked(pivots)
        for moved_set in moved:
            new = (pivot + (turn @ (stacked(moved_set) - pivot)[..., None])[..., 0]).reshape(k, -1, 3).unbind(0)
            for j, p in zip(moved_set, new):
                pos[j] = p

    # The whole limb first, as far as its middle is off-frame.
    joint, mid, end, lm_joint, lm_mid, lm_end = zip(*LIMBS)
    k = len(LIMBS)
    line = stacked(end) - stacked(joint)
    d = (_rows(image, lm_end) - _rows(image, lm_joint)) / s.repeat(k, 1)
    w = strength * torch.minimum(_rows(weights, lm_joint), _rows(weights, lm_end))[:, None] * (1 - _rows(present, lm_mid)[:, None])
    turn = _turn(normalize(line, dim=-1), _toward(line, d, w))
    turn_rows(turn, (mid, end), joint, (joint, mid))

    for level in BONE_LEVELS:
        joint, child, grandchild, lm_joint, lm_child = zip(*level)
        k = len(level)
        bone = stacked(child) - stacked(joint)
        d = (_rows(image, lm_child) - _rows(image, lm_joint)) / s.repeat(k, 1)  # the 2D bones in metres
        w = strength * torch.minimum(_rows(weights, lm_joint), _rows(weights, lm_child))[:, None]
        world = _rows(world_lm, lm_child) - _rows(world_lm, lm_joint)
        depth = per_row(tuple(float(world_depth > 0 and j in WORLD_DEPTH_BONES) for j in joint))
        target = _toward(bone, d, w, world, world_depth * w * depth) if world_depth > 0 else _toward(bone, d, w)
        if world_img is not None:  # towards BlazePose's world bone, turned onto the image
            seen = world_direction * w * found.repeat(k, 1)
            towards = normalize(_rows(world_img, lm_child) - _rows(world_img, lm_joint), dim=-1)
            mixed = (1 - seen) * target + seen * towards
            target = torch.where(mixed.norm(dim=-1, keepdim=True) > 1e-6, normalize(mixed, dim=-1), target)
        # Its end outside the frame: a leg hangs down the image (also behind a desk), an arm takes BlazePose's world bone.
        leg = per_row(tuple(float(j in UNSEEN_DOWN_BONES) for j in joint))
        arm = per_row(tuple(float(world_depth > 0 and j in UNSEEN_WORLD_BONES and j in WORLD_DEPTH_BONES) for j in joint))
        if any(j in UNSEEN_DOWN_BONES or (world_depth > 0 and j in UNSEEN_WORLD_BONES and j in WORLD_DEPTH_BONES) for j in joint):
            lack = 1 - _rows(present, lm_child)[:, None]
            lack = leg * torch.maximum(lack, legs_hidden.repeat(k, 1)) + (1 - leg) * lack
            share = leg * UNSEEN_DOWN + arm * UNSEEN_WORLD
            guess = leg * bone.new_tensor([0.0, 1.0, 0.0]) + (1 - leg) * normalize(world, dim=-1)
            unseen = strength * share * lack * (1 - w) * found.repeat(k, 1)
            mixed = (1 - unseen) * target + unseen * guess
            target = torch.where(mixed.norm(dim=-1, keepdim=True) > 1e-6, normalize(mixed, dim=-1), target)
        turn = _turn(normalize(bone, dim=-1), target)
        has_grandchild = all(g >= 0 for g in grandchild)
        if not has_grandchild and any(g >= 0 for g in grandchild):
            raise ValueError(f"a level of bones mixes bones with and without a grandchild: {level}")
        turn_rows(turn, (child, grandchild) if has_grandchild else (child,), joint, (joint, child))
    neck, head, body_sho, lm_sho, lm_ears = HEAD
    bone = pos[head] - pos[neck]
    offset = pos[neck] - (pos[body_sho[0]] + pos[body_sho[1]]) / 2  # the neck joint from the shoulders' mid-point
    d = (landmarks[:, list(lm_ears), :2].mean(1) - landmarks[:, list(lm_sho), :2].mean(1)) / s - offset[:, :2]
    w = strength * weights[:, list(lm_ears + lm_sho)].amin(1, keepdim=True)
    # Only the head's tilt in the image follows (a turn about the view axis): how far it leans towards or away
    # from the camera stays the network's. From the length in the image, as for the limbs, a body whose
    # neck is a little short for the person would throw its head back.
    turn = _roll(bone, d, w[:, 0])
    globals_[neck] = turn @ globals_[neck]
    turned = [b[0] for b in BONES] + [neck]
    if face is not None:
        globals_[head] = _turn_face(turn @ globals_[head], face, landmarks, weights, s, strength)
        turned.append(head)
    out = rotmat.clone()
    parent_g = torch.stack([globals_[parents[j]] for j in turned], 1)
    out[:, turned] = parent_g.transpose(-1, -2) @ torch.stack([globals_[j] for j in turned], 1)
    return out


def _turn_face(head: torch.Tensor, face: torch.Tensor, landmarks: torch.Tensor, weights: torch.Tensor, s: torch.Tensor,
               strength: float) -> torch.Tensor:
    """The head joint's global rotation ``head (M, 3, 3)`` turned so that its face lies in the image as BlazePose's:
    first about the view axis, its ears' line onto BlazePose's; then about that line (the nod), the one of
    :data:`NOD_ANGLES` that brings the nose's image nearest BlazePose's nose from its ears (less :data:`NOSE_DROP`
    down the face) — in any direction, so a head seen by a camera on its side nods as one seen upright.
    ``face (M, 3, 3)``: the body's nose and ears in the head's frame; ``s (M, 1)``: crop units per metre."""
    nose, ears = face[:, 0], face[:, 1:]
    lm_nose, lm_right, lm_left = FACE[1]
    ear_line = (head @ (ears[:, 1] - ears[:, 0])[..., None])[..., 0]
    frontal = ear_line[:, :2].norm(dim=-1) / ear_line.norm(dim=-1).clamp(min=1e-6)
    w = strength * weights[:, list(FACE[1])].amin(1) * ((frontal - FRONTAL_FROM) / (FRONTAL_FULL - FRONTAL_FROM)).clamp(0, 1)
    lm_ear_line = landmarks[:, lm_left, :2] - landmarks[:, lm_right, :2]
    head = _roll(ear_line, lm_ear_line, w) @ head
    v = (head @ (nose - ears.mean(1))[..., None])[..., 0]  # the nose from the ears' mid-point, camera frame
    ear_line = (head @ (ears[:, 1] - ears[:, 0])[..., None])[..., 0]
    lm_ears = (landmarks[:, lm_right, :2] + landmarks[:, lm_left, :2]) / 2
    across = torch.stack([-lm_ear_line[:, 1], lm_ear_line[:, 0]], -1)  # down the face: across the ears' line,
    neck = landmarks[:, list(HEAD[3]), :2].mean(1) - lm_ears  # towards the shoulders
    across = torch.where((across * neck).sum(-1, keepdim=True) < 0, -across, across)
    image_y = torch.stack([torch.zeros_like(neck[:, 0]), torch.ones_like(neck[:, 0])], -1)
    n = across.norm(dim=-1, keepdim=True)
    down = torch.where(n > 1e-6, across / n.clamp(min=1e-6), image_y)
    want = (landmarks[:, lm_nose, :2] - lm_ears) / s - NOSE_DROP * down
    target = w[:, None] * want + (1 - w[:, None]) * v[:, :2]
    axis = torch.nn.functional.normalize(ear_line, dim=-1)
    angles = NOD_ANGLES.to(v)
    noses = _about(axis, angles.expand(v.shape[0], -1), v[:, None, :])[:, :, 0]  # (M, K, 3): the nose at each turn
    best = ((noses[..., :2] - target[:, None]) ** 2).sum(-1).argmin(-1)
    return _axis_angle_matrix(axis, angles[best]) @ head
