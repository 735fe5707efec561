"""``dtsvibe-eval --frames TEST.npz --images DIR``: generated still frames written in the SPIN/mmpose layout, run
through the live path with a small random-model bundle; the reader, the masked errors, the one-line errors and the
console script's dispatch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realtime.frames_eval import FIT_ROW, MEDIAPIPE_ROW, eval_main
from training.baselines import evaluation_joints, joint_errors
from training.data.still_frames import H36M17_TO_LSP14, read_still_frames

UP, CANVAS, OFFSET = 2, (320, 352), (24, 48)  # crops upscaled ×2, pasted at (row, col) into a larger image


def _needs_live_path():
    pytest.importorskip("moderngl", reason="synthetic rendering needs moderngl (pip install moderngl)")
    pytest.importorskip("mediapipe", reason="BlazePose's models ship in the mediapipe wheel")
    pytest.importorskip("onnxruntime", reason="ONNX Runtime runs the engine bundle")
    pytest.importorskip("onnx", reason="the onnx package is needed by torch.onnx.export")
    from training.synthetic.render import gl_available

    if not gl_available():  # pragma: no cover - machine dependent
        pytest.skip("no headless OpenGL 3.3 context through EGL (install libegl1/libgl1/Mesa)")


@pytest.fixture(scope="module")
def frames_set(tmp_path_factory):
    """4 generated frames (2 clips × 2) as images, with ``spin.npz`` (SPIN-24, metres) and ``h36m.npz``
    (Human3.6M-17 from the body's own H36M joints, millimetres): ``training.synthetic.still_frames``, as
    ``tools/make_still_frames.py`` writes them."""
    _needs_live_path()
    from training.synthetic import SyntheticConfig, SyntheticGenerator
    from training.synthetic.still_frames import write_still_frames

    root = tmp_path_factory.mktemp("frames")
    gen = SyntheticGenerator(seed=3, config=SyntheticConfig(seq_len=4, crop_size=128))
    kinds = write_still_frames(gen, range(2), root, frames=(0, 3), upscale=UP, canvas=CANVAS, offset=OFFSET)
    assert sum(kinds.values()) == 4
    return root


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A random lite model (small crops, window 8) exported as an ONNX bundle."""
    _needs_live_path()
    from engines.build.onnx_export import export_bundle
    from training.checkpoint import save_checkpoint
    from training.config import load_model_config
    from training.model import build_model

    torch.manual_seed(0)
    cfg = load_model_config("lite", ["input.crop_size=64", "input.seq_len=8", "streams.rgb.pretrained=none", "streams.flow.pretrained=none"])
    root = tmp_path_factory.mktemp("bundle")
    ckpt = save_checkpoint(root / "model.pt", build_model(cfg).eval(), cfg)
    export_bundle(ckpt, root / "random_lite", max_persons=2)
    return root / "random_lite"


def _run(frames_set, bundle, npz, out, *extra):
    return eval_main(["--frames", str(frames_set / npz), "--images", str(frames_set / "images"), "--bundle", str(bundle),
                      "--out", str(out), "--fit-iters", "30", "--no-progress", *extra])


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def _check_report(data, frames):
    rows = {r["method"]: r for r in data["rows"]}
    assert list(rows) == ["random_lite", MEDIAPIPE_ROW, FIT_ROW]
    assert data["frames"] == frames and 0 < data["found"] <= frames and data["misses"] == frames - data["found"]
    assert all(r["frames"] == frames and r["found"] == data["found"] for r in rows.values())  # same frames in every row
    for name, r in rows.items():
        assert all(_finite(r["limbs12"][k]) for k in ("mpjpe", "pa_mpjpe")), name
        if name == MEDIAPIPE_ROW:
            assert r["lsp14"] is None  # no neck, no head top
        else:
            assert all(_finite(r["lsp14"][k]) for k in ("mpjpe", "pa_mpjpe")), name
    # MediaPipe and the fit to it see the generated person: far from a random body (plausible, not a measured bound)
    for name in (MEDIAPIPE_ROW, FIT_ROW):
        assert rows[name]["limbs12"]["mpjpe"] < 400 and rows[name]["limbs12"]["pa_mpjpe"] < 300, name
    assert data["window"] == 8 and data["fit_iters"] == 30
    return rows


def test_spin24_frames_through_the_live_path(frames_set, bundle, tmp_path, capsys):
    out = tmp_path / "report"
    assert _run(frames_set, bundle, "spin.npz", out) == 0
    stdout = capsys.readouterr().out
    assert "| method | LSP-14 MPJPE | LSP-14 PA-MPJPE | limbs-12 MPJPE | limbs-12 PA-MPJPE | frames | found by MediaPipe |" in stdout
    for row in ("| random_lite |", f"| {MEDIAPIPE_ROW} |", f"| {FIT_ROW} |"):
        assert row in stdout
    assert "in metres" in stdout and "each image 8 times" in stdout
    assert {p.name for p in out.iterdir()} == {"spin.md", "spin.json"}
    data = json.loads((out / "spin.json").read_text())
    assert data["layout"] == "SPIN-24" and data["units"] == "m" and data["joints"] == "lsp"
    _check_report(data, 4)
    md = (out / "spin.md").read_text()
    assert md.startswith("# Still frames through the live path: spin.npz") and f"| {MEDIAPIPE_ROW} | – | – |" in md


def test_h36m17_millimetre_frames(frames_set, bundle, tmp_path, capsys):
    out = tmp_path / "report"
    assert _run(frames_set, bundle, "h36m.npz", out, "--max-frames", "2") == 0
    assert "in millimetres" in capsys.readouterr().out
    data = json.loads((out / "h36m.json").read_text())
    assert data["layout"] == "Human3.6M-17" and data["units"] == "mm" and data["frames_in_file"] == 4
    assert data["joints"] == "h36m"  # the file's joints key: labelled with the body's Human3.6M joints
    rows = _check_report(data, 2)
    assert _run(frames_set, bundle, "h36m.npz", tmp_path / "lsp", "--max-frames", "2", "--joints", "lsp") == 0
    lsp = json.loads((tmp_path / "lsp" / "h36m.json").read_text())
    assert lsp["joints"] == "lsp" and "--joints lsp" in (tmp_path / "lsp" / "h36m.md").read_text()
    assert lsp["rows"][1] == data["rows"][1]  # MediaPipe's row keeps its own landmarks
    assert lsp["rows"][0]["limbs12"] != rows["random_lite"]["limbs12"]  # the model's points moved with --joints


def test_h36m_definition_matches_human36m_labels():
    """Scored on a Human3.6M label of its own pose, the body is exact under ``h36m`` (its mesh's H36M joints, as
    ``tools/make_still_frames.py`` labels renders and SPIN/VIBE score Human3.6M) and several cm off under ``lsp``:
    the hips and neck are other points."""
    from training.body import BodyModel

    body = BodyModel.open()
    torch.manual_seed(0)
    with torch.no_grad():
        out = body(torch.randn(3, 24, 3) * 0.3, torch.randn(3, 10))
        label = body.joint_set(out, "h36m17")[:, H36M17_TO_LSP14].numpy()  # the generator's h36m.npz, in LSP order
        spin49 = body.joint_set(out, "spin49")
        h36m = evaluation_joints(body, "h36m", out.vertices, spin49).numpy()
        lsp = evaluation_joints(body, "lsp", out.vertices, spin49).numpy()
    assert np.abs(h36m - label).max() < 1e-5
    m_h36m, _ = joint_errors(h36m, label)
    m_lsp, _ = joint_errors(lsp, label)
    assert m_h36m.max() < 0.01 and m_lsp.min() > 10  # mm: the LSP hips' offset reaches every joint through the centring
    hips = np.linalg.norm(lsp[:, 2:4] - label[:, 2:4], axis=-1)
    # the knees and ankles are nearly the same points (the kinematic chain's joints against the posed mesh's, mm apart)
    assert hips.min() > 0.02 and np.linalg.norm(lsp[:, :2] - label[:, :2], axis=-1).max() < 0.005
    with pytest.raises(ValueError, match="unknown joint definition"):
        evaluation_joints(body, "coco", out.vertices, spin49)


def test_reader_maps_h36m17_onto_lsp14(frames_set):
    """The two files describe the same bodies: the H36M joints mapped to LSP-14 (mm → m) land on the SPIN-24
    labels (the joints' definitions differ by a few cm; a left/right swap would be tens of cm off)."""
    spin, h36m = read_still_frames(frames_set / "spin.npz"), read_still_frames(frames_set / "h36m.npz")
    assert (spin.units, h36m.units) == ("m", "mm") and spin.labelled.all() and h36m.labelled.all()
    assert spin.imgname == h36m.imgname and np.allclose(spin.boxes, h36m.boxes)
    dist = np.linalg.norm(spin.lsp14 - h36m.lsp14, axis=-1)  # (4, 14), metres
    limbs = dist[:, :12]
    assert limbs.mean() < 0.05 and limbs.max() < 0.1
    swapped = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]  # right ↔ left
    assert np.linalg.norm(spin.lsp14 - h36m.lsp14[:, swapped], axis=-1)[:, :12].mean() > 3 * limbs.mean()
    assert H36M17_TO_LSP14 == [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]
    assert (spin.joints, h36m.joints) == ("lsp", "h36m")  # each file says which of the body's points its labels are
    assert spin.subset([1]).joints == "lsp"


def test_reader_confidence_units_and_boxes(tmp_path):
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.normal(scale=300, size=(3, 24, 3)), np.ones((3, 24, 1))], -1)
    s[0, 5, 3] = 0  # an unlabelled joint
    np.savez(tmp_path / "f.npz", imgname=np.array(["a.jpg", "b.jpg", "c.jpg"]), center=np.full((3, 2), 100.0),
             scale=np.array([1.0, 0.5, 2.0]), S=s)
    f = read_still_frames(tmp_path / "f.npz")
    assert f.units == "mm" and f.layout == "SPIN-24" and len(f) == 3
    np.testing.assert_allclose(f.lsp14[1], s[1, :14, :3] / 1000, rtol=1e-6)
    assert not f.labelled[0, 5] and f.labelled.sum() == 3 * 14 - 1
    np.testing.assert_allclose(f.boxes[1], [50, 50, 150, 150])  # side = scale · 200, centred on center
    assert f.subset([2]).imgname == ["c.jpg"]
    assert f.joints is None  # a data set's own file does not say: dtsvibe-eval scores Human3.6M's points


def test_joint_errors_over_labelled_joints():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(5, 14, 3))
    r = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64)).Q.numpy()
    r *= np.sign(np.linalg.det(r))
    moved = 1.7 * target @ r.T + 0.3  # a similarity of the target: PA-MPJPE 0
    m, pa = joint_errors(moved, target)
    assert np.all(pa < 1e-6) and np.all(m > 10)
    m, pa = joint_errors(target + 0.01, target)  # a shift: MPJPE 0 after the mid-hips
    assert np.all(m < 1e-6)
    pred = target.copy()
    pred[:, 13] += 5.0  # a wild head top, unlabelled in every frame …
    labelled = np.ones((5, 14), bool)
    labelled[:, 13] = False
    m, pa = joint_errors(pred, target, labelled)
    assert np.all(m < 1e-6) and np.all(pa < 1e-6)  # … does not count
    labelled[0, 2] = False  # no right hip: no MPJPE for that frame, PA-MPJPE still
    m, pa = joint_errors(pred, target, labelled)
    assert np.isnan(m[0]) and np.all(np.isfinite(m[1:])) and np.isfinite(pa[0])


# -- video sequences (VIBE test db) --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video_set(tmp_path_factory):
    """4 consecutive generated frames of one clip as images, with ``spin.npz`` and ``videos_db.pt`` (the same labels
    as a VIBE test db of one video), as ``tools/make_still_frames.py`` writes them; and ``reversed.pt``, that db with
    its rows stored last frame first."""
    _needs_live_path()
    from training.data.vibe_format import read_vibe_db, write_vibe_db
    from training.synthetic import SyntheticConfig, SyntheticGenerator
    from training.synthetic.still_frames import write_still_frames

    root = tmp_path_factory.mktemp("video")
    gen = SyntheticGenerator(seed=3, config=SyntheticConfig(seq_len=4, crop_size=128))
    assert sum(write_still_frames(gen, range(1), root, frames=(0, 1, 2, 3), upscale=UP, canvas=CANVAS, offset=OFFSET).values()) == 4
    db = read_vibe_db(root / "videos_db.pt")
    write_vibe_db(root / "reversed.pt", {k: v[::-1] for k, v in db.items()})
    return root


def test_vibe_db_sequences_play_as_videos(video_set, bundle, tmp_path, capsys):
    from training.data.still_frames import read_test_frames

    spin = read_still_frames(video_set / "spin.npz")
    for name in ("videos_db.pt", "reversed.pt"):  # the reader puts a sequence's frames in frame_id order
        frames = read_test_frames(video_set / name)
        assert frames.sequence == ["c0000"] * 4 and frames.frame_id.tolist() == [0, 1, 2, 3] and frames.joints == "lsp"
        assert frames.imgname == spin.imgname and np.allclose(frames.lsp14, spin.lsp14, atol=1e-6)
        assert np.allclose(frames.boxes, spin.boxes, atol=1e-3)
    out = tmp_path / "report"
    assert eval_main(["--frames", str(video_set / "reversed.pt"), "--images", str(video_set / "images"), "--bundle", str(bundle),
                      "--out", str(out), "--fit-iters", "30", "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert "1 sequences played as videos at 30 fps" in stdout and "limbs-12 Accel" in stdout
    data = json.loads((out / "reversed.json").read_text())
    assert data["sequences"] == 1 and data["fps"] == 30 and data["layout"] == "VIBE db (spin49)" and data["joints"] == "lsp"
    rows = _check_report(data, 4)
    assert data["found"] == 4  # the rendered person in every frame: three consecutive frames give an Accel per row
    assert all(_finite(r["accel"]) and r["accel"] >= 0 for r in rows.values())
    assert (out / "reversed.md").read_text().startswith("# Video sequences through the live path: reversed.pt")
    assert eval_main(["--frames", str(video_set / "videos_db.pt"), "--images", str(video_set / "images"), "--fps", "0"]) == 2


def test_accel_counts_three_consecutive_found_frames():
    """Accel: the second difference of the prediction against the labels', limbs centred on their hips, only where three
    consecutive frames (frame_id) of one sequence were found."""
    from realtime.frames_eval import accel
    from training.baselines import LIMBS12
    from training.data.still_frames import StillFrames

    n = 6
    t = np.arange(n, dtype=np.float32)
    lsp14 = np.zeros((n, 14, 3), np.float32)
    lsp14[:, 0, 0] = 0.012 * t**2  # right ankle: accelerates 24 mm/frame² against the hips; the labels hold it
    frames = StillFrames(Path("x.pt"), [f"{i}.png" for i in range(n)], np.zeros((n, 2)), np.ones((n, 2)), lsp14,
                         np.ones((n, 14), bool), "VIBE db (spin49)", "m", 0.5, "lsp", ["a"] * 3 + ["b"] * 3,
                         np.array([0, 1, 2, 0, 1, 3]))
    still = np.zeros((n, 12, 3), np.float32)  # a prediction that never moves: off by the labels' 24 mm/frame² on 1 of 12 joints
    found = np.ones(n, bool)
    assert accel(still, frames, found) == pytest.approx(24.0 / 12)  # sequence a only: b skips frame 2
    assert accel(lsp14[:, LIMBS12], frames, found) == pytest.approx(0.0)
    found[1] = False
    assert accel(still[found], frames, found) is None  # no three consecutive found frames left
    frames.sequence = None
    assert accel(still, frames, np.ones(n, bool)) is None  # still frames: no Accel


# -- one-line errors -----------------------------------------------------------------------------------------
@pytest.fixture
def small_set(tmp_path):
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((32, 32, 3), np.uint8))
    np.savez(tmp_path / "ok.npz", imgname=np.array(["a.png"]), center=np.array([[16.0, 16.0]]), scale=np.array([0.1]),
             S=np.ones((1, 17, 4), np.float32))
    return tmp_path


def _one_line_error(capsys, argv, *needles):
    assert eval_main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dtsvibe-eval: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_one_line_errors(small_set, capsys):
    d = small_set
    images = ["--images", str(d / "images"), "--out", str(d / "out")]
    _one_line_error(capsys, ["--frames", str(d / "missing.npz"), *images], "missing.npz", "does not exist", "imgname (N,), center (N, 2), scale")
    (d / "text.npz").write_text("not a zip")
    _one_line_error(capsys, ["--frames", str(d / "text.npz"), *images], "text.npz", "not a readable .npz")
    np.save(d / "array.npy", np.ones((1, 24, 4)))
    _one_line_error(capsys, ["--frames", str(d / "array.npy"), *images], "array.npy", "one array, not an .npz")
    np.savez(d / "nokey.npz", imgname=np.array(["a.png"]), center=np.zeros((1, 2)), S=np.ones((1, 24, 4)))
    _one_line_error(capsys, ["--frames", str(d / "nokey.npz"), *images], "nokey.npz", "no scale", "(N, 24, 4)")
    np.savez(d / "shape.npz", imgname=np.array(["a.png"]), center=np.zeros((1, 2)), scale=np.ones(1), S=np.ones((1, 15, 4)))
    _one_line_error(capsys, ["--frames", str(d / "shape.npz"), *images], "S has shape (1, 15, 4)", "(N, 17, 4)")
    np.savez(d / "center.npz", imgname=np.array(["a.png"]), center=np.zeros((1, 3)), scale=np.ones(1), S=np.ones((1, 24, 4)))
    _one_line_error(capsys, ["--frames", str(d / "center.npz"), *images], "center has shape (1, 3)", "(1, 2)")
    np.savez(d / "objects.npz", imgname=np.array(["a.png"], dtype=object), center=np.zeros((1, 2)), scale=np.ones(1),
             S=np.ones((1, 24, 4)))
    _one_line_error(capsys, ["--frames", str(d / "objects.npz"), *images], "imgname is stored as Python objects", "re-save")
    ok = ["--frames", str(d / "ok.npz")]
    _one_line_error(capsys, [*ok, "--images", str(d / "nowhere"), "--out", str(d / "out")], "--images", "nowhere", "is not a folder", "a.png")
    (d / "images" / "a.png").unlink()
    _one_line_error(capsys, [*ok, *images], "1 of the 1 images", "a.png", "missing")
    cv2.imwrite(str(d / "images" / "a.png"), np.zeros((32, 32, 3), np.uint8))
    _one_line_error(capsys, [*ok, *images, "--bundle", str(d / "no_bundle")], "no_bundle", "no such engine bundle folder")
    _one_line_error(capsys, [*ok, *images, "--max-frames", "0"], "--max-frames 0")
    np.savez(d / "joints.npz", imgname=np.array(["a.png"]), center=np.array([[16.0, 16.0]]), scale=np.array([0.1]),
             S=np.ones((1, 17, 4), np.float32), joints=np.array("coco"))
    _one_line_error(capsys, ["--frames", str(d / "joints.npz"), *images], "joints.npz", "joints key is not one of lsp, h36m")
    assert not (d / "out" / "ok.json").exists()


def test_dtsvibe_eval_dispatches(tmp_path, capsys):
    """``--frames``/``--images`` → still frames; anything else → the checkpoint evaluation, unchanged."""
    assert eval_main(["--frames", "--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--frames", "--images", "--bundle", "--out", "--max-frames", "--fit-iters"):
        assert opt in out
    assert eval_main([str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        eval_main(["--help"])
    out = capsys.readouterr().out
    assert "CHECKPOINT" in out and "--frames TEST.npz --images DIR" in out
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'dtsvibe-eval = "realtime.frames_eval:eval_main"' in pyproject


def test_make_still_frames_tool(tmp_path, capsys):
    """``tools/make_still_frames.py``: one clip's frames readable by the reader; a folder it cannot write is one line."""
    from tools.make_still_frames import main

    assert main(["--out", "/proc/no_such_place", "--clips", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "/proc/no_such_place" in err and "--out" in err
    assert main(["--out", str(tmp_path), "--clips", "0"]) == 2
    _needs_live_path()
    assert main(["--out", str(tmp_path), "--clips", "1", "--crop", "64", "--frames", "0", "7", "--seed", "3"]) == 0
    frames = read_still_frames(tmp_path / "spin.npz")
    assert len(frames.imgname) == 2 and all((tmp_path / "images" / n).is_file() for n in frames.imgname)
    assert read_still_frames(tmp_path / "h36m.npz").layout == "Human3.6M-17"
