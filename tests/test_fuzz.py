"""Input fuzzing (hypothesis) of everything that parses outside data.

Parsers under test and the errors they document:

* YAML configs and ``KEY=VALUE`` overrides (``load_config``, ``load_model_config``, ``load_train_config``,
  ``load_live_config``, ``parse_config``): ``training.config.ConfigError``;
* engine bundle manifests (``engines.manifest.read_manifest``): ``BundleError``;
* VIBE db files (``read_vibe_db``, ``validate_vibe_db``): ``VibeDbError``;
* AMASS ``.npz`` files (``load_amass_npz``, ``AmassMotionDataset``): ``FileNotFoundError``, ``KeyError``,
  ``ValueError``;
* checkpoints (``training.checkpoint.load_checkpoint``): ``CheckpointError`` (``ConfigError`` for the
  configs stored inside);
* ``tools/pseudo_label.py`` (its options, input paths and videos): exit status 2 with one ``error:`` line
  (argparse's own usage errors: SystemExit 2), ``PseudoLabelError`` per video (status 1); the db files it
  writes must read back with ``read_vibe_db``.

Every strategy mixes random garbage with *near-valid* inputs: a valid example (a shipped config, a
manifest dict shaped like ``export_bundle``'s, a small db/npz/checkpoint) mutated a few times (keys
dropped or renamed, values of the wrong type, wrong shapes, NaN/inf, huge numbers, unicode, truncated
or flipped bytes, documents that are not mappings). The property: the call succeeds (and then returns
what it promises), or raises one of the documented errors with a non-empty one-line message.

Runs derandomised with a modest number of examples so the suite stays fast and reproducible; set
``DTSVIBE_FUZZ_RANDOM=1`` for fresh random examples and ``DTSVIBE_FUZZ_SCALE=10`` for ten times as many.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import shutil
import sys
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pytest
import yaml

pytest.importorskip("hypothesis")  # the `test` extra
torch = pytest.importorskip("torch")  # the AMASS reader and checkpoints need it (the `train` extra)
from hypothesis import HealthCheck, Phase, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

_SCALE = float(os.environ.get("DTSVIBE_FUZZ_SCALE", "1"))
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=os.environ.get("DTSVIBE_FUZZ_RANDOM", "") in ("", "0"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
    # DTSVIBE_FUZZ_NOSHRINK=1: report the first failing example as found (shrinking a deep-recursion case is slow).
    phases=[p for p in Phase if not (os.environ.get("DTSVIBE_FUZZ_NOSHRINK") and p in (Phase.shrink, Phase.explain))],
)


def examples(n: int) -> settings:
    return settings(FUZZ, max_examples=max(1, int(n * _SCALE)))


# -- the property ---------------------------------------------------------------------------------------
def assert_one_line(exc: BaseException) -> None:
    msg = str(exc)
    assert msg.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in msg and "\r" not in msg, f"{type(exc).__name__} message is not one line: {msg!r}"


def outcome(call: Callable[[], Any], documented: tuple[type[BaseException], ...]) -> Any:
    """``call()``'s result, or None when it raised a documented error (whose message is then checked).

    Any other exception propagates and fails the test (hypothesis shrinks the input)."""
    try:
        result = call()
    except documented as exc:
        assert_one_line(exc)
        event(f"raised {type(exc).__name__}")  # see --hypothesis-show-statistics
        return None
    event("accepted")
    return result


# -- generic strategies ---------------------------------------------------------------------------------
# Text that can be written to a UTF-8 file or passed on a command line: no lone surrogates, no NUL.
TEXT_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
text = st.text(TEXT_CHARS, max_size=24)
SPECIAL_STRINGS = st.sampled_from(
    ["", " ", "\n", "a\nb", "\t", "é✓𝄞", "ünïcödé", "\u202e", "nan", ".inf", "-0", "1e999", "0x1F", "true", "null",
     "~", "[", "{", "]", "'", '"', "- x", "&a [*a]", "*a", "!!python/object:os.system", "${HOME}", "../../etc/passwd",
     "a" * 300]
)
SPECIAL_NUMBERS = st.sampled_from(
    [0, -1, 1, 2**31, -(2**63), 2**64, 10**30, 0.0, -0.0, 1e-300, 1e300, math.inf, -math.inf, math.nan, 0.5, 1.5]
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), SPECIAL_NUMBERS, text, SPECIAL_STRINGS,
)
KEYS = st.one_of(text, SPECIAL_STRINGS, st.integers(-3, 3), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(text, SPECIAL_STRINGS), inner, max_size=4)),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Paths (key/index tuples) to every node of a nested dict/list structure, the root included."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def _retype(draw: Callable, value: Any) -> Any:
    """``value`` as something of another type (or an extreme of its own)."""
    return draw(st.sampled_from([
        str(value), [value], {"x": value}, None, True, math.nan, math.inf, -1, 0, 2**64, 1e308, "", "é✓𝄞",
        -value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0,
    ]))


@st.composite
def mutated(draw, base: Any, values: st.SearchStrategy = VALUES, keys: st.SearchStrategy = KEYS, max_ops: int = 3) -> Any:
    """``base`` (nested dicts/lists) with 0..max_ops mutations: drop, replace, retype, add, rename."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, max_ops))):
        path = draw(st.sampled_from(_paths(data)))
        op = draw(st.sampled_from(["drop", "replace", "retype", "add", "rename"]))
        if not path:  # the root itself
            if op in ("replace", "retype"):
                data = draw(values) if op == "replace" else _retype(draw, data)
            continue
        parent, last = _get(data, path[:-1]), path[-1]
        node = parent[last]
        if op == "drop":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(values)
        elif op == "retype":
            parent[last] = _retype(draw, node)
        elif op == "add" and isinstance(node, dict):
            node[draw(keys)] = draw(values)
        elif op == "add" and isinstance(node, list):
            node.append(draw(values))
        elif op == "rename" and isinstance(parent, dict):
            new = draw(st.one_of(keys, st.just(str(last) + "s"), st.just(str(last)[:-1]), st.just(str(last).upper())))
            parent[new] = parent.pop(last)
    return data


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    """``data`` unchanged, truncated, with flipped/inserted/deleted bytes."""
    op = draw(st.sampled_from(["same", "truncate", "flip", "insert", "delete", "garbage"]))
    if op == "same" or not data:
        return data if op == "same" else draw(st.binary(max_size=64))
    i = draw(st.integers(0, len(data) - 1))
    if op == "truncate":
        return data[:i]
    if op == "flip":
        j = min(len(data), i + draw(st.integers(1, 8)))
        return data[:i] + bytes(b ^ draw(st.integers(1, 255)) for b in data[i:j]) + data[j:]
    if op == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=16)) + data[i:]
    if op == "delete":
        return data[:i] + data[i + draw(st.integers(1, 64)):]
    return draw(st.binary(max_size=256))


# Texts that have broken real parsers: deep nesting, huge integers, recursive aliases, tags. Deep YAML
# costs PyYAML about half a second, so those few are drawn rarely (test_*_regressions try each of them).
CHEAP_PATHOLOGICAL = [
    "- " * 300 + "x",
    "a: " + "1" * 5000,
    "1" * 5000,
    "&a [*a]",
    "a: &a [*a]\nb: 1",
    "a: !!python/object/apply:os.system ['true']",
    "a: !!binary AAAA",
    "a: 2024-01-01",
    "a: 2024-13-45",
    "? [1, 2]\n: 3",
    "a: 1\na: 2",
    "\ufeffa: 1",
    "%YAML 1.1\n---\na: 1\n---\nb: 2",
    "a:\n\t- 1",
    "\x85\u2028\u2029",
    "",
    "---",
    "null",
    "[1, 2, 3]",
    "just a string",
    '{"format": "dtsvibe-engine-bundle", "version": 1}',
    '{"format": "dtsvibe-engine-bundle", "version": 1, "graphs": [], "files": []}',
    '{"format": "dtsvibe-engine-bundle", "version": 1, "graphs": {"g": 1}, "files": {}}',
    '{"a": ' + "1" * 5000 + "}",
    "[" * 300 + "]" * 300,
]
DEEP_TEXT = ["[" * 1100 + "]" * 1100, "{" * 1100 + "}" * 1100, "[" * 3000]
PATHOLOGICAL_TEXT = st.sampled_from(CHEAP_PATHOLOGICAL * 5 + DEEP_TEXT)


# -- configs -----------------------------------------------------------------------------------------------
from training.config import ConfigError, ModelConfig, TrainConfig, load_config, load_model_config, load_train_config  # noqa: E402
from realtime.config import LiveConfig, load_live_config  # noqa: E402

CONFIG_BASES = {
    "live": (CONFIGS / "live" / "default.yaml", LiveConfig, load_live_config),
    "model": (CONFIGS / "model" / "lite.yaml", ModelConfig, load_model_config),
    "train": (CONFIGS / "train" / "smoke.yaml", TrainConfig, load_train_config),
}


def _base(kind: str) -> dict:
    return yaml.safe_load(CONFIG_BASES[kind][0].read_text(encoding="utf-8"))


def _dotted_keys(node: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}{k}"
            out.append(key)
            out += _dotted_keys(v, key + ".")
    return out


@st.composite
def yaml_documents(draw, base: dict) -> bytes:
    """A config file's bytes: the mutated base dumped as YAML (then maybe damaged), or garbage."""
    kind = draw(st.sampled_from(["near", "near", "near", "damaged", "pathological", "text", "bytes", "yaml-of-values"]))
    if kind in ("near", "damaged"):
        doc = yaml.safe_dump(draw(mutated(base)), allow_unicode=True, sort_keys=False).encode("utf-8")
        return draw(mutated_bytes(doc)) if kind == "damaged" else doc
    if kind == "pathological":
        return draw(PATHOLOGICAL_TEXT).encode("utf-8")
    if kind == "text":
        return draw(st.text(TEXT_CHARS, max_size=200)).encode("utf-8")
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    return yaml.safe_dump(draw(VALUES), allow_unicode=True).encode("utf-8")


YAML_VALUE_TEXT = st.one_of(
    text, SPECIAL_STRINGS, st.sampled_from(CHEAP_PATHOLOGICAL),
    VALUES.map(lambda v: _flow_yaml(v)),  # noqa: PLW0108 (defined below)
)


def _at(base: dict, dotted: str) -> Any:
    node: Any = base
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _flow_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()


@st.composite
def override_lists(draw, base: dict) -> list[str]:
    """``KEY=VALUE`` strings: real keys (sometimes mangled) with odd values, or garbage."""
    keys = _dotted_keys(base) or ["x"]
    items = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            key = orig = draw(st.sampled_from(keys))
            key = draw(st.sampled_from([key, key, key, key + ".x", "." + key, key + ".", key.upper(), key.replace(".", ".."), key + "=", " " + key + " "]))
            value = draw(st.one_of(YAML_VALUE_TEXT, st.just(_at(base, orig)).map(_flow_yaml)))  # odd, or the file's own value
            items.append(f"{key}={value}")
        else:
            items.append(draw(st.one_of(text, SPECIAL_STRINGS, st.just("="), st.just("a.b.c"), st.just("=value"))))
    return items


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("kind", sorted(CONFIG_BASES))
@examples(120)
@given(data=st.data())
def test_config_files_and_overrides(kind, data, fuzz_dir):
    _, schema, loader = CONFIG_BASES[kind]
    base = _base(kind)
    path = fuzz_dir / f"{kind}.yaml"
    path.write_bytes(data.draw(yaml_documents(base), label="file"))
    overrides = data.draw(override_lists(base), label="overrides")
    cfg = outcome(lambda: loader(path, overrides), (ConfigError,))
    if cfg is not None:
        assert isinstance(cfg, schema)
        # What checkpoints and bundles record must load again to the same config.
        assert load_config_text(cfg, schema) == cfg


def load_config_text(cfg, schema):
    from training.config import parse_config, to_yaml

    return parse_config(schema, yaml.safe_load(to_yaml(cfg)), source="<round trip>")


@examples(150)
@given(overrides=override_lists(_base("live")))
def test_overrides_on_a_valid_file(overrides):
    """Overrides alone, on the shipped file (how ``dtsvibe-live KEY=VALUE`` arrives)."""
    cfg = outcome(lambda: load_live_config("default", overrides), (ConfigError,))
    assert cfg is None or isinstance(cfg, LiveConfig)


def test_config_regressions(tmp_path):
    """Crashes the fuzzer found in the config loader (each used to leak a non-ConfigError or a multi-line message)."""
    cases = {
        "deep.yaml": DEEP_TEXT[0],  # RecursionError from PyYAML
        "bigint.yaml": "name: " + "1" * 5000,  # ValueError: int digit limit
        "latin1.yaml": "name: caf\xe9".encode("latin-1"),  # UnicodeDecodeError
        "newline_key.yaml": 'name: x\n"a\\nb": 1\n',  # key with a newline → two-line message
        "list.yaml": "- 1\n- 2\n",
        "baddate.yaml": "name: x\nseed: 2024-13-45\n",  # ValueError: month must be in 1..12
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        with pytest.raises(ConfigError) as info:
            load_config(path, ModelConfig)
        assert_one_line(info.value)
        assert str(path) in str(info.value)
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: x\n")
    for overrides in (["input.seq_len=" + "1" * 5000], ["input=" + "[" * 1100], ["a\nb=1"], ["input.\n=1"],
                      ["name.x\ny.z=1"]):
        with pytest.raises(ConfigError) as info:
            load_config(ok, ModelConfig, overrides)
        assert_one_line(info.value)
    from training.config import parse_config

    for data in (None, [1, 2], "ab", 3):
        with pytest.raises(ConfigError) as info:
            parse_config(ModelConfig, data, source="<embedded>")
        assert_one_line(info.value)


# -- engine bundle manifests --------------------------------------------------------------------------------
from engines.manifest import BundleError, FileEntry, GraphSpec, Manifest, PlanSpec, TensorSpec, read_manifest  # noqa: E402


def _valid_manifest() -> dict:
    """A manifest dict shaped like ``engines.build.onnx_export.export_bundle`` writes (see a real manifest.json)."""
    t = lambda name, shape, axis=0, dtype="float32": TensorSpec(name, dtype, shape, axis)  # noqa: E731
    graphs = {
        "frame_encoder": GraphSpec("frame_encoder", "frame_encoder.onnx",
                                   [t("rgb", ["batch", 3, 128, 128]), t("keypoints", ["batch", 33, 4])],
                                   [t("feat_rgb", ["batch", 256]), t("feat_keypoints", ["batch", 256])]),
        "temporal_step": GraphSpec("temporal_step", "temporal_step.onnx",
                                   [t("feat_rgb", ["batch", 256]), t("pos", ["batch"], dtype="int64"),
                                    t("enc_k", [3, "batch", 4, 16, 64], 1)],
                                   [t("theta", ["batch", 157]), t("next_pos", ["batch"], dtype="int64"),
                                    t("next_enc_k", [3, "batch", 4, 16, 64], 1)]),
    }
    m = Manifest(
        model_name="lite", model_config=load_model_config("lite").model_dump(mode="json"),
        checkpoint_sha256="ab" * 32, flow_provider="dis", crop_size=128, window=16, max_persons=8,
        streams=["rgb", "keypoints"], rgb_mean=[0.485, 0.456, 0.406], rgb_std=[0.229, 0.224, 0.225], graphs=graphs,
        files={"frame_encoder.onnx": FileEntry(10, "00" * 32), "temporal_step.onnx": FileEntry(20, "11" * 32),
               "faces.npy": FileEntry(30, "22" * 32)},
        versions={"torch": "2.14.1", "onnx": "1.17"}, opset=17,
        plans={"frame_encoder": PlanSpec("frame_encoder", "frame_encoder.plan", "fp16", "10.0", "H100", "9.0", 8)},
        checkpoint_path="/tmp/lite.pt",
    )
    return json.loads(m.to_json())


MANIFEST = _valid_manifest()


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as parsed) matches a dataclass field annotation (test-side, independent check)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is typing.Union:
        return any(_type_ok(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_type_ok(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
        return isinstance(value, hint) and all(
            _type_ok(getattr(value, f), h) for f, h in typing.get_type_hints(hint).items())
    return isinstance(value, hint)


@st.composite
def manifest_files(draw) -> bytes:
    kind = draw(st.sampled_from(["near", "near", "near", "near", "damaged", "pathological", "json-of-values", "bytes"]))
    if kind in ("near", "damaged"):
        doc = json.dumps(draw(mutated(MANIFEST, max_ops=4)), indent=1, allow_nan=True).encode("utf-8")
        return draw(mutated_bytes(doc)) if kind == "damaged" else doc
    if kind == "pathological":
        return draw(PATHOLOGICAL_TEXT).encode("utf-8")
    if kind == "json-of-values":
        return json.dumps(draw(VALUES)).encode("utf-8")
    return draw(st.binary(max_size=300))


@examples(250)
@given(content=manifest_files())
def test_manifest(content, fuzz_dir):
    folder = fuzz_dir / "bundle"
    folder.mkdir(exist_ok=True)
    (folder / "manifest.json").write_bytes(content)
    m = outcome(lambda: read_manifest(folder), (BundleError,))
    if m is None:
        return
    # A manifest that reads is one the runtimes can use: every field has its declared type.
    assert _type_ok(m, Manifest), m
    # The checks a session runs next refuse it with one line too (none of the listed files exists here).
    outcome(lambda: m.verify_files(folder), (BundleError,))
    outcome(lambda: m.check_model_config(MANIFEST["model_config"]), (BundleError,))


def test_manifest_regressions(tmp_path):
    """Manifests that used to crash ``read_manifest`` (AttributeError, RecursionError, ValueError) or parse with wrong types."""
    bad = {
        "graphs_list": {**MANIFEST, "graphs": []},
        "plans_list": {**MANIFEST, "plans": ["x"]},
        "files_str": {**MANIFEST, "files": "faces.npy"},
        "crop_size_str": {**MANIFEST, "crop_size": "128"},
        "streams_str": {**MANIFEST, "streams": "rgb"},
        "shape_float": {**MANIFEST, "graphs": {"g": {**MANIFEST["graphs"]["frame_encoder"], "inputs": [
            {"name": "rgb", "dtype": "float32", "shape": [1.5]}]}}},
        "newline_key": {**MANIFEST, "files": {"a": {"size": 1, "sha256": "x", "b\nc": 1}}},
    }
    texts = {name: json.dumps(d) for name, d in bad.items()}
    texts["deep"] = "[" * 100000 + "]" * 100000
    texts["bigint"] = '{"format": "dtsvibe-engine-bundle", "version": ' + "1" * 5000 + "}"
    for name, content in texts.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "manifest.json").write_text(content)
        with pytest.raises(BundleError) as info:
            read_manifest(folder)
        assert_one_line(info.value)
        assert "manifest.json" in str(info.value), name
    # A model config key with a newline used to split check_model_config's message in two.
    folder = tmp_path / "ok"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({**MANIFEST, "model_config": {**MANIFEST["model_config"], "a\nb": 1}}))
    with pytest.raises(BundleError) as info:
        read_manifest(folder).check_model_config(MANIFEST["model_config"])
    assert_one_line(info.value)
    assert "'a\\nb'" in str(info.value)


# -- VIBE-format db files ---------------------------------------------------------------------------------
from training.data.vibe_format import KEY_SHAPES, VibeDbError, read_vibe_db, validate_vibe_db  # noqa: E402


@st.composite
def vibe_dbs(draw) -> dict:
    """A valid db dict of N rows (N = 0..4), every optional key present or not."""
    n = draw(st.integers(0, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    db: dict[str, Any] = {
        "vid_name": np.array([f"v{i // 2}" for i in range(n)], dtype=str),
        "frame_id": np.arange(n),
        "joints2D": rng.uniform(0, 200, size=(n, 49, 3)).astype(np.float32),
        "bbox": rng.uniform(50, 150, size=(n, 4)).astype(np.float32),
    }
    optional = {
        "img_name": np.array([f"img/{i:06d}.jpg" for i in range(n)]),
        "features": rng.normal(size=(n, draw(st.integers(1, 4)))).astype(np.float32),
        "joints3D": rng.normal(size=(n, 49, 3)),
        "shape": rng.normal(size=(n, 10)),
        "pose": rng.normal(size=(n, 72)),
        "valid": np.ones(n, np.int64),
        "kp2d_mediapipe33": rng.normal(size=(n, 33, 3)),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True, min_size=1)):
        db[key] = optional[key]
    return db


ARRAY_MUTATIONS = ["drop", "scalar", "list", "ragged", "extra_row", "fewer_rows", "tail", "extra_dim", "object", "str",
                   "bytes", "bad_utf8", "complex", "bool", "uint64", "float16", "nan", "inf", "huge", "none", "dict",
                   "empty", "datetime", "nested_object"]


def _mutate_array(draw, value: Any) -> Any:
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged rows from an earlier mutation
        arr = np.empty(len(value), dtype=object)
        arr[:] = list(value)
    n = len(arr) if arr.ndim else 0
    op = draw(st.sampled_from(ARRAY_MUTATIONS[1:]))
    if op == "scalar":
        return draw(st.sampled_from([1, 1.5, "x", b"x", np.float32(2)]))
    if op == "list":
        return arr.tolist()
    if op == "ragged":
        return [list(range(i)) for i in range(n + 2)]
    if op == "extra_row":
        return np.concatenate([arr, arr[:1]]) if n else np.zeros((1,) + arr.shape[1:], arr.dtype)
    if op == "fewer_rows":
        return arr[1:] if arr.ndim else arr
    if op == "tail":
        return np.zeros((n, 5), np.float32)
    if op == "extra_dim":
        return arr[..., None]
    if op == "object":
        return arr.astype(object)
    if op == "str":
        return np.array([str(v) for v in arr.reshape(-1)], dtype=str).reshape(arr.shape)
    if op == "bytes":
        return np.array([str(v).encode() for v in arr.reshape(-1)], dtype=object).reshape(arr.shape) if arr.size else arr
    if op == "bad_utf8":
        return np.array([b"\xff\xfe" + bytes([i % 256]) for i in range(n)], dtype=object)
    if op == "complex":
        return arr.astype(complex) if arr.dtype.kind in "fiub" else arr
    if op == "bool":
        return arr.astype(bool) if arr.dtype.kind in "fiub" else arr
    if op == "uint64":
        return np.full(arr.shape, 2**64 - 1, np.uint64)
    if op == "float16":
        return arr.astype(np.float16) if arr.dtype.kind in "fiub" else arr
    if op in ("nan", "inf", "huge"):
        fill = {"nan": np.nan, "inf": np.inf, "huge": 1e300}[op]
        return np.full(arr.shape, fill)
    if op == "none":
        return None
    if op == "dict":
        return {"a": arr}
    if op == "empty":
        return np.zeros((0,) + arr.shape[1:])
    if op == "datetime":
        return np.zeros(arr.shape, "datetime64[s]")
    return np.array([{"x": 1}] * n + [None], dtype=object)[:n]


@st.composite
def mutated_vibe_dbs(draw) -> Any:
    db = draw(vibe_dbs())
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["mutate", "mutate", "drop", "add", "root"]))
        key = draw(st.sampled_from(sorted(db, key=str))) if isinstance(db, dict) and db else None
        if op == "root":
            db = draw(st.sampled_from([None, [], "db", np.zeros(3), [("vid_name", [])], 7]))
            break
        if key is None:
            continue
        if op == "drop":
            del db[key]
        elif op == "add":
            db[draw(st.one_of(text, st.integers(), st.sampled_from(["valid", "pose", "features"])))] = draw(VALUES)
        else:
            db[key] = _mutate_array(draw, db[key])
    return db


def _check_vibe_result(out: dict) -> None:
    n = len(out["vid_name"])
    for key, want in KEY_SHAPES.items():
        if key not in out:
            continue
        arr = out[key]
        assert isinstance(arr, np.ndarray) and arr.shape[0] == n, key
        assert len(arr.shape[1:]) == len(want) and all(w is None or w == t for w, t in zip(want, arr.shape[1:])), key
        if key in ("vid_name", "img_name"):
            assert arr.dtype.kind == "U", key
        elif key == "frame_id":
            assert arr.dtype == np.int64
        elif key == "valid":
            assert arr.dtype == bool
        else:
            assert arr.dtype == np.float32, key


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e300 → float32 inf: accepted, as documented
@examples(300)
@given(db=mutated_vibe_dbs())
def test_vibe_db_validation(db):
    out = outcome(lambda: validate_vibe_db(db, source="fuzz_train_db.pt"), (VibeDbError,))
    if out is not None:
        _check_vibe_result(out)


@st.composite
def vibe_files(draw) -> bytes:
    import joblib

    kind = draw(st.sampled_from(["near", "near", "damaged", "bytes", "pickle-of-values"]))
    buf = io.BytesIO()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    obj = draw(VALUES) if kind == "pickle-of-values" else draw(mutated_vibe_dbs())
    joblib.dump(obj, buf)
    data = buf.getvalue()
    return draw(mutated_bytes(data)) if kind == "damaged" else data


@examples(100)
@given(content=vibe_files())
def test_vibe_db_files(content, fuzz_dir):
    path = fuzz_dir / "fuzz_train_db.pt"
    path.write_bytes(content)
    out = outcome(lambda: read_vibe_db(path), (VibeDbError,))
    if out is not None:
        _check_vibe_result(out)


def test_vibe_regressions(tmp_path):
    """Dicts that used to leak TypeError / ValueError / UnicodeDecodeError from ``validate_vibe_db``."""
    import joblib

    good = {"vid_name": np.array(["a", "a"]), "frame_id": np.arange(2), "joints2D": np.zeros((2, 49, 3)),
            "bbox": np.zeros((2, 4)), "features": np.zeros((2, 3))}
    cases = [
        {**good, "vid_name": "a"},  # a scalar: len() of unsized object
        {**good, "vid_name": 3},
        {**good, "vid_name": np.array([b"\xff\xfe", b"a"], dtype=object)},  # not UTF-8
        {**good, "img_name": [b"\xff", b"ok"]},
        {**good, "joints2D": [[1, 2], [3]]},  # ragged
        {**good, "frame_id": [[1], [2, 3]]},
        {**good, "frame_id": np.full(2, 1e300)},  # whole numbers, but not int64
        {**good, "vid_name": [[1], [2, 3]]},
    ]
    for db in cases:
        with pytest.raises(VibeDbError) as info:
            validate_vibe_db(db, source="x_train_db.pt")
        assert_one_line(info.value)
        assert "x_train_db.pt" in str(info.value)
    path = tmp_path / "bad_db.pt"
    joblib.dump({**good, "vid_name": 3}, path)
    with pytest.raises(VibeDbError):
        read_vibe_db(path)


# -- AMASS ---------------------------------------------------------------------------------------------------
from training.data.amass import AmassMotionDataset, load_amass_npz  # noqa: E402

AMASS_ERRORS = (FileNotFoundError, KeyError, ValueError)
FPS_VALUES = st.one_of(
    st.sampled_from([30, 60, 120, 250, 29.97, 59.94, 7.5, 100, 50, 24]),
    st.sampled_from([1, 0, -30, math.nan, math.inf, -math.inf, 1e-300, 1e-3, 1e300, 10**6]),
    st.floats(min_value=-1e6, max_value=1e6),
)


@st.composite
def amass_arrays(draw) -> dict:
    n = draw(st.integers(0, 12))
    k = draw(st.sampled_from([24, 52, 55, 22, 21, 23]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arrays: dict[str, Any] = {
        "poses": rng.normal(scale=0.5, size=(n, 3 * k)),
        "trans": rng.normal(size=(n, 3)),
        draw(st.sampled_from(["mocap_framerate", "mocap_frame_rate"])): np.array(draw(FPS_VALUES)),
        "betas": rng.normal(size=draw(st.sampled_from([10, 16, 300, 0, 3]))),
        "gender": np.array("neutral"),
    }
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(arrays)))
        op = draw(st.sampled_from(["drop", "mutate", "mutate", "add"]))
        if op == "drop":
            del arrays[key]
        elif op == "add":
            arrays[draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True))] = np.array(draw(SCALARS), dtype=object)
        else:
            new = _mutate_array(draw, arrays[key])
            arrays[key] = new if isinstance(new, np.ndarray) else np.array(new, dtype=object)
    return arrays


@st.composite
def amass_files(draw) -> bytes:
    kind = draw(st.sampled_from(["near", "near", "near", "damaged", "npy", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    buf = io.BytesIO()
    if kind == "npy":  # a plain .npy saved under a .npz name
        np.save(buf, np.zeros((draw(st.integers(0, 3)), 72)))
        return buf.getvalue()
    np.savez(buf, **draw(amass_arrays()))
    data = buf.getvalue()
    return draw(mutated_bytes(data)) if kind == "damaged" else data


@examples(150)
@given(content=amass_files(), seq_len=st.integers(1, 6))
def test_amass_files(content, seq_len, fuzz_dir):
    path = fuzz_dir / "motion_poses.npz"
    path.write_bytes(content)
    seq = outcome(lambda: load_amass_npz(path), AMASS_ERRORS)
    if seq is None:
        return
    assert seq.pose.ndim == 2 and seq.pose.shape[1] == 72 and seq.betas.shape == (10,)
    assert math.isfinite(seq.fps) and seq.fps > 0
    ds = outcome(lambda: AmassMotionDataset(path, fps=30.0, seq_len=seq_len), AMASS_ERRORS)
    if ds is not None and len(ds):
        item = ds[0]
        assert item["pose"].shape == (seq_len, 72) and item["pose6d"].shape == (seq_len, 138)


def test_amass_regressions(tmp_path):
    """AMASS files that used to leak BadZipFile / TypeError / IndexError / OverflowError, and frame rates outside
    1..10000 fps (a tiny one used to ask numpy for an array of 10^301 frames)."""
    cases = {
        "npy_named_npz.npz": lambda p: p.write_bytes(_npy_bytes(np.zeros((3, 72)))),
        "truncated.npz": lambda p: p.write_bytes(_npz_bytes(poses=np.zeros((4, 72)), mocap_framerate=np.array(30.0))[:40]),
        "empty_fps.npz": lambda p: p.write_bytes(_npz_bytes(poses=np.zeros((4, 72)), mocap_framerate=np.zeros(0))),
        "inf_fps.npz": lambda p: p.write_bytes(_npz_bytes(poses=np.zeros((4, 72)), mocap_framerate=np.array(np.inf))),
        "nan_fps.npz": lambda p: p.write_bytes(_npz_bytes(poses=np.zeros((4, 72)), mocap_framerate=np.array(np.nan))),
        "tiny_fps.npz": lambda p: p.write_bytes(_npz_bytes(poses=np.zeros((4, 72)), mocap_framerate=np.array(1e-300))),
        "date_fps.npz": lambda p: p.write_bytes(_npz_bytes(poses=np.zeros((4, 72)), mocap_framerate=np.zeros(1, "datetime64[s]"))),
        "garbage.npz": lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 30),
    }
    for name, make in cases.items():
        path = tmp_path / name
        make(path)
        with pytest.raises(AMASS_ERRORS) as info:
            AmassMotionDataset(path, fps=30.0, seq_len=2)
        assert_one_line(info.value)
        assert name in str(info.value), (name, str(info.value))


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# -- checkpoints ---------------------------------------------------------------------------------------------
from training.checkpoint import CHECKPOINT_FORMAT, Checkpoint, CheckpointError, Progress, load_checkpoint  # noqa: E402
from training.config import to_yaml  # noqa: E402


def _valid_checkpoint_dict() -> dict:
    cfg = load_model_config("lite")
    return {
        "format": CHECKPOINT_FORMAT,
        "model": {"stream.weight": torch.zeros(2, 3), "stream.bias": torch.zeros(2), "steps": torch.tensor(3)},
        "discriminator": None,
        "optimizers": {},
        "scalers": {},
        "progress": Progress(phase=1, epoch=2, step_in_epoch=3, global_step=40, best_value=55.5, best_metric="pa_mpjpe").to_dict(),
        "rng": None,
        "model_config": to_yaml(cfg),
        "train_config": to_yaml(TrainConfig()),
        "code_version": "fuzz",
        "flow_provider": "dis",
        "metrics": {"pa_mpjpe": 55.5},
    }


CHECKPOINT = _valid_checkpoint_dict()
_TENSORS = st.sampled_from([torch.zeros(2, 3), torch.zeros(0), torch.tensor(1.5), torch.ones(3, dtype=torch.int64),
                            torch.full((2,), float("nan"))])
CKPT_VALUES = st.one_of(VALUES, _TENSORS, st.dictionaries(text, _TENSORS, max_size=3),
                        yaml_documents(_base("model")).map(lambda b: b.decode("utf-8", "replace")))


def _torch_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


CHECKPOINT_BYTES = _torch_bytes(CHECKPOINT)


@st.composite
def checkpoint_files(draw) -> bytes:
    kind = draw(st.sampled_from(["near", "near", "near", "damaged", "damaged", "bytes", "pickle"]))
    if kind == "near":
        return _torch_bytes(draw(mutated(CHECKPOINT, values=CKPT_VALUES, keys=text, max_ops=3)))
    if kind == "damaged":
        return draw(mutated_bytes(CHECKPOINT_BYTES))
    if kind == "pickle":
        import pickle

        return pickle.dumps(draw(VALUES))
    return draw(st.binary(max_size=300))


def _check_checkpoint(ckpt: Checkpoint) -> None:
    assert isinstance(ckpt.model_config, ModelConfig)
    assert ckpt.train_config is None or isinstance(ckpt.train_config, TrainConfig)
    assert isinstance(ckpt.model_state, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt.model_state.items())
    p = ckpt.progress
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in (p.phase, p.epoch, p.step_in_epoch, p.global_step))
    assert isinstance(p.best_value, (int, float)) and isinstance(p.best_metric, str) and isinstance(p.phase_name, str)
    assert ckpt.flow_provider is None or isinstance(ckpt.flow_provider, str)
    assert isinstance(ckpt.code_version, str) and isinstance(ckpt.metrics, dict)
    assert isinstance(ckpt.optimizers, dict) and isinstance(ckpt.scalers, dict)
    assert ckpt.discriminator_state is None or isinstance(ckpt.discriminator_state, dict)
    assert ckpt.rng is None or isinstance(ckpt.rng, list)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the plain pickles among the garbage
@examples(150)
@given(content=checkpoint_files())
def test_checkpoint_files(content, fuzz_dir):
    path = fuzz_dir / "fuzz.pt"
    path.write_bytes(content)
    ckpt = outcome(lambda: load_checkpoint(path), (CheckpointError, ConfigError))
    if ckpt is not None:
        _check_checkpoint(ckpt)


@examples(15)
@given(cut=st.integers(0, 8_800_000))
def test_truncated_default_checkpoint(cut, fuzz_dir):
    from training.checkpoint import DEFAULT_CHECKPOINT

    data = Path(DEFAULT_CHECKPOINT).read_bytes()
    path = fuzz_dir / "cut.pt"
    path.write_bytes(data[: min(cut, len(data) - 1)])
    outcome(lambda: load_checkpoint(path), (CheckpointError, ConfigError))


def test_checkpoint_regressions(tmp_path):
    """Checkpoints with the right format tag but damaged fields used to leak KeyError/TypeError/YAMLError."""
    cases = {
        "no_model_config": {k: v for k, v in CHECKPOINT.items() if k != "model_config"},
        "no_progress": {k: v for k, v in CHECKPOINT.items() if k != "progress"},
        "progress_list": {**CHECKPOINT, "progress": [1, 2]},
        "progress_partial": {**CHECKPOINT, "progress": {"phase": 0}},
        "progress_types": {**CHECKPOINT, "progress": {**CHECKPOINT["progress"], "epoch": "two"}},
        "config_int": {**CHECKPOINT, "model_config": 3},
        "config_list": {**CHECKPOINT, "model_config": "- a\n- b\n"},
        "config_bad_yaml": {**CHECKPOINT, "model_config": "a: [\n"},
        "config_deep": {**CHECKPOINT, "model_config": "[" * 5000 + "]" * 5000},
        "model_list": {**CHECKPOINT, "model": [torch.zeros(1)]},
        "model_values": {**CHECKPOINT, "model": {"w": 3}},
        "metrics_list": {**CHECKPOINT, "metrics": [1]},
        "flow_int": {**CHECKPOINT, "flow_provider": 3},
    }
    for name, raw in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save(raw, path)
        with pytest.raises((CheckpointError, ConfigError)) as info:
            load_checkpoint(path)
        assert_one_line(info.value)
        assert str(path) in str(info.value), name


# -- the pseudo-label writer's inputs ------------------------------------------------------------------------
cv2 = pytest.importorskip("cv2")
from tools import pseudo_label  # noqa: E402


class _FakeDetector:
    def __init__(self, *args, **kwargs):
        pass


class _FakePose:
    """Stands in for MultiPersonPose (no models): 0–2 people per frame with landmarks inside the frame,
    through the real tracker, so the labelling code downstream of detection runs as in production."""

    def __init__(self, detector, estimator, tracker):
        self.tracker = tracker

    def process(self, frame, index):
        from realtime.detection.multi_person import PersonPose

        h, w = frame.shape[:2]
        rng = np.random.default_rng(index)
        dets = []
        for p in range(int(rng.integers(0, 3))):
            xy = rng.uniform([0, 0], [w, h], size=(33, 2)).astype(np.float32)
            vis = rng.uniform(0, 1, size=33).astype(np.float32)
            lm = SimpleNamespace(xy=xy, visibility=vis)
            dets.append(SimpleNamespace(box=np.concatenate([xy.min(0), xy.max(0)]), score=0.9, landmarks=lm))
        return [PersonPose(t, t.data.landmarks) for t in self.tracker.update(dets, index)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pseudo_videos")
    clip = root / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write MJPG video here")
    rng = np.random.default_rng(0)
    for _ in range(5):
        writer.write(rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8))
    writer.release()
    folder = root / "folder"
    folder.mkdir()
    (folder / "a.avi").write_bytes(clip.read_bytes())
    (folder / "notes.txt").write_text("not a video")
    empty = root / "empty"
    empty.mkdir()
    file_as_out = root / "a_file"
    file_as_out.write_text("x")
    return {"clip": clip, "folder": folder, "empty": empty, "missing": root / "missing.mp4", "damaged": root / "damaged.mp4",
            "file": file_as_out, "root": root}


def _mostly(valid: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """Nine draws in ten from ``valid``: option values that get past the checks, so labelling runs."""
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda ok: valid if ok else odd)


INT_ARGS = _mostly(st.integers(1, 12), st.one_of(st.integers(-3, 0), st.sampled_from([10**9, 10**20]), text, SPECIAL_STRINGS)).map(str)
FLOAT_ARGS = _mostly(st.floats(0.05, 3), st.one_of(st.floats(-5, 0), SPECIAL_NUMBERS, text, SPECIAL_STRINGS)).map(str)
OPTIONS = {
    "--stride": INT_ARGS, "--max-frames": INT_ARGS, "--tiles": INT_ARGS, "--max-persons": INT_ARGS,
    "--min-visible": INT_ARGS, "--min-confidence": FLOAT_ARGS, "--scale": FLOAT_ARGS,
    "--crop-size": _mostly(st.integers(1, 300), st.sampled_from([-3, 0, 4097, 10**6, "x"])).map(str),
    "--threads": INT_ARGS, "--name": st.one_of(text.filter(lambda s: len(s.encode()) < 200), st.sampled_from(["set", "a/b", "..", "."])),
}


@st.composite
def pseudo_label_argv(draw, videos: dict[str, Path], out: Path) -> list[str]:
    inputs = draw(st.lists(_mostly(st.sampled_from(["clip", "clip", "folder", "damaged"]), st.sampled_from(["empty", "missing"]))
                           .map(lambda k: str(videos[k])), min_size=1, max_size=2))
    if not draw(st.integers(0, 9)):
        inputs.append(draw(text))  # a name nobody has (newlines and all)
    argv = list(inputs)
    if draw(st.integers(0, 19)):  # --out is required
        argv += ["--out", str(videos["file"]) if not draw(st.integers(0, 9)) else str(out)]
    for opt in draw(st.lists(st.sampled_from(sorted(OPTIONS)), unique=True, max_size=4)):
        value = draw(OPTIONS[opt])
        argv += [opt, value] if not value.startswith("-") else [f"{opt}={value}"]
    if draw(st.booleans()):
        argv.append("--crops")
    if not draw(st.integers(0, 19)):
        argv.append(draw(st.sampled_from(["--bogus", "-x", "--crops=1"])))
    return argv + ["--no-progress"]


@examples(80)
@given(data=st.data())
def test_pseudo_label_arguments_and_videos(data, videos):
    out = videos["root"] / "out"
    shutil.rmtree(out, ignore_errors=True)
    argv = data.draw(pseudo_label_argv(videos, out), label="argv")
    videos["damaged"].write_bytes(data.draw(mutated_bytes(videos["clip"].read_bytes()), label="damaged.mp4"))
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        mp.setattr(pseudo_label, "PersonDetector", _FakeDetector)
        mp.setattr(pseudo_label, "LandmarkEstimator", _FakeDetector)
        mp.setattr(pseudo_label, "MultiPersonPose", _FakePose)
        try:
            rc = pseudo_label.main(argv)
        except SystemExit as exc:  # argparse: usage + one error line, status 2
            event("argparse exit")
            assert exc.code == 2, (argv, exc.code)
            assert err.getvalue().strip().split("\n")[-1].startswith("pseudo_label.py: error:")
            return
    assert rc in (0, 1, 2), (argv, rc)
    event(f"status {rc}")
    lines = [line for line in err.getvalue().split("\n") if line.strip()]  # "\n" only: a path may hold \x1e, \x85, ...
    if rc != 0:
        assert lines, argv
    assert all(line.startswith("error: ") for line in lines), (argv, lines)
    dbs = list(out.glob("**/*_db.pt")) if out.is_dir() else []
    if rc == 0 and any(a in (str(videos["clip"]), str(videos["folder"])) for a in argv):
        assert dbs, argv
    for db in dbs:  # every db the writer wrote reads back as a valid VIBE db
        _check_vibe_result(read_vibe_db(db))


@examples(60)
@given(content=st.one_of(st.binary(max_size=300), st.just(b"")))
def test_pseudo_label_frames_from_garbage(content, fuzz_dir):
    path = fuzz_dir / "garbage.mp4"
    path.write_bytes(content)
    frames = outcome(lambda: list(pseudo_label.read_frames(path, stride=1, max_frames=3)), (pseudo_label.PseudoLabelError,))
    assert frames is None or all(f.ndim == 3 for _, f in frames)


def test_pseudo_label_regressions(videos, capsys):
    """Options that used to crash labelling (``--scale 0``: ZeroDivisionError; ``--crops --crop-size 100000``: cv2.error
    out of memory; ``--out`` naming a file: FileExistsError) or write invalid boxes are refused at once."""
    clip, out = str(videos["clip"]), str(videos["root"] / "reg_out")
    for extra in (["--scale", "0"], ["--crops", "--scale", "0"], ["--scale", "nan"], ["--scale", "-1"], ["--crop-size", "0"],
                  ["--crops", "--crop-size", "-5"], ["--crops", "--crop-size", "100000"]):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pseudo_label, "PersonDetector", _FakeDetector)
            mp.setattr(pseudo_label, "LandmarkEstimator", _FakeDetector)
            mp.setattr(pseudo_label, "MultiPersonPose", _FakePose)
            assert pseudo_label.main([clip, "--out", out, "--no-progress", *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: --") and "\n" not in err, (extra, err)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pseudo_label, "PersonDetector", _FakeDetector)
        mp.setattr(pseudo_label, "LandmarkEstimator", _FakeDetector)
        mp.setattr(pseudo_label, "MultiPersonPose", _FakePose)
        assert pseudo_label.main([clip, "--out", str(videos["file"]), "--no-progress"]) == 2  # --out is a file
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        # A path whose name holds a newline used to split the one-line error in two.
        assert pseudo_label.main([clip, "no\nsuch.mp4", "--out", out, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "no such file" in err
