"""The landmark fit (``training.model.landmark_fit``): the body placed on BlazePose's landmarks and its limbs
turned onto them, inside the model (streaming == batch) and inside the exported graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.body import BodyModel
from training.body.rotations import axis_angle_to_matrix
from training.config import load_model_config
from training.model import build_model
from training.model.landmark_fit import (BONES, FACE, HEAD, LIMB_JOINTS, LIMBS, NOSE_DROP, PRESENCE, TORSO_LANDMARKS, TORSO_SMPL,
                                         WORLD, DEPTH_DISAGREEMENT, IMAGE_LENGTH_CHANGE, _world_depth, face_in_head_frame, fit_camera,
                                         fit_limbs, fit_torso, landmark_weights, world_onto_image)

TINY = ["input.seq_len=8", "embed_dim=64", "streams.rgb.feature_dim=64", "temporal_encoder.layers=1",
        "temporal_encoder.ff_dim=128", "regressor.layers=1", "regressor.dim=64", "regressor.ff_dim=128",
        "landmark_fit.enabled=true"]


@pytest.fixture(scope="module")
def body():
    return BodyModel.open()


def _pose(seed: int, limbs_only_from: torch.Tensor | None = None) -> torch.Tensor:
    """(1, 24, 3, 3) local rotations: a y-down camera's upright body with random joint angles; with
    ``limbs_only_from``, that pose with only the shoulders, elbows, hips and knees changed."""
    g = torch.Generator().manual_seed(seed)
    aa = torch.randn(24, 3, generator=g) * 0.35
    if limbs_only_from is not None:
        out = limbs_only_from.clone()
        for joint, *_ in BONES:
            out[0, joint] = axis_angle_to_matrix(aa[joint])
        return out
    aa[0] = torch.tensor([np.pi, 0.0, 0.0])
    return axis_angle_to_matrix(aa)[None]


def _landmarks_from(joints24: torch.Tensor, joints49: torch.Tensor, cam: torch.Tensor, vis: float = 0.95) -> torch.Tensor:
    """BlazePose features (1, 33, 9) whose limb landmarks are the given camera's view of a body: the
    joint-based ones at the SMPL joints the bones turn, the others at the ``spin49`` limb joints."""
    lm = torch.zeros(1, 33, 9)
    proj = lambda p: cam[0] * (p[..., :2] + cam[1:])  # noqa: E731
    for j49, m in LIMB_JOINTS:
        lm[0, m, :2] = proj(joints49[0, j49])
    for joint, child, _, m_joint, m_child in BONES:
        lm[0, m_joint, :2], lm[0, m_child, :2] = proj(joints24[0, joint]), proj(joints24[0, child])
    for (a, b), (ma, mb) in zip(TORSO_SMPL, TORSO_LANDMARKS):
        lm[0, ma, :2], lm[0, mb, :2] = proj(joints24[0, a]), proj(joints24[0, b])
    lm[0, list(HEAD[4]), :2] = proj(joints24[0, HEAD[1]])  # the ears' mid-point at the head joint
    lm[0, :, 3] = lm[0, :, 4] = vis
    lm[0, :, 8] = 0.9
    return lm


#: The camera the landmarks of the tests below are seen with (crop units per metre, then x, y offsets).
CAM = torch.tensor([0.9, 0.0, 0.1])


def _view(body, a: torch.Tensor, b: torch.Tensor):
    """Bodies posed as ``a`` (the network's guess) and ``b`` (the person), and BlazePose's view of ``b`` through
    :data:`CAM` → ``(out_a, out_b, landmarks (1, 33, 9))``."""
    out_a, out_b = body(pose=a), body(pose=b)
    return out_a, out_b, _landmarks_from(out_b.joints, body.joint_set(out_b, "spin49"), CAM)


def test_camera_fit_recovers_the_camera_and_keeps_the_networks_without_evidence(body):
    out = body(pose=_pose(0))
    j49 = body.joint_set(out, "spin49")
    true = torch.tensor([0.8, 0.05, -0.1])
    lm = torch.zeros(1, 33, 9)
    for j, m in LIMB_JOINTS:
        lm[0, m, :2] = true[0] * (j49[0, j, :2] + true[1:])
    lm[..., 3], lm[..., 8] = 0.95, 0.9
    guess = torch.tensor([[0.6, 0.0, 0.0]])
    torch.testing.assert_close(fit_camera(j49, lm, landmark_weights(lm), guess)[0], true, atol=1e-5, rtol=1e-5)
    close_up = torch.tensor([[0.8 / 3, 0.0, 0.0]])  # the network's scale 3× off, as in close-ups: still re-fitted
    torch.testing.assert_close(fit_camera(j49, lm, landmark_weights(lm), close_up)[0], true, atol=1e-5, rtol=1e-5)
    far_off = torch.tensor([[0.8 / 5, 0.0, 0.0]])  # beyond MAX_SCALE_CHANGE: the scale is not trusted …
    kept = fit_camera(j49, lm, landmark_weights(lm), far_off)[0]
    assert kept[0] == far_off[0, 0]
    limbs = [j for j, _ in LIMB_JOINTS]
    w = torch.ones(len(limbs), 1)
    w[[0, 3, 6, 9]] = 2.0  # the torso's joints count twice
    centre = lambda c: (w * c[0] * (j49[0, limbs, :2] + c[1:])).sum(0) / w.sum()  # noqa: E731
    torch.testing.assert_close(centre(kept), centre(true), atol=1e-5, rtol=1e-5)  # … the body's centre still moves
    hidden = lm.clone()
    hidden[..., 3] = 0.2  # nothing visible: the network's camera stays
    torch.testing.assert_close(fit_camera(j49, hidden, landmark_weights(hidden), guess), guess)
    missed = lm.clone()
    missed[..., 8] = 0  # BlazePose found nobody
    assert landmark_weights(missed).abs().sum() == 0


def test_camera_fit_fades_out_with_the_evidence_instead_of_switching(body):
    """A small person's few landmarks hovering about the visibility line must not make the body jump between the
    fitted placement and the network's from one frame to the next."""
    out = body(pose=_pose(0))
    j49 = body.joint_set(out, "spin49")
    true, guess = torch.tensor([0.8, 0.05, -0.1]), torch.tensor([[0.6, 0.3, 0.2]])
    lm = torch.zeros(1, 33, 9)
    for j, m in LIMB_JOINTS:
        lm[0, m, :2] = true[0] * (j49[0, j, :2] + true[1:])
    lm[..., 8] = 0.9
    cams = []
    for vis in torch.linspace(0.5, 0.9, 81):  # only the shoulders seen, their visibility rising across the line
        lm[..., 3] = 0.0
        lm[0, [11, 12], 3] = vis
        cams.append(fit_camera(j49, lm, landmark_weights(lm), guess)[0])
    cams = torch.stack(cams)
    assert torch.allclose(cams[0], guess[0]) and torch.allclose(cams[-1, 1:], true[1:], atol=0.05)
    assert (cams[1:] - cams[:-1]).abs().max() < 0.05  # 0.005 visibility steps: no jump anywhere


def test_limbs_turn_onto_the_landmarks_and_keep_their_lengths(body):
    a = _pose(1)
    b = _pose(2, limbs_only_from=a)  # same torso, other arms and legs
    out_a, out_b, lm = _view(body, a, b)
    cam = CAM
    w = landmark_weights(lm)
    fitted = body(pose=fit_limbs(a, out_a.joints, body.parents, lm, w, cam[None, :1][:, 0]))
    ends = [child for _, child, *_ in BONES]
    proj = lambda p: cam[0] * (p[..., :2] + cam[1:])  # noqa: E731
    before = (proj(out_a.joints[0, ends]) - proj(out_b.joints[0, ends])).norm(dim=-1)
    after = (proj(fitted.joints[0, ends]) - proj(out_b.joints[0, ends])).norm(dim=-1)
    # crop units: from visibly off to on the landmarks (within 0.3 px of a 128 px crop; bones near the image
    # plane keep a little less depth than the landmarks ask, see SIDE_SOFTNESS)
    assert before.min() > 0.01 and after.max() < 5e-3
    for joint, child, *_ in BONES:  # bones keep the body's lengths
        torch.testing.assert_close((fitted.joints[0, child] - fitted.joints[0, joint]).norm(),
                                   (out_a.joints[0, child] - out_a.joints[0, joint]).norm(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fitted.joints[0, [0, 3, 6, 9, 12]], out_a.joints[0, [0, 3, 6, 9, 12]])  # torso stays
    torch.testing.assert_close(proj(fitted.joints[0, HEAD[1]]), proj(out_a.joints[0, HEAD[1]]), atol=1e-3, rtol=0)  # so does the head
    unseen = lm.clone()
    unseen[..., 3] = 0.1
    same = fit_limbs(a, out_a.joints, body.parents, unseen, landmark_weights(unseen), cam[None, :1][:, 0])
    torch.testing.assert_close(same, a, atol=1e-5, rtol=1e-5)


def test_world_depth_moves_the_limbs_depth_towards_blazepose_world_landmarks(body):
    a = _pose(3)
    b = _pose(4, limbs_only_from=a)
    out_a, out_b, lm = _view(body, a, b)
    cam = CAM
    s = cam[None, :1][:, 0]
    unit = lambda v: torch.nn.functional.normalize(v, dim=-1)  # noqa: E731
    bone = lambda out, j, c: unit(out.joints[0, c] - out.joints[0, j])  # noqa: E731

    def fitted(world_bones, amount):
        """The fit with BlazePose's world landmarks laid out along ``world_bones`` {joint: unit bone}."""
        world = lm.clone()
        for joint, child, _, m_joint, m_child in BONES:
            world[0, m_child, WORLD] = world[0, m_joint, WORLD] + world_bones[joint]
        return body(pose=fit_limbs(a, out_a.joints, body.parents, world, landmark_weights(world), s, world_depth=amount))

    truth = {j: bone(out_b, j, c) for j, c, *_ in BONES}
    own, towards = fitted(truth, 0.0), fitted(truth, 1.0)
    closer = 0
    for joint, child, *_ in BONES:
        before, after, true = bone(own, joint, child), bone(towards, joint, child), truth[joint]
        assert (after[2] - true[2]).abs() <= (before[2] - true[2]).abs() + 1e-6
        closer += int((after[2] - true[2]).abs() < (before[2] - true[2]).abs() - 0.02)
        # its image keeps its direction, and its length in the image changes by at most IMAGE_LENGTH_CHANGE
        torch.testing.assert_close(unit(after[:2]), unit(before[:2]), atol=1e-4, rtol=0)
        assert abs(after[:2].norm() / before[:2].norm() - 1) <= IMAGE_LENGTH_CHANGE + 1e-4
    assert closer >= 1  # the fit alone had some depth wrong, so the checks above could fail
    # a world bone on the other side of the image plane moves the depth the less, the more the two disagree
    # (fully opposite, DEPTH_DISAGREEMENT apart, not at all): the mean of the two would lay the bone flat,
    # which neither says
    mirrored = {j: bone(own, j, c) * torch.tensor([1.0, 1.0, -1.0]) for j, c, *_ in BONES}
    against = fitted(mirrored, 1.0)
    faded = 0
    for joint, child, *_ in BONES[::2]:  # upper arms and thighs: a forearm's or shin's start moved with its parent
        apart = 2 * bone(own, joint, child)[2].abs()  # the two depth fractions' difference
        moved = (bone(against, joint, child)[2] - bone(own, joint, child)[2]).abs()
        assert moved <= (1 - apart / DEPTH_DISAGREEMENT).clamp(min=0) * apart + 1e-4
        faded += int(apart > 0.2)  # where the fade holds the bone well short of the world's depth
    assert faded
    # the fade itself: a bone 80 % in depth towards the camera, a world bone 80 % away (1.6 apart) — without the
    # fade the depth would go all the way to the world's
    out, world = torch.tensor([[0.6, 0.0, 0.8]]), torch.tensor([[0.6, 0.0, -0.8]])
    assert 0 < 0.8 - _world_depth(out, world, torch.ones(1, 1))[0, 2] < 0.8


def test_world_direction_turns_the_bones_onto_blazepose_world_bones_in_the_image_axes(body):
    """``world_direction`` 1: each limb bone takes the direction of BlazePose's world bone — here the person's own
    bones, handed over in the axes of a region turned 40° about the view axis, as BlazePose's network gives them:
    the fit turns them back onto the image first. So the depth the 2D bones cannot tell comes out right too; at 0
    the fit keeps the network's depth (some bone wrong, so the check could fail), and without turning the world
    landmarks onto the image the bones would be 40° off."""
    a = _pose(3)
    b = _pose(4, limbs_only_from=a)
    out_a, out_b, lm = _view(body, a, b)
    s = CAM[None, :1][:, 0]
    turn = torch.tensor(np.radians(40.0), dtype=torch.float32)
    c, sn = torch.cos(turn), torch.sin(turn)
    region = torch.tensor([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])
    smpl_of = {m: j for joint, child, _, m_joint, m_child in BONES for j, m in ((joint, m_joint), (child, m_child))}
    for m, j in smpl_of.items():
        lm[0, m, WORLD] = region.T @ (out_b.joints[0, j] - out_b.joints[0, 0])  # the person's bones, in the region's axes
    unit = lambda v: torch.nn.functional.normalize(v, dim=-1)  # noqa: E731

    def bones(amount):
        out = body(pose=fit_limbs(a, out_a.joints, body.parents, lm, landmark_weights(lm), s, world_direction=amount))
        return torch.stack([unit(out.joints[0, ch] - out.joints[0, j]) for j, ch, *_ in BONES])

    truth = torch.stack([unit(out_b.joints[0, ch] - out_b.joints[0, j]) for j, ch, *_ in BONES])
    weight = landmark_weights(lm)[0, 11].item()  # every limb landmark is as visible: the share the world bone gets
    assert weight > 0.99
    torch.testing.assert_close(bones(1.0), truth, atol=2e-3, rtol=0)
    assert (bones(0.0)[:, 2] - truth[:, 2]).abs().max() > 0.05  # the 2D fit alone had a depth wrong
    # what world_onto_image undoes: the region's turn (the world landmarks' image part lies as the image landmarks')
    turned = world_onto_image(lm, landmark_weights(lm))[0]
    for m, j in smpl_of.items():
        torch.testing.assert_close(turned[m], out_b.joints[0, j] - out_b.joints[0, 0], atol=1e-4, rtol=0)


def test_model_with_the_fit_streams_like_the_batch_and_follows_the_landmarks():
    torch.manual_seed(0)
    cfg = load_model_config("lite_blazepose", TINY)
    model = build_model(cfg).eval()
    assert model.feature_names == ("rgb", "flow", "landmarks")
    b, n = 2, 6
    plain = build_model(load_model_config("lite_blazepose", TINY[:-1])).eval()
    plain.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(0)
    x = torch.rand(b, n, 33, 9, generator=g)
    x[..., 3] = 0.9
    flow = torch.randn(b, n, 2, 128, 128, generator=g)
    with torch.no_grad():  # landmarks near the network's own answer (its limbs moved by up to 0.1)
        guess = plain(x, flow).joints2d
    for i, (j, m) in enumerate(LIMB_JOINTS):  # the torso where the network has it, elbows … ankles moved
        x[..., m, :2] = guess[..., j, :] + (torch.rand(b, n, 2, generator=g) - 0.5) * (0 if i in (0, 3, 6, 9) else 0.2)
    x[:, 2] = 0  # a frame BlazePose missed
    with torch.no_grad():
        ref = model(x, flow)
        raw = plain(x, flow)
        state = model.init_state(b)
        feats = model.encode_frames(x, flow)
        for t in range(n):
            step, state = model.step({k: v[:, t] for k, v in feats.items()}, state)
            torch.testing.assert_close(step.theta, ref.theta[:, t], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(step.joints2d, ref.joints2d[:, t], atol=1e-4, rtol=1e-4)
    for k in ("rotmat", "cam", "joints3d"):  # a missed frame: the network's own answer
        torch.testing.assert_close(getattr(ref, k)[:, 2], getattr(raw, k)[:, 2], atol=1e-5, rtol=1e-5)
    limb = [j for j, _ in LIMB_JOINTS]
    target = x[..., [m for _, m in LIMB_JOINTS], :2]
    err = lambda o: (o.joints2d[:, [0, 1, 3, 4, 5]][..., limb, :] - target[:, [0, 1, 3, 4, 5]]).norm(dim=-1).mean()  # noqa: E731
    assert err(ref) < 0.7 * err(raw)  # not to zero: moved landmarks ask for bones longer than the body's


@pytest.mark.parametrize("world_direction", [0.0, 0.3])
def test_exported_graphs_run_the_fit(tmp_path, world_direction):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is needed to run exported graphs")
    pytest.importorskip("onnx", reason="the onnx package is needed by torch.onnx.export")
    from engines import EngineSession
    from engines.build.onnx_export import example_inputs, export_bundle
    from training.checkpoint import save_checkpoint

    torch.manual_seed(1)
    cfg = load_model_config("lite_blazepose", TINY + [f"landmark_fit.world_direction={world_direction}"])
    model = build_model(cfg).eval()
    ckpt = save_checkpoint(tmp_path / "model.pt", model, cfg)
    manifest, _ = export_bundle(ckpt, tmp_path / "bundle", max_persons=2)
    assert "feat_landmarks" in [t.name for t in manifest.graphs["temporal_step"].inputs]
    session = EngineSession(tmp_path / "bundle", backend="onnxruntime", intra_op_threads=1)
    frames = [example_inputs(model, batch=2, seed=s) for s in range(4)]
    with torch.no_grad():
        ref = model(torch.stack([f["rgb"] for f in frames], 1), torch.stack([f["flow"] for f in frames], 1))
    for t, f in enumerate(frames):
        out = session.process([5, 6], {k: v.numpy() for k, v in f.items()})
        np.testing.assert_allclose(out["joints2d"], ref.joints2d[:, t].numpy(), atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(out["cam"], ref.cam[:, t].numpy(), atol=2e-3, rtol=2e-3)
    nobody = {k: np.zeros_like(v.numpy()) for k, v in frames[0].items()}  # BlazePose found no one: no landmark at all
    session.release(5)
    out = session.process([7], {k: v[:1] for k, v in nobody.items()})
    assert all(np.isfinite(v).all() for v in out.values())  # (atan2(0, 0) is NaN in ONNX Runtime, 0 in torch)


def test_turns_are_proper_rotations_even_between_opposite_bones():
    from training.model.landmark_fit import _turn

    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(64, 3, generator=g), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(64, 3, generator=g), dim=-1)
    b[:8] = -a[:8] + 1e-7 * torch.randn(8, 3, generator=g)  # (nearly) opposite: the landmarks' bone points back
    b[8:12] = a[8:12]
    r = _turn(a, b)
    eye = torch.eye(3).expand(64, 3, 3)
    torch.testing.assert_close(r @ r.transpose(-1, -2), eye, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(64), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close((r[12:] @ a[12:, :, None])[..., 0], b[12:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(r[8:12], eye[8:12], atol=1e-6, rtol=1e-6)


def _torso_points(joints24: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """The camera's view of the shoulders and hips (4, 2), centred: where the body stands does not matter."""
    p = cam[0] * joints24[0, [j for pair in TORSO_SMPL for j in pair], :2]
    return p - p.mean(0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torso_turns_onto_the_landmarks_lean_and_facing(body, seed):
    a = _pose(seed)
    b = a.clone()  # the same pose, leaning sideways and turned about the vertical (up to about 150°)
    b[0, 0] = axis_angle_to_matrix(torch.tensor([0.0, 1.3 * (seed - 1) + 1.2, 0.35])) @ a[0, 0]
    out_a, out_b, lm = _view(body, a, b)
    cam = CAM
    rot, joints = fit_torso(a, out_a.joints, lm, landmark_weights(lm), cam[None, :1][:, 0])
    torch.testing.assert_close(rot[0, 1:], a[0, 1:])  # only the root turns
    again = body(pose=rot).joints
    torch.testing.assert_close(joints - joints[:, :1], again - again[:, :1], atol=1e-5, rtol=1e-5)
    before = (_torso_points(out_a.joints, cam) - _torso_points(out_b.joints, cam)).norm(dim=-1).mean()
    after = (_torso_points(again, cam) - _torso_points(out_b.joints, cam)).norm(dim=-1).mean()
    assert before > 0.03 and after < 0.2 * before  # crop units: shoulders and hips from off to on
    unseen = lm.clone()
    unseen[..., 3] = 0.1
    same, _ = fit_torso(a, out_a.joints, unseen, landmark_weights(unseen), cam[None, :1][:, 0])
    torch.testing.assert_close(same, a, atol=1e-5, rtol=1e-5)


def test_head_turns_onto_the_ears(body):
    a = _pose(3)
    parent = torch.eye(3)  # the neck's parent's orientation in the camera's axes
    chain, j = [], body.parents[HEAD[0]]
    while j >= 0:
        chain.append(j)
        j = body.parents[j]
    for j in reversed(chain):
        parent = parent @ a[0, j]
    b = a.clone()  # the head tilted sideways in the image (about the view axis)
    b[0, HEAD[0]] = parent.T @ axis_angle_to_matrix(torch.tensor([0.0, 0.0, 0.6])) @ parent @ a[0, HEAD[0]]
    out_a, out_b, lm = _view(body, a, b)
    cam = CAM
    fitted = body(pose=fit_limbs(a, out_a.joints, body.parents, lm, landmark_weights(lm), cam[None, :1][:, 0])).joints
    proj = lambda p: cam[0] * (p[..., :2] + cam[1:])  # noqa: E731
    head = HEAD[1]
    before = (proj(out_a.joints[0, head]) - proj(out_b.joints[0, head])).norm()
    after = (proj(fitted[0, head]) - proj(out_b.joints[0, head])).norm()
    assert before > 0.02 and after < 2e-3


@pytest.mark.parametrize("camera_roll", [0.0, 90.0, 180.0])
@pytest.mark.parametrize("nod", [0.5, -0.4])
def test_head_nods_until_the_nose_sits_where_blazepose_sees_it(body, nod, camera_roll):
    """The head turns so that its ears' line and its nose lie in the image as BlazePose's — upright or under a camera
    turned on its side or upside down alike."""
    a = _pose(3)
    a[0, HEAD[1]] = torch.eye(3)  # the head straight on the neck, facing the camera
    roll = axis_angle_to_matrix(torch.tensor([0.0, 0.0, float(np.deg2rad(camera_roll))]))
    a[0, 0] = roll @ a[0, 0]  # the camera turned about its axis: the body turns in its image
    b = a.clone()  # the person nods, one way or the other, about the head's own left-right axis
    b[0, HEAD[1]] = axis_angle_to_matrix(torch.tensor([-nod, 0.0, 0.0]))
    out_a, out_b, lm = _view(body, a, b)
    face_b = body.joint_set(out_b, "spin49")[0, list(FACE[0])]  # nose, right ear, left ear
    proj = lambda p: CAM[0] * (p[..., :2] + CAM[1:])  # noqa: E731
    lm[0, list(FACE[1]), :2] = proj(face_b)  # BlazePose's nose and ears (right, left) are the person's …
    lm[0, FACE[1][0], :2] += CAM[0] * NOSE_DROP * roll[:2, 1]  # … its nose a little lower down the face

    def nose(out):  # the nose from the ears' mid-point, metres, camera frame
        f = body.joint_set(out, "spin49")[0, list(FACE[0])]
        return f[0] - f[1:].mean(0)

    face = face_in_head_frame(a, out_a.joints, body.joint_set(out_a, "spin49"), body.parents)
    w, s = landmark_weights(lm), CAM[None, :1][:, 0]
    nodded = body(pose=fit_limbs(a, out_a.joints, body.parents, lm, w, s, face=face))
    unchanged = body(pose=fit_limbs(a, out_a.joints, body.parents, lm, w, s))
    off = float((nose(out_a) - nose(out_b)).norm())
    assert off > 0.03  # the network's head is off by over 3 cm at the nose
    assert float((nose(unchanged) - nose(out_b)).norm()) > 0.8 * off  # the neck's lean alone does not nod
    # to within the face's give (its points are skinned partly to the neck, and the head joint alone turns)
    assert float((nose(nodded) - nose(out_b)).norm()) < 0.2 * off


def test_head_tilts_until_its_ears_line_lies_as_blazepose_sees_it(body):
    """A head tilted towards a shoulder: the fitted head's ears' line turns, in the image, onto BlazePose's."""
    a = _pose(3)
    a[0, HEAD[1]] = torch.eye(3)
    b = a.clone()  # the person tilts the head about its own front-back axis
    b[0, HEAD[1]] = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 0.35]))
    out_a, out_b, lm = _view(body, a, b)
    lm[0, list(FACE[1]), :2] = CAM[0] * (body.joint_set(out_b, "spin49")[0, list(FACE[0]), :2] + CAM[1:])

    def ears_angle(out):  # the right → left ear line's angle in the image
        f = body.joint_set(out, "spin49")[0, list(FACE[0])]
        d = f[2] - f[1]
        return float(torch.atan2(d[1], d[0]))

    face = face_in_head_frame(a, out_a.joints, body.joint_set(out_a, "spin49"), body.parents)
    w, s = landmark_weights(lm), CAM[None, :1][:, 0]
    fitted = body(pose=fit_limbs(a, out_a.joints, body.parents, lm, w, s, face=face))
    off = abs(ears_angle(out_a) - ears_angle(out_b))
    assert off > 0.2
    assert abs(ears_angle(fitted) - ears_angle(out_b)) < 0.05 * off  # the neck's lean alone leaves 0.14 of it


def test_world_depth_pitches_the_torso_towards_blazepose_world_torso(body):
    """With ``world_depth`` the torso's lean towards or away from the camera moves towards BlazePose's world torso,
    its lean in the image staying BlazePose's; without it (or where the torso is unseen) it stays the network's."""
    a = _pose(5)
    b = a.clone()  # the same body bent towards the camera (about the camera's x axis)
    b[0, 0] = axis_angle_to_matrix(torch.tensor([0.5, 0.0, 0.0])) @ a[0, 0]
    out_a, out_b, lm = _view(body, a, b)
    cam = CAM
    for (sl, sr), (ml, mr) in [(TORSO_SMPL[0], TORSO_LANDMARKS[0]), (TORSO_SMPL[1], TORSO_LANDMARKS[1])]:
        lm[0, ml, WORLD], lm[0, mr, WORLD] = out_b.joints[0, sl], out_b.joints[0, sr]  # the world torso: b's
    (ls, rs), (lh, rh) = TORSO_SMPL
    unit = lambda v: torch.nn.functional.normalize(v, dim=-1)  # noqa: E731
    spine = lambda j: unit(j[0, ls] + j[0, rs] - j[0, lh] - j[0, rh])  # noqa: E731
    s = cam[None, :1][:, 0]
    _, own = fit_torso(a, out_a.joints, lm, landmark_weights(lm), s)
    _, towards = fit_torso(a, out_a.joints, lm, landmark_weights(lm), s, world_depth=1.0)
    true = spine(out_b.joints)
    assert (spine(own)[2] - true[2]).abs() > 0.1  # the network's body leans otherwise: the check below can fail
    assert (spine(towards)[2] - true[2]).abs() < 0.5 * (spine(own)[2] - true[2]).abs()
    torch.testing.assert_close(unit(spine(towards)[:2]), unit(spine(own)[:2]), atol=1e-3, rtol=0)  # image lean kept
    unseen = lm.clone()
    unseen[..., 3] = 0.1
    _, hidden = fit_torso(a, out_a.joints, unseen, landmark_weights(unseen), s, world_depth=1.0)
    torch.testing.assert_close(hidden, out_a.joints, atol=1e-5, rtol=1e-5)


def test_a_limb_whose_middle_is_off_frame_turns_whole_onto_its_ends(body):
    """A hand raised from below the frame: shoulder and wrist seen, the elbow outside the frame. The arm turns at
    the shoulder so that the wrist lies, in the image, where BlazePose's wrist is from its shoulder (the elbow's
    bend kept); an elbow that is only hidden (in the frame) leaves the arm to the network."""
    a = _pose(6)
    b = _pose(7, limbs_only_from=a)
    out_a, out_b, lm = _view(body, a, b)
    cam = CAM
    s = cam[None, :1][:, 0]
    proj = lambda p: cam[0] * (p[..., :2] + cam[1:])  # noqa: E731
    unit = lambda v: torch.nn.functional.normalize(v, dim=-1)  # noqa: E731
    joint, mid, end, m_joint, m_mid, m_end = LIMBS[0]  # the left arm
    off = lm.clone()
    off[0, m_mid, 3] = off[0, m_mid, PRESENCE] = 0.0  # the elbow off-frame
    hidden = lm.clone()
    hidden[0, m_mid, 3] = 0.0  # the elbow hidden, in the frame (presence stays high)
    fitted = {name: body(pose=fit_limbs(a, out_a.joints, body.parents, x, landmark_weights(x), s)).joints
              for name, x in (("off", off), ("hidden", hidden))}
    want = unit(lm[0, m_end, :2] - lm[0, m_joint, :2])
    line = lambda j: unit(proj(j[0, end]) - proj(j[0, joint]))  # noqa: E731
    assert (line(out_a.joints) - want).norm() > 0.2  # the network's arm points elsewhere in the image
    torch.testing.assert_close(line(fitted["off"]), want, atol=2e-3, rtol=0)
    torch.testing.assert_close(fitted["hidden"][0, end], out_a.joints[0, end], atol=1e-5, rtol=0)
    elbow = lambda j: (j[0, end] - j[0, mid]).dot(j[0, mid] - j[0, joint])  # noqa: E731
    torch.testing.assert_close(elbow(fitted["off"]), elbow(out_a.joints), atol=1e-5, rtol=1e-4)  # the bend kept


def test_a_bone_whose_end_is_off_frame_takes_blazepose_world_bone(body):
    """A close-up's arm below the frame: elbow and wrist outside it, so no 2D bone to follow. With the world
    landmarks on, the upper arm and forearm take the directions of BlazePose's world bones (its guess, learned on
    real people); an arm only hidden inside the frame, or the fit without world landmarks, keeps the network's."""
    _unseen_bone_case(body, BONES[:2], follows=True)  # the left arm


def test_a_leg_whose_ends_are_off_frame_hangs_down_the_image(body):
    """A desk webcam's frame cut at the waist: knee and ankle outside it. The thigh and shin hang straight down the
    image (not BlazePose's world bones: its unseen knees go above the hips in close-ups), with or without the world
    landmarks; a leg only hidden inside the frame keeps the network's; a knee in view with its ankle below the frame
    keeps its thigh on the landmarks and hangs its shin."""
    unit = lambda v: torch.nn.functional.normalize(v, dim=-1)  # noqa: E731
    down = torch.tensor([0.0, 1.0, 0.0])
    a = _pose(8)
    b = _pose(9, limbs_only_from=a)
    out_a, out_b, lm = _view(body, a, b)
    s = CAM[None, :1][:, 0]
    leg = BONES[4:6]  # the left thigh and shin
    own = {j: unit(out_a.joints[0, c] - out_a.joints[0, j]) for j, c, *_ in leg}
    assert all((own[j] - down).norm() > 0.2 for j in own)  # the network's leg is not hanging already

    def bones(x, world_depth=0.5):
        j = body(pose=fit_limbs(a, out_a.joints, body.parents, x, landmark_weights(x), s, world_depth=world_depth)).joints
        return {joint: unit(j[0, child] - j[0, joint]) for joint, child, *_ in leg}

    off, hidden, shin_off = lm.clone(), lm.clone(), lm.clone()
    for _, _, _, _, m_child in leg:
        off[0, m_child, 3] = off[0, m_child, PRESENCE] = 0.0  # knee and ankle below the frame
        hidden[0, m_child, 3] = 0.0  # … or hidden inside it
    shin_off[0, leg[1][4], 3] = shin_off[0, leg[1][4], PRESENCE] = 0.0  # only the ankle below the frame
    for world_depth in (0.5, 0.0):
        for direction in bones(off, world_depth).values():
            torch.testing.assert_close(direction, down, atol=1e-4, rtol=0)
    for joint, direction in bones(hidden).items():
        torch.testing.assert_close(direction, own[joint], atol=1e-4, rtol=0)
    behind_desk, bent_knee, nothing_seen = lm.clone(), lm.clone(), lm.clone()
    behind_desk[0, [25, 26, 27, 28], 3] = 0.1  # no knee or ankle seen, inside the frame: a desk in front
    for direction in bones(behind_desk).values():
        torch.testing.assert_close(direction, down, atol=1e-4, rtol=0)
    bent_knee[0, [25, 26, 27, 28], 3] = 0.1
    bent_knee[0, 26, 3] = 0.55  # one knee half seen: not hidden behind anything, the leg stays the network's
    for joint, direction in bones(bent_knee).items():
        torch.testing.assert_close(direction, own[joint], atol=1e-4, rtol=0)
    nothing_seen[0, :, 3] = 0.1  # not even the shoulders: nothing says the person is seen at all
    for joint, direction in bones(nothing_seen).items():
        torch.testing.assert_close(direction, own[joint], atol=1e-4, rtol=0)
    thigh, shin = (j for j, *_ in leg)
    seen_thigh = bones(shin_off)
    torch.testing.assert_close(seen_thigh[shin], down, atol=1e-4, rtol=0)
    truth = unit(out_b.joints[0, leg[0][1]] - out_b.joints[0, thigh])
    image = lambda v: unit(v[:2])  # noqa: E731 the thigh's direction in the image is BlazePose's
    torch.testing.assert_close(image(seen_thigh[thigh]), image(truth), atol=1e-3, rtol=0)


def _unseen_bone_case(body, arm, follows: bool) -> None:
    a = _pose(8)
    b = _pose(9, limbs_only_from=a)
    out_a, out_b, lm = _view(body, a, b)
    s = CAM[None, :1][:, 0]
    unit = lambda v: torch.nn.functional.normalize(v, dim=-1)  # noqa: E731
    truth = {j: unit(out_b.joints[0, c] - out_b.joints[0, j]) for j, c, *_ in arm}
    for joint, child, _, m_joint, m_child in arm:
        lm[0, m_child, WORLD] = lm[0, m_joint, WORLD] + truth[joint]
    off, hidden = lm.clone(), lm.clone()
    for _, _, _, _, m_child in arm:
        off[0, m_child, 3] = off[0, m_child, PRESENCE] = 0.0  # elbow and wrist outside the frame
        hidden[0, m_child, 3] = 0.0  # … or hidden inside it (presence stays high)

    def bones(x, world_depth):
        j = body(pose=fit_limbs(a, out_a.joints, body.parents, x, landmark_weights(x), s, world_depth=world_depth)).joints
        return {joint: unit(j[0, child] - j[0, joint]) for joint, child, *_ in arm}

    own = {j: unit(out_a.joints[0, c] - out_a.joints[0, j]) for j, c, *_ in arm}
    assert all((own[j] - truth[j]).norm() > 0.2 for j in own)  # the network's arm is elsewhere
    for joint, direction in bones(off, 0.5).items():
        torch.testing.assert_close(direction, truth[joint] if follows else own[joint], atol=1e-4, rtol=0)
    for x, world_depth in ((hidden, 0.5), (off, 0.0)):
        for joint, direction in bones(x, world_depth).items():
            torch.testing.assert_close(direction, own[joint], atol=1e-4, rtol=0)
