"""The lite default's V-stream is BlazePose (issue 18): its outputs are made into the model's input by one
function for the shards and the live app, the model trains and streams on them, and the bundle runs them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.blazepose_input import CHANNELS, IDENTITY, NUM_LANDMARKS, crop_landmarks, frame_features, shard_features
from training.batches import BatchError, check_item_keys, model_inputs
from training.config import load_model_config
from training.model import build_model

TINY = ["input.seq_len=8", "embed_dim=64", "streams.rgb.feature_dim=64", "temporal_encoder.layers=1",
        "temporal_encoder.ff_dim=128", "regressor.layers=1", "regressor.dim=64", "regressor.ff_dim=128"]


def _landmarks(rng: np.random.Generator, n: int = NUM_LANDMARKS):
    xy = rng.uniform(300, 700, (n, 2))
    return xy, rng.normal(0, 40, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.normal(0, 0.4, (n, 3))


def test_features_layout_and_missed_frames():
    rng = np.random.default_rng(0)
    xy, z, vis, pres, world = _landmarks(rng)
    f = frame_features(crop_landmarks(xy, z, IDENTITY, 1024), vis, pres, world, 0.8)
    assert f.shape == (NUM_LANDMARKS, len(CHANNELS)) == (33, 9) and f.dtype == np.float32
    np.testing.assert_allclose(f[:, 5:8], world, atol=1e-6)
    np.testing.assert_allclose(f[:, 3], vis, atol=1e-6)
    assert np.all(f[:, 8] == np.float32(0.8))
    mp = {"mp_landmarks": np.zeros((3, 33, 5), np.float32), "mp_world": np.ones((3, 33, 3), np.float32),
          "mp_score": np.array([0.9, 0.9, 0.0]), "mp_found": np.array([True, True, False])}
    out = shard_features(mp)
    assert out.shape == (3, 33, 9) and np.all(out[2] == 0) and np.all(out[0, :, 5:8] == 1)


def test_a_live_crop_and_the_same_crop_seen_as_a_frame_give_the_same_input():
    """Live: landmarks in frame pixels through the crop matrix. Training: BlazePose ran on the crop itself
    (frame = crop, :data:`IDENTITY`). The same person gives the same features (< 0.5 px)."""
    from training.preprocessing import crop_affine

    rng = np.random.default_rng(1)
    xy, z, vis, pres, world = _landmarks(rng)
    s = 128
    m = crop_affine((512.0, 480.0, 600.0), s)  # frame → crop pixels
    live = crop_landmarks(xy, z, m, s)
    in_crop = xy @ m[:, :2].T.astype(np.float64) + m[:, 2]
    trained = crop_landmarks(in_crop, z * m[0, 0], IDENTITY, s)
    assert np.abs(live - trained).max() * s / 2 < 0.5


def test_person_inputs_feed_blazepose_outputs_for_every_person():
    from realtime.detection import PersonPose
    from realtime.detection.blazepose import Roi
    from realtime.detection.landmarks import Landmarks
    from realtime.detection.tracker import Track
    from realtime.person_inputs import PersonInputs

    rng = np.random.default_rng(2)
    people = []
    for i in range(2):
        xy, z, vis, pres, world = _landmarks(rng)
        lm = Landmarks(xy=xy.astype(np.float32), z=z.astype(np.float32), visibility=vis.astype(np.float32),
                       presence=pres.astype(np.float32), score=0.5 + 0.2 * i, roi=Roi(500, 500, 400, 0.0),
                       aux_xy=np.zeros((2, 2), np.float32), world=world.astype(np.float32) if i == 0 else None)
        box = np.array([280, 280, 720, 720], np.float32)
        people.append(PersonPose(Track(i, box, box, 1.0, 0), lm))
    builder = PersonInputs(128, ("rgb", "flow"), "dis", rgb_input="blazepose")
    frame = np.zeros((1000, 1000, 3), np.uint8)
    out = builder.build(frame, people)
    x = out.inputs["rgb"]
    assert x.shape == (2, 33, 9) and out.inputs["flow"].shape == (2, 2, 128, 128)
    np.testing.assert_allclose(x[0, :, 5:8], people[0].landmarks.world, atol=1e-6)
    assert np.all(x[1, :, 5:8] == 0)  # a model without world landmarks: zeros, not garbage
    np.testing.assert_allclose(x[:, 0, 8], [0.5, 0.7], atol=1e-6)
    back = out.to_frame(0, x[0, :, :2])  # the crop coordinates map back onto the frame's landmarks
    assert np.abs(back - people[0].landmarks.xy).max() < 1.0
    with pytest.raises(ValueError, match="rgb_input"):
        PersonInputs(128, ("rgb",), rgb_input="heatmaps")


def test_blazepose_model_trains_and_streams_like_the_batch():
    torch.manual_seed(0)
    cfg = load_model_config("lite_blazepose", TINY)
    assert cfg.rgb_input == "blazepose" and not cfg.streams.keypoints.enabled
    model = build_model(cfg)
    assert model.stream_names == ("rgb", "flow")
    b, n = 2, 12
    x = torch.rand(b, n, 33, 9)
    x[:, 3] = 0  # a frame BlazePose missed
    flow = torch.randn(b, n, 2, 128, 128)
    out = model(x, flow)
    assert out.theta.shape == (b, n, 157) and torch.isfinite(out.joints3d).all()
    out.joints3d.square().mean().backward()
    assert model.streams["rgb"].mlp[0].weight.grad.abs().sum() > 0
    assert model.streams["flow"].backbone.features[1].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        ref = model(x, flow)
        state = model.init_state(b)
        feats = model.encode_frames(x, flow)
        for t in range(n):
            step, state = model.step({k: v[:, t] for k, v in feats.items()}, state)
            torch.testing.assert_close(step.theta, ref.theta[:, t], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match=r"\(N, 33, 9\)"):
        model(torch.rand(b, n, 33, 4), flow)


def test_config_refuses_what_cannot_be():
    with pytest.raises(Exception, match="pretrained: none"):
        load_model_config("lite_blazepose", ["streams.rgb.pretrained=imagenet"])
    with pytest.raises(Exception, match="V-stream"):
        load_model_config("lite_blazepose", ["streams.flow.backbone=blazepose", "streams.flow.pretrained=none"])


def test_stream_dropout_acts_in_training_only_and_keeps_the_weights():
    cfg = load_model_config("lite_blazepose", ["streams.rgb.dropout=0.5"])
    model = build_model(cfg)
    stream = model.streams["rgb"]
    x = torch.rand(64, NUM_LANDMARKS, len(CHANNELS))
    stream.train()
    assert not torch.allclose(stream(x), stream(x))  # a new mask each call
    stream.eval()
    torch.testing.assert_close(stream(x), stream(x))
    plain = build_model(load_model_config("lite_blazepose"))
    assert plain.state_dict().keys() == model.state_dict().keys()  # checkpoints with and without it load alike
    with pytest.raises(Exception, match="blazepose MLP"):
        load_model_config("lite_blazepose", ["streams.flow.dropout=0.1"])


def test_batches_need_blazepose_outputs_and_jitter_only_found_frames():
    item = {"rgb": torch.zeros(4, 3, 128, 128), "flow": torch.zeros(4, 2, 128, 128), "kp2d": torch.zeros(4, 49, 3)}
    with pytest.raises(BatchError, match="--blazepose"):
        check_item_keys(item, ("rgb", "flow"), "shards", rgb_input="blazepose")
    x = torch.rand(1, 4, 33, 9)
    x[0, 2] = 0
    batch = {**{k: v[None] for k, v in item.items()}, "blazepose": x}
    inputs = model_inputs(batch, ("rgb", "flow"), 0.01, torch.Generator().manual_seed(0), rgb_input="blazepose")
    assert inputs.rgb.shape == (1, 4, 33, 9)
    assert torch.all(inputs.rgb[0, 2] == 0)  # a missed frame stays "missed"
    assert not torch.equal(inputs.rgb[0, 0, :, :2], x[0, 0, :, :2])
    torch.testing.assert_close(inputs.rgb[..., 2:5], x[..., 2:5])


def test_recrop_moves_landmarks_and_2d_targets_together():
    from training.batches import ModelInputs, Targets, recrop

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 4, 33, 9) * 2 - 1
    x[..., 8] = 0.9
    x[1, 2] = 0  # a missed frame
    kp2d = x[..., :12, :2].clone()  # 2D targets where the landmarks are
    tg = Targets(kp2d=kp2d.clone(), kp2d_conf=torch.ones(3, 4, 12), kp3d=torch.rand(3, 4, 12, 3), kp3d_conf=torch.ones(3, 4, 12),
                 pose=torch.zeros(3, 4, 72), betas=torch.zeros(3, 4, 10), valid=torch.ones(3, 4, dtype=torch.bool),
                 has_kp2d=torch.ones(3, 4, dtype=torch.bool), has_kp3d=torch.ones(3, 4, dtype=torch.bool),
                 has_smpl=torch.ones(3, 4, dtype=torch.bool))
    kp3d = tg.kp3d.clone()
    inputs = ModelInputs(rgb=x.clone())
    recrop(inputs, tg, 0.2, 0.2, g)
    moved = inputs.rgb
    assert torch.all(moved[1, 2] == 0)  # still missed
    found = x[..., 8] > 0
    torch.testing.assert_close(moved[..., :12, :2][found[..., :12]], tg.kp2d[found[..., :12]])  # together
    assert not torch.allclose(moved[..., :2], x[..., :2])
    torch.testing.assert_close(moved[..., 3:], x[..., 3:])  # world landmarks, visibility, score untouched
    torch.testing.assert_close(tg.kp3d, kp3d)
    for b in range(3):  # one similarity per clip: x' = k x + d, z' = k z
        f = found[b]
        a, c = x[b][f][:, 0], moved[b][f][:, 0]
        k = (c[1] - c[0]) / (a[1] - a[0])
        torch.testing.assert_close(c, k * a + (c[0] - k * a[0]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(moved[b][f][:, 2], k * x[b][f][:, 2], atol=1e-5, rtol=1e-5)
        assert 0.8 < float(k) < 1.25


def _standing_landmarks(b: int, t: int) -> torch.Tensor:
    """(B, T, 33, 9) BlazePose features of an upright person filling a crop: y grows from head to feet."""
    x = torch.zeros(b, t, 33, 9)
    x[..., 1] = torch.linspace(-0.8, 0.8, 33)
    x[..., 0] = torch.linspace(-0.3, 0.3, 33).flip(0)
    x[..., 11, 1] = x[..., 12, 1] = -0.5  # shoulders
    x[..., 27, 1] = x[..., 28, 1] = 0.8  # ankles
    x[..., 3] = x[..., 4] = 0.9
    x[..., 5:8] = torch.randn(b, t, 33, 3) * 0.3
    x[..., 8] = 0.95
    return x


def test_truncate_hides_what_is_past_the_frame_edge_and_crops_the_rest_as_live():
    from training.batches import ModelInputs, Targets, truncate

    x = _standing_landmarks(4, 3)
    x[2, 1] = 0  # a missed frame
    tg = Targets(kp2d=x[..., :12, :2].clone(), kp2d_conf=torch.ones(4, 3, 12), kp3d=torch.rand(4, 3, 12, 3),
                 kp3d_conf=torch.ones(4, 3, 12), pose=torch.zeros(4, 3, 72), betas=torch.zeros(4, 3, 10),
                 valid=torch.ones(4, 3, dtype=torch.bool), has_kp2d=torch.ones(4, 3, dtype=torch.bool),
                 has_kp3d=torch.ones(4, 3, dtype=torch.bool), has_smpl=torch.ones(4, 3, dtype=torch.bool))
    kp3d = tg.kp3d.clone()
    inputs = ModelInputs(rgb=x.clone())
    truncate(inputs, tg, 1.0, torch.Generator().manual_seed(0))
    out = inputs.rgb
    assert torch.all(out[2, 1] == 0)  # a missed frame stays missed
    torch.testing.assert_close(tg.kp3d, kp3d)
    for b in range(4):
        for t in range(3):
            if b == 2 and t == 1:
                continue
            lost = out[b, t, :, 3] < 0.5
            assert 0 < int(lost.sum()) < 33 and bool(lost[27:].all())  # the feet are always past the line
            assert not bool(lost[:11].any())  # the head never is
            assert bool((out[b, t, lost, 4] < 0.5).all())  # outside the frame: BlazePose's presence low too
            torch.testing.assert_close(out[b, t, ~lost, 4], x[b, t, ~lost, 4])
            seen = out[b, t, ~lost, :2]
            # the live crop: 1.2 × the longer side of the visible landmarks' box, centred on it
            half = (seen.amax(0) - seen.amin(0)) / 2
            torch.testing.assert_close(half.max(), torch.tensor(1 / 1.2), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close((seen.amax(0) + seen.amin(0)) / 2, torch.zeros(2), atol=1e-5, rtol=1e-5)
            # 2D targets move with the crop: where a landmark kept its place, its target is on it
            kept = ~lost[:12]
            torch.testing.assert_close(out[b, t, :12][kept][:, :2], tg.kp2d[b, t][kept], atol=1e-5, rtol=1e-5)
    untouched = ModelInputs(rgb=x.clone())
    truncate(untouched, Targets(**{k: v if v is None else v.clone() for k, v in vars(tg).items()}), 0.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(untouched.rgb, x)


def test_the_v_stream_reads_world_landmarks_in_the_region_axes_live_and_in_training():
    """``Landmarks.world`` is in the image's axes (MediaPipe's); the V-stream reads them turned back into the axes of
    the region BlazePose saw, as it was trained — live (``PersonInputs``) and from shards (``shard_features``, with
    the region's angle from ``mp_roi``) alike."""
    from realtime.detection import PersonPose
    from realtime.detection.blazepose import Roi
    from realtime.detection.landmarks import Landmarks
    from realtime.detection.tracker import Track
    from realtime.person_inputs import PersonInputs
    from training.blazepose_input import world_in_image_axes, world_in_region_axes

    rng = np.random.default_rng(3)
    xy, z, vis, pres, region_world = _landmarks(rng)
    angle = np.pi / 2  # a person lying: the region turned a quarter turn
    image_world = world_in_image_axes(region_world, angle)
    np.testing.assert_allclose(image_world[:, :2], np.stack([-region_world[:, 1], region_world[:, 0]], 1), atol=1e-6)
    np.testing.assert_allclose(world_in_region_axes(image_world, angle), region_world, atol=1e-6)
    lm = Landmarks(xy=xy.astype(np.float32), z=z.astype(np.float32), visibility=vis.astype(np.float32),
                   presence=pres.astype(np.float32), score=0.9, roi=Roi(500, 500, 400, angle),
                   aux_xy=np.zeros((2, 2), np.float32), world=image_world.astype(np.float32))
    box = np.array([280, 280, 720, 720], np.float32)
    live = PersonInputs(128, ("rgb",), rgb_input="blazepose").build(np.zeros((1000, 1000, 3), np.uint8), [PersonPose(Track(0, box, box, 1.0, 0), lm)])
    np.testing.assert_allclose(live.inputs["rgb"][0, :, 5:8], region_world, atol=1e-5)
    mp = {"mp_landmarks": np.zeros((1, 33, 5), np.float32), "mp_world": image_world[None].astype(np.float32),
          "mp_roi": np.array([[0.0, 0.0, 2.0, angle]], np.float32), "mp_score": np.ones(1, np.float32), "mp_found": np.ones(1, bool)}
    np.testing.assert_allclose(shard_features(mp)[0, :, 5:8], region_world, atol=1e-5)


def test_roll_turns_the_image_side_of_a_clip_and_its_targets_alike():
    """``roll``: a camera turned about its axis. The image landmarks, the 2D targets and the flow turn about the crop's
    centre by one angle per clip; the 3D targets and the body's root orientation turn about the camera's axis by the
    same angle (the body model posed with the new root gives the turned joints); the world landmarks in the region's
    axes, depth, confidences and score do not change; a missed frame stays all zeros."""
    from training.batches import ModelInputs, Targets, roll
    from training.body import BodyModel
    from training.body.rotations import axis_angle_to_matrix

    b, t, s = 3, 2, 32
    x = _standing_landmarks(b, t)
    x[1, 0] = 0  # a missed frame
    body = BodyModel.open()
    pose = torch.randn(b, t, 72) * 0.3
    with torch.no_grad():
        joints = body(pose.reshape(-1, 72), torch.zeros(b * t, 10)).joints.reshape(b, t, -1, 3)
    flow = torch.zeros(b, t, 2, s, s)
    flow[:, :, 0] = 1.5  # everything moves right by 1.5 px
    tg = Targets(kp2d=x[..., :12, :2].clone(), kp2d_conf=torch.ones(b, t, 12), kp3d=joints.clone(),
                 kp3d_conf=torch.ones(b, t, joints.shape[2]), pose=pose.clone(), betas=torch.zeros(b, t, 10),
                 valid=torch.ones(b, t, dtype=torch.bool), has_kp2d=torch.ones(b, t, dtype=torch.bool),
                 has_kp3d=torch.ones(b, t, dtype=torch.bool), has_smpl=torch.ones(b, t, dtype=torch.bool))
    inputs = ModelInputs(rgb=x.clone(), flow=flow.clone())
    roll(inputs, tg, 1.0, torch.Generator().manual_seed(3))
    out = inputs.rgb
    assert torch.all(out[1, 0] == 0)
    torch.testing.assert_close(out[..., 2:], x[..., 2:])  # depth, confidences, region-axes world, score
    with torch.no_grad():
        posed = body(tg.pose.reshape(-1, 72), torch.zeros(b * t, 10)).joints.reshape(b, t, -1, 3)
    for i in range(b):
        # the clip's angle, from its first found frame's landmarks
        f = 1 if i == 1 else 0
        a0, a1 = x[i, f, 0, :2], out[i, f, 0, :2]
        angle = torch.atan2(a1[1], a1[0]) - torch.atan2(a0[1], a0[0])
        c, s_ = torch.cos(angle), torch.sin(angle)
        r2 = torch.stack([torch.stack([c, -s_]), torch.stack([s_, c])])
        found = x[i, :, 0, 8] > 0
        torch.testing.assert_close(out[i][found][..., :2], x[i][found][..., :2] @ r2.T, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(tg.kp2d[i], x[i, :, :12, :2] @ r2.T, atol=1e-5, rtol=1e-5)
        r3 = torch.eye(3)
        r3[:2, :2] = r2
        torch.testing.assert_close(tg.kp3d[i], joints[i] @ r3.T, atol=1e-5, rtol=1e-5)
        centred = lambda j: j - j[..., :1, :]  # noqa: E731  (about the root joint)
        torch.testing.assert_close(centred(posed[i]), centred(joints[i]) @ r3.T, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(axis_angle_to_matrix(tg.pose[i, :, 3:].reshape(-1, 3)),
                                   axis_angle_to_matrix(pose[i, :, 3:].reshape(-1, 3)), atol=1e-5, rtol=1e-5)
        centre = inputs.flow[i, :, :, s // 2 - 4:s // 2 + 4, s // 2 - 4:s // 2 + 4]  # away from the zero corners
        torch.testing.assert_close(centre.mean((-1, -2)), (torch.tensor([1.5, 0.0]) @ r2.T).expand(t, 2), atol=1e-4, rtol=1e-4)
    off = ModelInputs(rgb=x.clone(), flow=flow.clone())
    roll(off, tg, 0.0, torch.Generator().manual_seed(3))
    torch.testing.assert_close(off.rgb, x)
