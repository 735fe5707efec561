"""The body fitted to MediaPipe-style world landmarks (training.fitting): recovers known poses and shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.body import BodyModel
from training.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from training.fitting import PosePrior, fit_landmarks
from training.metrics import pa_mpjpe


@pytest.fixture(scope="module")
def body() -> BodyModel:
    return BodyModel.open()


def _targets(body: BodyModel, poses: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The body's own mp/* landmarks and joints, hip-centred, in y-down z-away axes (MediaPipe's world)."""
    flip = axis_angle_to_matrix(torch.tensor([np.pi, 0.0, 0.0]))
    poses = poses.copy()
    poses[:, :3] = matrix_to_axis_angle(flip @ axis_angle_to_matrix(torch.as_tensor(poses[:, :3]))).numpy()
    with torch.no_grad():
        out = body(torch.as_tensor(poses), torch.as_tensor(betas)[None].expand(len(poses), -1))
        lms = torch.cat([out.joints, out.landmarks], 1)[:, body.joint_set_indices("mediapipe33")]
        centre = lms[:, [23, 24]].mean(1, keepdim=True)
    return (lms - centre).numpy(), (out.joints - centre).numpy()


def test_recovers_library_poses_facing_either_way(body):
    from training.synthetic.motion_library import load_motion_library

    clips = load_motion_library().clips("test")
    poses = np.stack([clips[k].pose[len(clips[k].pose) // 2] for k in range(0, 12, 2)]).reshape(-1, 72).astype(np.float32)
    turn = axis_angle_to_matrix(torch.tensor([0.0, np.pi, 0.0]))  # every other body turned away from the camera
    poses[::2, :3] = matrix_to_axis_angle(turn @ axis_angle_to_matrix(torch.as_tensor(poses[::2, :3]))).numpy()
    betas = np.random.default_rng(0).normal(0, 1, 10).astype(np.float32)
    target, joints = _targets(body, poses, betas)
    fit = fit_landmarks(target, body=body, prior=PosePrior.from_motion_library())
    # measured: 5–6 mm landmark residual, 7–8 mm PA-MPJPE; a wrong axis convention or a start facing the wrong
    # way leaves 10 cm or more
    assert fit.residual.mean() < 0.025 and fit.residual.max() < 0.06
    pa = pa_mpjpe(torch.as_tensor(fit.joints), torch.as_tensor(joints))
    assert float(pa.mean()) < 0.03
    assert fit.pose.shape == (len(poses), 72) and fit.landmarks.shape == (len(poses), 33, 3)


def test_visibility_weights_ignore_what_is_not_seen(body):
    poses = np.zeros((2, 72), np.float32)
    target, _ = _targets(body, poses, np.zeros(10, np.float32))
    broken = target.copy()
    broken[:, 15:23] += 0.5  # a wrist and hand half a metre off, but marked invisible
    vis = np.ones((2, 33), np.float32)
    vis[:, 15:23] = 0.0
    fit = fit_landmarks(broken, vis, body=body, iters=150)
    assert fit.residual.max() < 0.02  # the visible landmarks are fitted as if nothing were wrong


def test_landmark_body_equals_the_full_forward(body):
    from training.fitting import LandmarkBody

    rng = np.random.default_rng(3)
    pose = torch.as_tensor(rng.normal(0, 0.3, (3, 72)).astype(np.float32))
    betas = torch.as_tensor(rng.normal(0, 1, 10).astype(np.float32))
    rot = axis_angle_to_matrix(pose.reshape(3, 24, 3))
    sparse = LandmarkBody(body)
    lms, joints = sparse(rot, betas)
    out = body(rot, betas[None].expand(3, -1))
    full = torch.cat([out.joints, out.landmarks], 1)[:, body.joint_set_indices("mediapipe33")]
    assert len(sparse.support) < body.num_vertices / 5  # only the landmarks' vertices are skinned
    torch.testing.assert_close(lms, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(joints, out.joints, atol=1e-5, rtol=1e-5)
