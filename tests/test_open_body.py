"""The embedded open body: a well-formed SMPL-format body that looks and moves like a person."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.body import JOINT_SETS, LANDMARK_NAMES, OPEN_BODY_PATH, SMPL_JOINTS, BodyModel, load_open_body

J = {n: i for i, n in enumerate(SMPL_JOINTS)}


@pytest.fixture(scope="module")
def data():
    return load_open_body()


@pytest.fixture(scope="module")
def body():
    return BodyModel.open()


def test_file_is_small_and_complete(data):
    assert OPEN_BODY_PATH.stat().st_size < 8 * 2**20
    assert 7_000 <= data.num_vertices <= 14_000
    assert data.num_betas >= 10
    assert data.landmark_names == LANDMARK_NAMES
    assert data.posedirs is None
    for name, arr in (("weights", data.weights), ("J_regressor", data.j_regressor), ("landmarks", data.landmark_regressor)):
        assert arr.min() >= 0, name
        np.testing.assert_allclose(arr.sum(-1), 1.0, atol=1e-4, err_msg=name)
    assert "CC0" in str(data.meta.get("sources", data.meta)) or "CC0" in str(data.meta)


def test_rest_pose_follows_smpl_conventions(body):
    out = body()
    v, j = out.vertices[0].numpy(), out.joints[0].numpy()
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.5 < height < 1.95
    assert np.linalg.norm(j[J["pelvis"]]) < 0.3, "pelvis near the origin"
    # Left side at +x, arms stretched out horizontally (T-pose), head on top, feet at the bottom.
    assert j[J["left_wrist"], 0] > 0.5 and j[J["right_wrist"], 0] < -0.5
    assert abs(j[J["left_wrist"], 1] - j[J["left_shoulder"], 1]) < 0.1
    assert j[J["head"], 1] > j[J["neck"], 1] > j[J["spine3"], 1] > j[J["pelvis"], 1] > j[J["left_knee"], 1] > j[J["left_ankle"], 1]
    assert v[:, 1].min() < j[J["left_ankle"], 1] < v[:, 1].min() + 0.15
    # Facing +z: the nose is in front of the head joint; the heels behind the toes.
    lm = dict(zip(LANDMARK_NAMES, out.landmarks[0].numpy()))
    assert lm["vertex/nose"][2] > j[J["head"], 2] + 0.05
    assert lm["vertex/left_big_toe"][2] > lm["vertex/left_heel"][2] + 0.1
    assert lm["vertex/left_eye"][0] > lm["vertex/right_eye"][0]


def test_joints_sit_inside_their_skinned_regions(data):
    """Vertices mostly bound to joint j surround joint j (skinning weights map to the right joints)."""
    joints = data.j_regressor @ data.v_template
    owner = data.weights.argmax(1)
    for j, name in enumerate(SMPL_JOINTS):
        mine = data.v_template[owner == j]
        assert len(mine) > 20, name
        nearest = np.linalg.norm(mine - joints[j], axis=1).min()
        assert nearest < 0.12, f"{name}: its vertices are {nearest:.2f} m away"
        # The bone from j to its children runs through its own region: j's region centroid lies
        # between j and its children (within 35 cm of the joint).
        assert np.linalg.norm(mine.mean(0) - joints[j]) < 0.35, name


def test_shape_components_change_the_body(body):
    betas = torch.zeros(5, body.num_betas)
    betas[1, 0], betas[2, 0], betas[3, 1], betas[4, 1] = -2, 2, -2, 2
    v = body(betas=betas).vertices.numpy()
    heights = v[..., 1].max(1) - v[..., 1].min(1)
    widths = np.ptp(v[..., 2], axis=1)
    change = [np.abs(v[k] - v[0]).max() for k in range(1, 5)]
    assert min(change) > 0.015, change  # each ±2σ moves the surface by centimetres
    assert max(abs(heights[1] - heights[2]), abs(widths[1] - widths[2])) > 0.05
    assert np.all((heights > 1.3) & (heights < 2.2)), heights


def _edge_growth(faces: np.ndarray, rest: np.ndarray, posed: np.ndarray) -> np.ndarray:
    """How much longer each edge got (metres); a torn or exploded face shows as a long edge."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    lr = np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1)
    lp = np.linalg.norm(posed[..., e[:, 0], :] - posed[..., e[:, 1], :], axis=-1)
    return lp - lr


def test_poses_do_not_tear_the_mesh(body):
    """Every joint alone at ±60° about each axis, and random ±30° whole-body poses, keep every edge
    within a few centimetres of its rest length (skinning folds, but nothing tears or explodes).
    A vertex bound to the wrong joint would move tens of centimetres away from its neighbours."""
    rest = body().vertices[0].numpy()
    faces = body.faces.numpy()
    single = []
    for j in range(1, 24):
        for axis in range(3):
            for sign in (-1, 1):
                p = torch.zeros(24, 3)
                p[j, axis] = sign * math.radians(60)
                single.append(p)
    growth = _edge_growth(faces, rest, body(pose=torch.stack(single)).vertices.numpy())
    assert growth.max() < 0.08, f"{growth.max():.3f} m"
    gen = torch.Generator().manual_seed(0)
    pose = (torch.rand(16, 24, 3, generator=gen) - 0.5) * 2 * math.radians(30)
    pose[:, 0] = 0
    growth = _edge_growth(faces, rest, body(pose=pose).vertices.numpy())
    assert growth.max() < 0.10, f"{growth.max():.3f} m"
    assert np.quantile(growth, 0.99) < 0.015  # the folds are local


def test_left_elbow_bends_the_left_forearm_forward(body):
    pose = torch.zeros(1, 24, 3)
    pose[0, J["left_elbow"], 1] = -math.pi / 2  # about +y: the +x forearm swings toward +z
    out, rest = body(pose=pose), body()
    hand = out.joints[0, J["left_wrist"]] - out.joints[0, J["left_elbow"]]
    assert hand[2] > 0.15 and abs(hand[0]) < 0.05
    # right side untouched
    torch.testing.assert_close(out.joints[0, J["right_wrist"]], rest.joints[0, J["right_wrist"]])


def test_every_joint_set_is_available(body):
    out = body(pose=torch.zeros(2, 24, 3))
    for name, names in JOINT_SETS.items():
        assert body.joint_set(out, name).shape == (2, len(names), 3)


def test_open_body_matches_smplx_lbs(body, data):
    lbs = pytest.importorskip("smplx.lbs", reason="smplx (test-only dependency) is not installed").lbs
    gen = torch.Generator().manual_seed(5)
    pose = (torch.rand(4, 24, 3, generator=gen) - 0.5) * 2.0
    betas = torch.randn(4, 10, generator=gen)
    v = data.num_vertices
    ref_v, ref_j = lbs(
        betas.double(), pose.reshape(4, -1).double(), torch.as_tensor(data.v_template).double(),
        torch.as_tensor(data.shapedirs[..., :10]).double(), torch.zeros(207, v * 3, dtype=torch.float64),
        torch.as_tensor(data.j_regressor).double(), torch.as_tensor(data.parents.astype(np.int64)),
        torch.as_tensor(data.weights).double(),
    )
    out = BodyModel(data, num_betas=10).double()(pose=pose.double(), betas=betas.double())
    torch.testing.assert_close(out.vertices, ref_v, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints, ref_j, atol=1e-5, rtol=0)
