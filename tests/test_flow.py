"""Optical flow: providers follow the project's backward-flow convention, the learned network's shapes,
ONNX parity and trainability, and the photometric warp on generated clips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.flow import DISFlow, FarnebackFlow, make_provider, PROVIDER_NAMES, sequence_flow, denormalise_imagenet
from training.flow.providers import normalise_imagenet

ROOT = Path(__file__).resolve().parents[1]
SHIFT = (3, -2)  # content moves 3 px right and 2 px up from prev to curr → backward flow (-3, +2)


def _texture(size: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)


def _shifted_pair(s: int = 96, dx: int = SHIFT[0], dy: int = SHIFT[1]):
    """prev, curr (s×s) with curr(x, y) = prev(x − dx, y − dy)."""
    base = _texture()
    o = 20
    prev = base[o : o + s, o : o + s].copy()
    curr = base[o - dy : o - dy + s, o - dx : o - dx + s].copy()
    return prev, curr


# -- providers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dis", "dis-fast", "dis-medium", "farneback"])
def test_provider_shift_gives_backward_flow(name):
    prev, curr = _shifted_pair()
    f = make_provider(name).flow(prev, curr)
    assert f.shape == (2, 96, 96) and f.dtype == np.float32
    inner = f[:, 16:-16, 16:-16].reshape(2, -1)
    med = np.median(inner, axis=1)
    np.testing.assert_allclose(med, [-SHIFT[0], -SHIFT[1]], atol=0.3)


def test_dis_direction_and_warp():
    """The DIS flow of curr, used to sample prev at p + flow(p), reproduces curr (backward convention)."""
    prev, curr = _shifted_pair()
    f = DISFlow("medium").flow(prev, curr)
    ys, xs = np.mgrid[0:96, 0:96].astype(np.float32)
    warped = cv2.remap(prev, xs + f[0], ys + f[1], cv2.INTER_LINEAR)
    err = np.abs(warped.astype(np.float32) - curr)[16:-16, 16:-16].mean()
    wrong = cv2.remap(prev, xs - f[0], ys - f[1], cv2.INTER_LINEAR)
    err_wrong = np.abs(wrong.astype(np.float32) - curr)[16:-16, 16:-16].mean()
    assert err < 3.0 and err_wrong > 3 * err


def test_provider_batch_grey_bgr_and_errors():
    prev, curr = _shifted_pair(64)
    dis = make_provider("dis-ultrafast", channel_order="bgr")
    assert dis.name == "dis-ultrafast" and make_provider("dis").name == "dis-medium"
    out = dis.flow_batch(np.stack([prev, prev]), np.stack([curr, curr]))
    assert out.shape == (2, 2, 64, 64) and out.dtype == np.float32
    grey = FarnebackFlow().flow(cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY), cv2.cvtColor(curr, cv2.COLOR_RGB2GRAY))
    assert grey.shape == (2, 64, 64)
    with pytest.raises(ValueError, match="uint8"):
        dis.flow(prev.astype(np.float32), curr)
    with pytest.raises(ValueError, match="differ in shape"):
        dis.flow(prev, curr[:32])
    with pytest.raises(ValueError, match="unknown flow provider"):
        make_provider("raft")
    with pytest.raises(ValueError, match="unknown flow provider"):
        make_provider("dis-slow")
    assert {"dis", "farneback", "learned"} <= set(PROVIDER_NAMES)
    seq = sequence_flow(dis, np.stack([prev, curr, curr]))
    assert seq.shape == (3, 2, 64, 64) and not seq[0].any()


def test_learned_provider_missing_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_flow"):
        make_provider("learned", path=tmp_path / "none.onnx")


def test_imagenet_round_trip():
    img = _texture(32)
    np.testing.assert_array_equal(denormalise_imagenet(normalise_imagenet(img)), img)
    np.testing.assert_allclose(normalise_imagenet(img[..., ::-1].copy(), "bgr"), normalise_imagenet(img), atol=1e-6)


def test_package_and_providers_import_without_torch():
    code = ("import sys; import training.flow, training.flow.providers; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


# -- network --------------------------------------------------------------------------------------
torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is fastest, and more spin against other work on a shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _tiny_net():
    from training.flow.network import FlowNetConfig, build_flow_net

    torch.manual_seed(0)
    return build_flow_net(FlowNetConfig(widths=(8, 8, 12, 16), radii=(2, 1, 1), decoder=(16, 12, 8), hidden=8, refine=4))


def test_network_shapes():
    from training.flow.network import build_flow_net

    net = build_flow_net()  # the shipped default size
    x = torch.randn(2, 3, 64, 64)
    out, pyr = net(x, x, pyramid=True)
    assert out.shape == (2, 2, 64, 64) and out.dtype == torch.float32
    assert [p.shape[-1] for p in pyr] == [4, 8, 16, 32]
    with pytest.raises(ValueError, match="divisible by 16"):
        net(torch.randn(1, 3, 40, 40), torch.randn(1, 3, 40, 40))


def test_correlation_and_warp_conventions():
    from training.flow.network import correlation, soft_argmax, warp

    img = torch.from_numpy(_texture(32)[..., 0].astype(np.float32) / 255)[None, None]
    flow = torch.zeros(1, 2, 32, 32)
    flow[:, 0] = 2.0  # sample 2 px to the right
    w = warp(img, flow)
    torch.testing.assert_close(w[..., :, :-2], img[..., :, 2:])
    a = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    c = correlation(a, a, 1)
    assert c.shape == (1, 9, 8, 8)
    assert torch.argmax(c[0, :, 3, 3]) == 4  # zero displacement matches itself best
    shifted = torch.roll(a, shifts=(0, 1), dims=(2, 3))  # b(x + 1) = a(x): displacement dx = +1
    c = correlation(a, shifted, 1)
    flow = soft_argmax(c, 1, sharpness=50.0)
    torch.testing.assert_close(flow[0, :, 3, 3], torch.tensor([1.0, 0.0]), atol=0.05, rtol=0)


def test_onnx_parity_and_learned_provider(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from training.flow.network import export_onnx

    net = _tiny_net().eval()
    path = export_onnx(net, tmp_path / "flow.onnx", crop_size=64)
    prev, curr = _shifted_pair(64)
    a, b = normalise_imagenet(prev)[None], normalise_imagenet(curr)[None]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["flow"], {"prev": a, "curr": b})[0]
    with torch.no_grad():
        ref = net(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert got.shape == (1, 2, 64, 64)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    prov = make_provider("learned", path=path, threads=1)
    np.testing.assert_allclose(prov.flow(prev, curr), ref[0], atol=1e-4)
    # another frame size: resized in and out, flow scaled by the size ratio
    big = prov.flow_batch([cv2.resize(prev, (128, 128))] * 3, [cv2.resize(curr, (128, 128))] * 3)
    assert big.shape == (3, 2, 128, 128)


def test_training_steps_lower_the_loss():
    from training.flow.train import supervised_loss

    net = _tiny_net()
    prev, curr = _shifted_pair(64)
    a = torch.from_numpy(normalise_imagenet(np.stack([prev, curr[:, ::-1].copy()])))
    b = torch.from_numpy(normalise_imagenet(np.stack([curr, prev[:, ::-1].copy()])))
    gt = torch.zeros(2, 2, 64, 64)
    gt[0, 0], gt[0, 1] = -SHIFT[0], -SHIFT[1]
    gt[1, 0], gt[1, 1] = -SHIFT[0], SHIFT[1]  # reversed and mirrored pair
    mask = torch.zeros(2, 64, 64)
    mask[:, 16:48, 16:48] = 1
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        out, pyr = net(a, b, pyramid=True)
        loss, stats = supervised_loss(out, pyr, gt, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert set(stats) == {"epe", "epe_body"}
    assert losses[-1] < 0.8 * losses[0]


# -- generated clips: exact flow and the photometric warp -----------------------------------------
@pytest.fixture(scope="module")
def clip():
    pytest.importorskip("moderngl")
    from training.synthetic import SyntheticConfig, SyntheticVideoDataset

    try:  # procedural motion: a clip that clearly moves (a slow mocap window leaves the warp nothing to show)
        ds = SyntheticVideoDataset(seed=5, length=1, config=SyntheticConfig(seq_len=3, crop_size=96, motion="procedural", p_keyframed=0.0))
        return ds.clip(0)
    except Exception as e:  # pragma: no cover - no EGL on this machine
        pytest.skip(f"synthetic generator unavailable: {e}")


def test_photometric_warp_with_exact_flow_reproduces_the_person(clip):
    from training.flow.train import _normalise, photometric_error

    prev, curr = _normalise(clip["rgb"][1:2]), _normalise(clip["rgb"][2:3])
    flow = torch.from_numpy(clip["flow"][2:3].astype(np.float32))
    mask = torch.from_numpy(clip["mask"][2:3].astype(np.float32))
    # interior of the person (away from the silhouette, where occlusions live)
    inner = torch.from_numpy(cv2.erode(clip["mask"][2].astype(np.uint8), np.ones((5, 5), np.uint8))[None]).float()
    assert inner.sum() > 50
    err, inside = photometric_error(prev, curr, flow)
    err0, _ = photometric_error(prev, curr, torch.zeros_like(flow))
    e_exact = float((err * inner).sum() / inner.sum())
    e_zero = float((err0 * inner).sum() / inner.sum())
    moving = float(torch.linalg.vector_norm(flow, dim=1)[mask > 0].mean())
    assert moving > 0.3, "the test clip should move"
    assert e_exact < 0.6 * e_zero, (e_exact, e_zero)
    assert float(inside.min()) >= 0 and inside.shape == (1, 96, 96)


def test_pair_bank_mirroring_keeps_the_convention(clip, tmp_path):
    """A mirrored training pair (flow dx negated) still warps prev onto curr."""
    from training.flow.train import SyntheticPairBank, photometric_error

    bank = SyntheticPairBank.__new__(SyntheticPairBank)
    bank.rgb = clip["rgb"][None]
    bank.flow = clip["flow"].astype(np.float16)[None]
    bank.mask = clip["mask"][None].astype(np.uint8)
    bank.size = clip["rgb"].shape[1]
    rng = np.random.default_rng(0)
    b = bank.sample(rng, 6, 64)
    assert b["prev"].shape == (6, 3, 64, 64) and b["flow"].shape == (6, 2, 64, 64) and b["mask"].shape == (6, 64, 64)
    err, _ = photometric_error(b["prev"], b["curr"], b["flow"])
    err0, _ = photometric_error(b["prev"], b["curr"], torch.zeros_like(b["flow"]))
    m = b["mask"]
    if m.sum() > 20:
        assert float((err * m).sum()) < float((err0 * m).sum())
