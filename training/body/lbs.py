"""Linear blend skinning for SMPL-format bodies, one function per step.

Shapes: ``B`` batch, ``V`` vertices, ``J`` joints (24), ``S`` shape coefficients, ``P = 9·(J−1)``
pose-corrective inputs. All functions are differentiable and device-agnostic.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

__all__ = ["shape_blend", "regress_joints", "pose_blend", "chain_transforms", "skin", "lbs"]


def shape_blend(v_template: torch.Tensor, shapedirs: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Rest mesh of each body shape.

    v_template (V, 3), shapedirs (V, 3, S'), betas (B, S) with S ≤ S' → (B, V, 3).
    """
    s = betas.shape[-1]
    v = v_template.shape[0]
    if s < shapedirs.shape[-1]:  # (a plain ``if``: an exported graph slices nothing when all components are used)
        shapedirs = shapedirs[..., :s]
    return v_template + (betas @ shapedirs.reshape(v * 3, s).T).reshape(-1, v, 3)


def regress_joints(regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Linear combinations of vertices: regressor (K, V), vertices (B, V, 3) → (B, K, 3)."""
    return regressor @ vertices  # a matrix product: ONNX Runtime runs it far faster than the einsum


def pose_blend(rotmats: torch.Tensor, posedirs: torch.Tensor) -> torch.Tensor:
    """Pose-corrective offsets from the non-root rotations.

    rotmats (B, J, 3, 3), posedirs (P, V·3) → (B, V, 3), with P = 9·(J−1) in SMPL's layout.
    """
    b = rotmats.shape[0]
    eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
    features = (rotmats[:, 1:] - eye).reshape(b, -1)
    return (features @ posedirs).reshape(b, -1, 3)


def chain_transforms(
    rotmats: torch.Tensor, rest_joints: torch.Tensor, parents: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose the kinematic tree.

    rotmats (B, J, 3, 3) local rotations (each in its parent's frame), rest_joints (B, J, 3),
    parents (J,) with ``parents[0] == -1`` and every parent listed before its children.

    Returns ``(posed_joints (B, J, 3), skinning (B, J, 4, 4))`` where ``skinning[j]`` maps a rest
    point rigidly attached to joint j to its posed position (the world transform with the rest
    joint location removed).
    """
    b, j = rotmats.shape[:2]
    offsets = rest_joints.clone()
    parent_idx = torch.as_tensor(list(parents[1:]), device=rest_joints.device)
    offsets[:, 1:] = rest_joints[:, 1:] - rest_joints[:, parent_idx]
    local = torch.zeros(b, j, 4, 4, dtype=rotmats.dtype, device=rotmats.device)
    local[..., :3, :3] = rotmats
    local[..., :3, 3] = offsets
    local[..., 3, 3] = 1.0

    world = [local[:, 0]]
    for i in range(1, j):
        world.append(world[parents[i]] @ local[:, i])
    world_t = torch.stack(world, dim=1)  # (B, J, 4, 4)

    posed_joints = world_t[..., :3, 3]
    rest_h = (world_t[..., :3, :3] @ rest_joints[..., None])[..., 0]
    skinning = world_t.clone()
    skinning[..., :3, 3] = posed_joints - rest_h
    return posed_joints, skinning


def skin(vertices: torch.Tensor, weights: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Blend the joint transforms per vertex: vertices (B, V, 3), weights (V, J), transforms (B, J, 4, 4) → (B, V, 3).

    Laid out entry by entry — each of the blended 3×4 transforms' 12 entries one row over the vertices — so that
    every step is one matrix product or an elementwise operation on rows of ``V`` numbers: in the exported graph
    ONNX Runtime took far longer over einsums, or products and sums over axes of 3 and 4 (with the rest joints and
    landmarks of ``BodyModel.forward`` no longer regressed from the whole mesh, the embedded default's temporal step
    went from 12.6 to 9.5 ms for one person, 14.8 to 9.1 ms for three: ``tools/bench_engines.py --bundles``)."""
    b, j = transforms.shape[:2]
    rows = (transforms[..., :3, :].reshape(b, j, 12).transpose(1, 2) @ weights.T).reshape(b, 3, 4, -1)  # (B, 3, 4, V)
    x = vertices.transpose(1, 2)  # (B, 3, V)
    posed = rows[:, :, 0] * x[:, None, 0] + rows[:, :, 1] * x[:, None, 1] + rows[:, :, 2] * x[:, None, 2] + rows[:, :, 3]
    return posed.transpose(1, 2)


def lbs(
    betas: torch.Tensor,
    rotmats: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    j_regressor: torch.Tensor,
    parents: Sequence[int],
    weights: torch.Tensor,
    posedirs: Optional[torch.Tensor] = None,
    rest_joints: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole forward: betas (B, S), rotmats (B, J, 3, 3) → (vertices (B, V, 3), joints (B, J, 3)).
    ``rest_joints (B, J, 3)``: the shaped body's rest joints where the caller has them (else regressed here)."""
    v_shaped = shape_blend(v_template, shapedirs, betas)
    if rest_joints is None:
        rest_joints = regress_joints(j_regressor, v_shaped)
    v_rest = v_shaped if posedirs is None else v_shaped + pose_blend(rotmats, posedirs)
    joints, transforms = chain_transforms(rotmats, rest_joints, parents)
    return skin(v_rest, weights, transforms), joints
