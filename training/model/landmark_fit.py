"""Keep BlazePose's 2D evidence: place the body on the landmarks and turn its limbs onto them.

The network's body is a good guess of the 3D pose, but on real people it is more conservative than
the image: arms not quite as far out, a knee not quite as high. BlazePose, the frozen V-CNN, sees
the limbs in 2D well on real people and renders alike. This step, without parameters, runs after the
regressor on every frame (``landmark_fit.enabled`` in the model config) and changes the result in two
closed-form ways, weighting each landmark by BlazePose's visibility:

1. **Placement.** The weak-perspective camera ``(s, tx, ty)`` is re-fitted by least squares so that the
   body's 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) project onto BlazePose's,
   the torso's at twice the weight of the limbs'. Too few visible landmarks, or a scale more than ×2
   from the network's: the network's camera stays.
2. **Limbs.** Upper arm, forearm, thigh and shin in turn (parent bone first), each bone is turned so
   that it projects along BlazePose's 2D bone: its image-plane part follows the landmarks, its length
   stays the body's, and its depth is what that length leaves (never quite none: ``DEPTH_FLOOR``), on the
   side of the camera the network put it (the network resolves the depth ambiguity; the image the rest). ``strength`` blends
   between the network's bone (0) and that one (1). The turn is the smallest rotation, applied to the
   joint's rotation, so the twist, the hands and the feet come along.

Then the body is posed again and the camera re-fitted once more. Everything is batched tensor algebra
(it runs inside the exported ``temporal_step`` graph, and gradients pass).
"""

from __future__ import annotations

import torch

__all__ = ["BONES", "LIMB_JOINTS", "fit_camera", "fit_limbs", "landmark_weights"]

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
#: Visibility below this counts as unseen; weights ramp to 1 by VISIBLE_FULL.
VISIBLE_FROM, VISIBLE_FULL = 0.5, 0.75
#: A bone the network puts within about this depth (m) of the image plane keeps little depth: which side
#: of the plane it lies on is not known, and a hard choice would flip with the slightest change.
SIDE_SOFTNESS = 0.01
#: Depth kept by a bone the landmarks show at full length (× its length): a bone at 99 % of its length in
#: the image has 14 % of it in depth, at 100 % none, so the slightest landmark noise near full stretch would
#: swing it in depth; with this floor a bone is never quite flat (its image at most 0.5 % short).
DEPTH_FLOOR = 0.1
#: Fewer (weighted) landmarks than this: keep the network's camera.
MIN_WEIGHT = 3.0


def landmark_weights(landmarks: torch.Tensor) -> torch.Tensor:
    """BlazePose features ``(M, 33, 9)`` (``training.blazepose_input``) → per-landmark weights ``(M, 33)``
    in ``[0, 1]`` from the visibility, 0 on frames where BlazePose found nobody (score 0)."""
    vis = landmarks[..., 3]
    found = (landmarks[..., 0, 8] > 0).to(vis.dtype)[:, None]
    return ((vis - VISIBLE_FROM) / (VISIBLE_FULL - VISIBLE_FROM)).clamp(0, 1) * found


def fit_camera(joints: torch.Tensor, landmarks: torch.Tensor, weights: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Weak-perspective camera ``(M, 3)`` that best puts ``joints49 (M, 49, 3)`` on the landmarks' x, y
    (weighted least squares over the limb joints); ``cam`` where the fit is not trustworthy."""
    ours = joints[:, [j for j, _ in LIMB_JOINTS], :2]
    theirs = landmarks[:, [m for _, m in LIMB_JOINTS], :2]
    w = weights[:, [m for _, m in LIMB_JOINTS]].clone()
    w[:, list(_TORSO)] *= TORSO_WEIGHT
    total = w.sum(1, keepdim=True)
    safe = total.clamp(min=1e-6)
    mean_o = (w[..., None] * ours).sum(1) / safe
    mean_t = (w[..., None] * theirs).sum(1) / safe
    a, b = ours - mean_o[:, None], theirs - mean_t[:, None]
    s = (w * (a * b).sum(-1)).sum(1) / (w * (a * a).sum(-1)).sum(1).clamp(min=1e-9)
    ratio = s / cam[:, 0].clamp(min=1e-6)
    ok = (total[:, 0] >= MIN_WEIGHT) & (ratio > 0.5) & (ratio < 2.0)
    s_safe = torch.where(ok, s, torch.ones_like(s))
    fitted = torch.cat([s_safe[:, None], mean_t / s_safe[:, None] - mean_o], 1)
    return torch.where(ok[:, None], fitted, cam)


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


def fit_limbs(rotmat: torch.Tensor, joints: torch.Tensor, parents: tuple[int, ...], landmarks: torch.Tensor,
              weights: torch.Tensor, scale: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Local rotations ``(M, 24, 3, 3)`` with the limbs turned onto BlazePose's 2D bones (module docstring).

    ``joints (M, 24, 3)``: the posed SMPL joints of ``rotmat``; ``scale (M,)``: the camera's ``s`` (crop units
    per metre); ``parents``: the kinematic tree."""
    globals_ = [rotmat[:, 0]]
    for j in range(1, rotmat.shape[1]):
        globals_.append(globals_[parents[j]] @ rotmat[:, j])
    pos = {j: joints[:, j] for j in range(joints.shape[1])}
    s = scale.clamp(min=1e-6)[:, None]
    for joint, child, grandchild, lm_joint, lm_child in BONES:
        bone = pos[child] - pos[joint]
        length = bone.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        d = (landmarks[:, lm_child, :2] - landmarks[:, lm_joint, :2]) / s  # the 2D bone in metres
        dl = d.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        xy = d * torch.clamp(length / dl, max=1.0)
        side = torch.tanh(bone[:, 2:] / SIDE_SOFTNESS)  # the network's side of the image plane, ±1 (smoothly)
        z = side * ((length ** 2 - (xy ** 2).sum(-1, keepdim=True)).clamp(min=0) + (DEPTH_FLOOR * length) ** 2).sqrt()
        w = strength * torch.minimum(weights[:, lm_joint], weights[:, lm_child])[:, None]
        now = bone / length
        want = torch.nn.functional.normalize((1 - w) * now + w * torch.cat([xy, z], -1) / length, dim=-1)
        turn = _turn(now, want)
        globals_[joint] = turn @ globals_[joint]
        globals_[child] = turn @ globals_[child]
        pos[child] = pos[joint] + (turn @ bone[..., None])[..., 0]
        if grandchild >= 0:
            pos[grandchild] = pos[joint] + (turn @ (pos[grandchild] - pos[joint])[..., None])[..., 0]
    out = rotmat.clone()
    for joint, child, *_ in BONES:
        out[:, joint] = globals_[parents[joint]].transpose(-1, -2) @ globals_[joint]
    return out
