"""Motion discriminator: shapes, attention pooling, gradients, the config builder."""

from __future__ import annotations

import pytest
import torch

from training.config import load_model_config
from training.model.discriminator import (
    BODY_POSE_6D_DIM,
    AttentionPooling,
    MotionDiscriminator,
    body_pose_6d,
    build_discriminator,
)


def small(**kw) -> MotionDiscriminator:
    torch.manual_seed(0)
    return MotionDiscriminator(hidden_dim=32, num_layers=2, attention_dim=16, **kw)


@pytest.mark.parametrize("seq_len", [16, 8])
def test_score_shape_and_attention_sums_to_one(seq_len):
    disc = small().eval()
    x = torch.randn(3, seq_len, BODY_POSE_6D_DIM)
    with torch.no_grad():
        score, weights = disc(x, return_attention=True)
        assert score.shape == (3, 1) and weights.shape == (3, seq_len)
        assert torch.allclose(weights.sum(1), torch.ones(3), atol=1e-6)
        assert (weights > 0).all()
        assert torch.allclose(disc(x), score)


def test_pooling_is_the_attention_weighted_sum():
    pool = AttentionPooling(8, attention_dim=4, layers=3, dropout=0.0)
    h = torch.randn(2, 5, 8)
    pooled, w = pool(h)
    assert torch.allclose(pooled, (w.unsqueeze(-1) * h).sum(1), atol=1e-6)
    assert AttentionPooling(8, layers=1)(h)[0].shape == (2, 8)


def test_gradients_flow_to_input_and_parameters():
    disc = small()
    x = torch.randn(2, 16, BODY_POSE_6D_DIM, requires_grad=True)
    disc(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert x.grad[:, 0].abs().sum() > 0  # the first frame reaches the score through the GRU
    for name, p in disc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_scores_depend_on_motion_order():
    disc = small().eval()
    x = torch.randn(1, 8, BODY_POSE_6D_DIM)
    with torch.no_grad():
        assert not torch.allclose(disc(x), disc(x.flip(1)))


def test_bad_input_shape_and_other_pose_dim():
    disc = small()
    with pytest.raises(ValueError, match=rf"\(N, T, {BODY_POSE_6D_DIM}\)"):
        disc(torch.randn(2, 16, 144))
    aa = small(pose_dim=69)
    assert aa(torch.randn(2, 4, 69)).shape == (2, 1)


def test_body_pose_6d_drops_the_root():
    pose = torch.randn(2, 16, 24, 6)
    body = body_pose_6d(pose)
    assert body.shape == (2, 16, BODY_POSE_6D_DIM) == (2, 16, 138)
    assert torch.equal(body[:, :, :6], pose[:, :, 1])
    assert torch.equal(body_pose_6d(pose.flatten(2)), body)
    with pytest.raises(ValueError):
        body_pose_6d(torch.randn(2, 16, 72))


def test_build_from_config():
    cfg = load_model_config("lite")
    disc = build_discriminator(cfg)
    assert disc.gru.hidden_size == cfg.discriminator.hidden_dim
    assert disc.gru.num_layers == cfg.discriminator.layers
    assert disc.pool.score[0].out_features == cfg.discriminator.attention_dim
    same = build_discriminator(cfg.discriminator)
    assert sum(p.numel() for p in same.parameters()) == sum(p.numel() for p in disc.parameters())
    with torch.no_grad():
        assert disc(torch.randn(2, cfg.input.seq_len, BODY_POSE_6D_DIM)).shape == (2, 1)
