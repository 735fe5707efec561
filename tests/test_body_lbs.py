"""The body model's forward pass against independent references (smplx's lbs, scipy rotations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from conftest import make_body_data
from training.body import BodyModel
from training.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_matrix

smplx_lbs = pytest.importorskip("smplx.lbs", reason="smplx (test-only dependency) is not installed")


def reference_forward(body: BodyModel, data, pose_aa: torch.Tensor, betas: torch.Tensor):
    """smplx.lbs.lbs on the same arrays: the independent implementation of linear blend skinning."""
    v = data.num_vertices
    posedirs = (
        torch.as_tensor(data.posedirs.reshape(v * 3, -1).T.copy())
        if data.posedirs is not None
        else torch.zeros(207, v * 3)
    )
    verts, joints = smplx_lbs.lbs(
        betas.double(),
        pose_aa.reshape(pose_aa.shape[0], -1).double(),
        torch.as_tensor(data.v_template).double(),
        torch.as_tensor(data.shapedirs[..., : betas.shape[1]]).double(),
        posedirs.double(),
        torch.as_tensor(data.j_regressor).double(),
        torch.as_tensor(data.parents.astype(np.int64)),
        torch.as_tensor(data.weights).double(),
        pose2rot=True,
    )
    return verts, joints


@pytest.mark.parametrize("with_posedirs", [True, False])
@pytest.mark.parametrize("batch", [1, 7])
def test_forward_matches_smplx_lbs(with_posedirs: bool, batch: int) -> None:
    data = make_body_data(with_posedirs=with_posedirs, seed=batch)
    body = BodyModel(data).double()
    gen = torch.Generator().manual_seed(batch)
    pose = (torch.rand(batch, 24, 3, generator=gen) - 0.5) * 2.0  # up to ~1.7 rad per joint
    betas = torch.randn(batch, 10, generator=gen) * 2.0
    transl = torch.randn(batch, 3, generator=gen)
    out = body(pose=pose, betas=betas, transl=transl)
    ref_v, ref_j = reference_forward(body, data, pose, betas)
    assert out.vertices.shape == (batch, data.num_vertices, 3)
    torch.testing.assert_close(out.vertices, ref_v + transl[:, None], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints, ref_j + transl[:, None], atol=1e-5, rtol=0)


@pytest.mark.parametrize("with_posedirs", [True, False])
def test_joints_only_pass_gives_the_same_joints_and_landmarks(with_posedirs: bool) -> None:
    """``vertices=False`` (the landmark fit's first pass) poses only the vertices the regressors read."""
    bodies = [BodyModel(make_body_data(with_posedirs=with_posedirs, seed=3)).double()]
    if not with_posedirs:
        bodies.append(BodyModel.open().double())  # sparse regressors: a real subset of the mesh
    gen = torch.Generator().manual_seed(5)
    pose = (torch.rand(3, 24, 3, generator=gen, dtype=torch.float64) - 0.5) * 2.0
    betas = torch.randn(3, 10, generator=gen, dtype=torch.float64)
    transl = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    for body in bodies:
        full = body(pose=pose, betas=betas, transl=transl)
        part = body(pose=pose, betas=betas, transl=transl, vertices=False)
        assert part.vertices is None
        torch.testing.assert_close(part.joints, full.joints, atol=1e-9, rtol=0)
        torch.testing.assert_close(part.landmarks, full.landmarks, atol=1e-9, rtol=0)
        if body.has_joint_set("spin49"):
            torch.testing.assert_close(body.joint_set(part, "spin49"), body.joint_set(full, "spin49"), atol=1e-9, rtol=0)


def test_float32_forward_matches_reference_to_1e5(body_data) -> None:
    body = BodyModel(body_data)
    pose = (torch.rand(16, 24, 3) - 0.5) * 2.0
    betas = torch.randn(16, 10)
    out = body(pose=pose, betas=betas)
    ref_v, _ = reference_forward(body, body_data, pose, betas)
    assert (out.vertices.double() - ref_v).abs().max().item() < 1e-5


def test_pose_layouts_agree(body_data) -> None:
    body = BodyModel(body_data).double()
    aa = (torch.rand(3, 24, 3, dtype=torch.float64) - 0.5) * 2.0
    mats = axis_angle_to_matrix(aa)
    outs = [
        body(pose=aa).vertices,
        body(pose=aa.reshape(3, 72)).vertices,
        body(pose=matrix_to_rot6d(mats)).vertices,
        body(pose=matrix_to_rot6d(mats).reshape(3, 144)).vertices,
        body(pose=mats).vertices,
    ]
    for other in outs[1:]:
        torch.testing.assert_close(other, outs[0], atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="expected"):
        body(pose=torch.zeros(3, 23, 3, dtype=torch.float64))


def test_rest_pose_regresses_template_joints(body_data) -> None:
    body = BodyModel(body_data)
    out = body()
    torch.testing.assert_close(out.vertices[0], torch.as_tensor(body_data.v_template), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        out.joints[0], torch.as_tensor(body_data.j_regressor @ body_data.v_template), atol=1e-5, rtol=0
    )


def test_forward_is_differentiable(body_data) -> None:
    body = BodyModel(body_data)
    pose = torch.zeros(2, 24, 6)
    pose[..., 0] = 1.0
    pose[..., 4] = 1.0
    pose = (pose + 0.1 * torch.randn_like(pose)).requires_grad_()
    betas = torch.zeros(2, 10, requires_grad=True)
    out = body(pose=pose, betas=betas)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    assert pose.grad is not None and torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    assert betas.grad is not None and betas.grad.abs().sum() > 0


def test_rotations_against_scipy(rng) -> None:
    rotvecs = rng.normal(size=(500, 3)) * 1.5
    rotvecs[:5] = 0.0  # identity
    rotvecs[5:10] *= 1e-9  # near zero
    ref = Rotation.from_rotvec(rotvecs).as_matrix()
    mats = axis_angle_to_matrix(torch.as_tensor(rotvecs))
    np.testing.assert_allclose(mats.numpy(), ref, atol=1e-10)
    # matrix -> axis-angle round trip (angles folded into [0, pi] by scipy as well)
    back = matrix_to_axis_angle(torch.as_tensor(ref)).numpy()
    np.testing.assert_allclose(back, Rotation.from_matrix(ref).as_rotvec(), atol=1e-7)
    # 6D keeps the matrix; Gram-Schmidt repairs a perturbed 6D into a proper rotation
    six = matrix_to_rot6d(torch.as_tensor(ref))
    np.testing.assert_allclose(rot6d_to_matrix(six).numpy(), ref, atol=1e-10)
    noisy = rot6d_to_matrix(six + 0.05 * torch.randn_like(six))
    eye = torch.eye(3, dtype=noisy.dtype).expand_as(noisy)
    torch.testing.assert_close(noisy @ noisy.transpose(-1, -2), eye, atol=1e-10, rtol=0)
    assert torch.allclose(torch.linalg.det(noisy), torch.ones(500, dtype=noisy.dtype))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(body_data) -> None:
    body = BodyModel(body_data)
    pose, betas = torch.randn(4, 24, 3) * 0.5, torch.randn(4, 10)
    cpu = body(pose=pose, betas=betas).vertices
    gpu = body.to("cuda")(pose=pose.cuda(), betas=betas.cuda()).vertices.cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=0)
