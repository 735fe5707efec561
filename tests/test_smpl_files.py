"""Official SMPL files without chumpy, the extra regressors, joint sets and one-line file errors."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from conftest import make_body_data
from training.body import JOINT_SETS, BodyModel, BodyModelFileError, load_smpl
from training.body.model_file import SMPL_VERTEX_IDS


@pytest.fixture
def fake_chumpy(monkeypatch):
    """A stand-in ``chumpy`` package, importable only while the fixture writes pickles."""

    class Ch:  # pickles like chumpy's Ch: its state dict carries the array under 'x'
        def __init__(self, x):
            self.x = np.asarray(x)
            self.label = "chumpy-like"

        def __getstate__(self):
            return {"x": self.x, "label": self.label}

    pkg = types.ModuleType("chumpy")
    sub = types.ModuleType("chumpy.ch")
    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    sub.Ch = Ch
    pkg.ch = sub
    monkeypatch.setitem(sys.modules, "chumpy", pkg)
    monkeypatch.setitem(sys.modules, "chumpy.ch", sub)
    return Ch


def write_smpl_pickle(folder, data, Ch, name="SMPL_NEUTRAL.pkl"):
    kintree = np.stack([data.parents.astype(np.int64), np.arange(24)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # what official files store for the root's parent
    payload = {
        "v_template": Ch(data.v_template.astype(np.float64)),
        "f": data.faces.astype(np.uint32),
        "shapedirs": Ch(data.shapedirs.astype(np.float64)),
        "posedirs": Ch(data.posedirs.astype(np.float64)),
        "weights": Ch(data.weights.astype(np.float64)),
        "J_regressor": scipy.sparse.csc_matrix(data.j_regressor.astype(np.float64)),
        "kintree_table": kintree,
        "bs_type": "lrotmin",
        "bs_style": "lbs",
    }
    path = folder / name
    with path.open("wb") as fh:
        pickle.dump(payload, fh, protocol=2)
    return path


def test_chumpy_pickle_loads_without_chumpy(tmp_path, fake_chumpy, monkeypatch):
    data = make_body_data(num_vertices=6890, seed=3)
    path = write_smpl_pickle(tmp_path, data, fake_chumpy)
    # Now make chumpy unimportable, as on a user's machine.
    monkeypatch.delitem(sys.modules, "chumpy")
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.setattr(sys, "meta_path", [_BlockChumpy()] + sys.meta_path)
    with pytest.raises(ImportError):
        __import__("chumpy")

    loaded = load_smpl(tmp_path)  # folder form: finds SMPL_NEUTRAL.pkl
    np.testing.assert_allclose(loaded.v_template, data.v_template, atol=1e-6)
    np.testing.assert_allclose(loaded.shapedirs, data.shapedirs, atol=1e-6)
    np.testing.assert_allclose(loaded.posedirs, data.posedirs, atol=1e-6)
    np.testing.assert_allclose(loaded.j_regressor, data.j_regressor, atol=1e-6)
    assert loaded.parents[0] == -1 and tuple(loaded.parents[1:]) == tuple(data.parents[1:])
    assert loaded.posedirs is not None

    body = BodyModel(loaded)
    ref = BodyModel(data)
    pose = torch.randn(2, 72) * 0.3
    torch.testing.assert_close(body(pose=pose).vertices, ref(pose=pose).vertices, atol=1e-5, rtol=0)
    # Surface landmarks on SMPL's topology are defined; the H36M set needs its regressor file.
    assert body.has_joint_set("smpl24") and body.has_joint_set("mediapipe33")
    with pytest.raises(BodyModelFileError, match="J_regressor_h36m.npy"):
        body.joint_set(body(), "h36m17")


class _BlockChumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "chumpy" or name.startswith("chumpy."):
            raise ImportError("chumpy is not installed")
        return None


def test_extra_regressors_complete_every_joint_set(tmp_path, fake_chumpy):
    data = make_body_data(num_vertices=6890, seed=4)
    write_smpl_pickle(tmp_path, data, fake_chumpy)
    rng = np.random.default_rng(0)
    h36m = rng.random((17, 6890)).astype(np.float32)
    extra = rng.random((9, 6890)).astype(np.float32)
    np.save(tmp_path / "J_regressor_h36m.npy", h36m / h36m.sum(1, keepdims=True))
    np.save(tmp_path / "J_regressor_extra.npy", extra / extra.sum(1, keepdims=True))
    body = BodyModel.smpl(tmp_path)
    out = body(pose=torch.randn(3, 24, 3) * 0.2, betas=torch.randn(3, 10))
    for name, names in JOINT_SETS.items():
        assert body.joint_set(out, name).shape == (3, len(names), 3)
    # h36m17 really is the regressor applied to the posed vertices
    expect = torch.einsum("kv,bvc->bkc", torch.as_tensor(h36m / h36m.sum(1, keepdims=True)), out.vertices)
    torch.testing.assert_close(body.joint_set(out, "h36m17"), expect, atol=1e-5, rtol=0)
    # spin49's OpenPose nose is SMPL vertex 332
    torch.testing.assert_close(body.joint_set(out, "spin49")[:, 0], out.vertices[:, SMPL_VERTEX_IDS["nose"]])


def test_regressor_of_another_model_is_refused(tmp_path, fake_chumpy):
    write_smpl_pickle(tmp_path, make_body_data(num_vertices=6890), fake_chumpy)
    np.save(tmp_path / "J_regressor_h36m.npy", np.ones((17, 10475), np.float32))
    with pytest.raises(BodyModelFileError, match=r"J_regressor_h36m.npy: shape \(17, 10475\)"):
        load_smpl(tmp_path)


def test_vertex_ids_match_smplx_published_ids():
    vertex_ids = pytest.importorskip("smplx.vertex_ids").vertex_ids["smplh"]
    names = {"nose": "nose", "reye": "right_eye", "leye": "left_eye", "rear": "right_ear", "lear": "left_ear",
             "LBigToe": "left_big_toe", "LSmallToe": "left_small_toe", "LHeel": "left_heel",
             "RBigToe": "right_big_toe", "RSmallToe": "right_small_toe", "RHeel": "right_heel",
             "lthumb": "left_thumb", "lindex": "left_index", "lpinky": "left_pinky",
             "rthumb": "right_thumb", "rindex": "right_index", "rpinky": "right_pinky"}
    for theirs, ours in names.items():
        assert SMPL_VERTEX_IDS[ours] == vertex_ids[theirs], ours


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg and msg
    return msg


def test_missing_smpl_file_says_where_to_get_it(tmp_path):
    with pytest.raises(BodyModelFileError) as err:
        load_smpl(tmp_path)
    msg = _one_line(err.value)
    assert "SMPL_NEUTRAL.pkl" in msg and "smpl.is.tue.mpg.de" in msg and str(tmp_path) in msg
    with pytest.raises(BodyModelFileError) as err:
        load_smpl(tmp_path / "SMPL_MALE.pkl")
    assert "not found" in _one_line(err.value)


def test_damaged_files_give_one_line(tmp_path, fake_chumpy):
    bad = tmp_path / "SMPL_NEUTRAL.pkl"
    bad.write_bytes(b"\x80\x02}q\x00(X")  # truncated pickle
    with pytest.raises(BodyModelFileError) as err:
        load_smpl(bad)
    assert "cannot unpickle" in _one_line(err.value)

    data = make_body_data(num_vertices=50)
    data.weights = data.weights[:, :20]  # wrong shape
    path = write_smpl_pickle(tmp_path, data, fake_chumpy, name="SMPL_FEMALE.pkl")
    with pytest.raises(BodyModelFileError) as err:
        load_smpl(path)
    msg = _one_line(err.value)
    assert "weights has shape (50, 20)" in msg and "expected (50, 24)" in msg

    trunc = tmp_path / "body.npz"
    trunc.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(BodyModelFileError) as err:
        BodyModel.from_file(trunc)
    assert "damaged or truncated" in _one_line(err.value)


def test_too_many_betas_requested(body_data):
    with pytest.raises(BodyModelFileError, match="num_betas=11"):
        BodyModel(body_data, num_betas=11)


def test_smpl_npz_conversion_loads(tmp_path):
    """An official model converted to .npz (dense arrays, SMPL key names) loads like the pickle."""
    data = make_body_data(num_vertices=6890, seed=7)
    kintree = np.stack([data.parents.astype(np.int64), np.arange(24)])
    path = tmp_path / "SMPL_MALE.npz"
    np.savez(path, v_template=data.v_template, f=data.faces, shapedirs=data.shapedirs, posedirs=data.posedirs,
             weights=data.weights, J_regressor=data.j_regressor, kintree_table=kintree)
    body = BodyModel.smpl(tmp_path, gender="male")
    pose = torch.randn(2, 24, 3) * 0.3
    torch.testing.assert_close(body(pose=pose).vertices, BodyModel(data)(pose=pose).vertices, atol=1e-5, rtol=0)
