"""INT8 copies of a bundle's graphs for ONNX Runtime on the CPU, calibrated on real inputs and checked.

On a GPU the product runs TensorRT FP16 plans; on a CPU the same role is played by INT8 graphs. The
frame encoder's convolutions dominate the paper config's cost (two ResNet-50s), and with 8-bit
integer kernels (AVX-512 VNNI / AVX2) ONNX Runtime runs them about three times faster::

    spec = quantize_graph(bundle_folder, "frame_encoder", samples)   # samples: frame_encoder input dicts

* static quantisation in QDQ form: weights int8 per output channel, activations uint8 with ranges
  measured (min/max) on the calibration inputs — crops, flow and keypoints prepared exactly as the live
  pipeline prepares them (``realtime.calibration`` collects them from a clip);
* squeeze-and-excitation gates (global pool → 1×1 convs → sigmoid → channel-wise product, as in the lite
  config's MobileNetV3) stay fp32 by default: their product multiplies every channel by its own gate, and one
  uint8 range per tensor for it was the largest error of the recipe (the RGB stream's worst held-out cosine
  on unseen clips 0.91 → 0.98, docs/bench/bench_int8.md); they cost little, the convolutions stay INT8;
* a quarter of the samples (every fourth) is held out: fp32 and INT8 graphs run on them, and the lowest
  and mean cosine similarity of each person's outputs go into the manifest (:class:`QuantSpec`); below
  ``min_cosine`` the INT8 graph is refused (:class:`QuantizationError`) and the bundle left as it was.

Build time only (imports ``onnx`` and ``onnxruntime.quantization``); running an INT8 graph needs only
ONNX Runtime (``EngineSession(..., precision="int8")``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from ..manifest import FileEntry, QuantSpec, file_digest, read_manifest, write_manifest

__all__ = ["DEFAULT_MIN_COSINE", "QuantizationError", "int8_file", "output_cosines", "quantize_graph"]

PathLike = Union[str, Path]
Sample = Mapping[str, np.ndarray]
#: Lowest held-out cosine similarity between fp32 and INT8 outputs that a bundle accepts. On healthy graphs of
#: the lite and paper configs the mean over the held-out crops is 0.98–0.99 and the minimum over 16 crops lands
#: anywhere in 0.89–0.99 (one crop decides it: a third-of-a-pixel shift of the demo's crops moved the lite
#: flow stream's from 0.97 to 0.89; tools/bench_int8.py); graphs with wrong ranges measure 0.5 or less. The
#: threshold sits between the two, away from both.
DEFAULT_MIN_COSINE = 0.85
SCHEME = "static QDQ: weights int8 per channel, activations uint8 (min/max calibration)"
GATES_FP32 = "; squeeze-and-excitation gates fp32"


class QuantizationError(RuntimeError):
    """The INT8 graph could not be made, or differs too much from fp32; the message says what to do."""


def int8_file(graph_file: str) -> str:
    """``frame_encoder.onnx`` → ``frame_encoder.int8.onnx``."""
    return f"{Path(graph_file).stem}.int8.onnx"


def output_cosines(reference: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray]) -> np.ndarray:
    """Cosine similarity of every output, per person (batch row): a flat array over outputs × persons."""
    out = []
    for name, ref in reference.items():
        a = np.asarray(ref, np.float64).reshape(len(ref), -1)
        b = np.asarray(other[name], np.float64).reshape(len(ref), -1)
        denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        out.append(np.where(denom > 0, (a * b).sum(1) / np.maximum(denom, 1e-30), 1.0))
    return np.concatenate(out) if out else np.ones(0)


def _session(path: Path, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def quantize_graph(
    folder: PathLike,
    graph: str,
    samples: Sequence[Sample],
    calibration: str = "",
    min_cosine: float = DEFAULT_MIN_COSINE,
    streams: Optional[Sequence[str]] = None,
    progress: Optional[Callable[[str], None]] = None,
    gates_fp32: bool = True,
) -> QuantSpec:
    """Write ``<graph>.int8.onnx`` into bundle ``folder``, calibrated on ``samples`` (dicts of the graph's
    inputs, batch 1 or more), checked on the held-out quarter, and list it in the manifest.

    ``streams``: the frame encoder's streams to run in INT8 (default all); the others keep their fp32 nodes.
    ``calibration`` describes where the samples came from (kept in the manifest). ``gates_fp32``: keep the
    squeeze-and-excitation gates in fp32 (see the module's notes; ``False`` is the earlier recipe)."""
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)

    say = progress or (lambda msg: None)
    folder = Path(folder)
    manifest = read_manifest(folder)
    if graph not in manifest.graphs:
        raise QuantizationError(f"{folder}: no graph {graph!r} to quantise (it has {', '.join(manifest.graphs)})")
    spec = manifest.graphs[graph]
    manifest.verify_files(folder, [spec.file])
    names = [t.name for t in spec.inputs]
    held = [s for i, s in enumerate(samples) if i % 4 == 3]
    calib = [s for i, s in enumerate(samples) if i % 4 != 3]
    if len(samples) < 8:
        raise QuantizationError(f"{graph}: {len(samples)} calibration samples are too few (need at least 8); "
                                "calibrate on a longer clip")
    for i, sample in enumerate(samples):
        missing = [n for n in names if n not in sample]
        if missing:
            raise QuantizationError(f"{graph}: calibration sample {i} lacks input {', '.join(missing)}")
    streams = list(streams) if streams is not None else list(manifest.streams)
    unknown = [st for st in streams if st not in manifest.streams]
    if unknown or not streams:
        raise QuantizationError(f"{graph}: cannot quantise stream(s) {', '.join(unknown) or '(none)'}; "
                                f"this bundle's streams are {', '.join(manifest.streams)}")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calib)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {n: np.ascontiguousarray(item[n]) for n in names}

    target = folder / int8_file(spec.file)
    with tempfile.TemporaryDirectory(prefix="dtsvibe-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        say(f"{graph}: preparing the graph (shape inference, fusions)")
        try:
            quant_pre_process(str(folder / spec.file), str(prepared), skip_symbolic_shape=True)
            keep_fp32 = _stream_nodes(prepared, [st for st in manifest.streams if st not in streams])
            if gates_fp32:
                keep_fp32 = sorted(set(keep_fp32) | set(_gate_nodes(prepared)))
            say(f"{graph}: calibrating on {len(calib)} samples")
            # reduce_range: 7-bit weights. A bundle runs on whatever CPU it is copied to, and on CPUs without VNNI
            # (AVX2 only) ONNX Runtime's u8×s8 kernels sum pairs of products in 16 bits, which full-range weights
            # overflow: on such a machine (an AMD EPYC, AVX2) the held-out cosine fell to 0.09.
            quantize_static(str(prepared), str(Path(tmp) / target.name), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            reduce_range=True, calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_fp32)
        except Exception as exc:  # noqa: BLE001 - onnx / ORT raise many types; one line for the user
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise QuantizationError(f"{graph}: ONNX Runtime could not quantise it ({first}); keep the fp32 graph") from None
        say(f"{graph}: checking INT8 against fp32 on {len(held)} held-out samples")
        fp32, int8 = _session(folder / spec.file), _session(Path(tmp) / target.name)
        out_names = [o.name for o in spec.outputs]
        run = lambda sess, s: dict(zip(out_names, sess.run(out_names, _feed(s, names))))  # noqa: E731
        per_sample = [(run(fp32, s), run(int8, s)) for s in held]
        cos = {n: np.concatenate([output_cosines({n: a[n]}, {n: b[n]}) for a, b in per_sample]) for n in out_names}
        worst = min(out_names, key=lambda n: cos[n].min())
        if cos[worst].min() < min_cosine:
            raise QuantizationError(
                f"{graph}: INT8 {worst} differs from fp32 on held-out inputs (cosine similarity down to {cos[worst].min():.4f}, "
                f"below {min_cosine}); calibrate on more varied frames, keep that stream fp32, or run fp32 (engine.precision=fp32)"
            )
        shutil.move(str(Path(tmp) / target.name), str(target))  # the bundle may be on another file system
    q = QuantSpec(graph, target.name, SCHEME + (GATES_FP32 if gates_fp32 else ""), streams, calibration or "unspecified", len(calib), len(held),
                  {n: round(float(c.min()), 5) for n, c in cos.items()}, {n: round(float(c.mean()), 5) for n, c in cos.items()},
                  ort.__version__)
    manifest = read_manifest(folder)  # re-read: nothing else is changed by this function
    manifest.quantized[graph] = q
    manifest.files[target.name] = FileEntry(target.stat().st_size, file_digest(target))
    write_manifest(folder, manifest)
    say(f"{graph}: wrote {target.name} ({', '.join(streams)} in INT8; held-out cosine min "
        + ", ".join(f"{n} {v:.4f}" for n, v in q.cosine_min.items()) + ")")
    return q


def _stream_nodes(path: Path, streams: Sequence[str]) -> list[str]:
    """Names of the nodes of ``streams`` (exported under ``/<stream>/``) in the ONNX file at ``path``.

    Nodes the exporter or the pre-processing left unnamed are named after their first output (which carries
    the same prefix) and the file is rewritten, so that none of a stream's nodes escapes the list."""
    import onnx

    model = onnx.load(str(path))
    renamed = False
    for node in model.graph.node:
        if not node.name and node.output:
            node.name, renamed = f"{node.output[0]}__node", True
    if renamed:
        onnx.save(model, str(path))
    prefixes = tuple(f"/{st}/" for st in streams)
    return [n.name for n in model.graph.node if prefixes and n.name.startswith(prefixes)]


def _gate_nodes(path: Path, max_depth: int = 8) -> list[str]:
    """Names of the nodes of every squeeze-and-excitation gate in the ONNX file at ``path``: each path from a
    ``GlobalAveragePool`` to the ``Mul`` that scales the feature map with it (the pool and the product included).
    A pool that reaches no ``Mul`` within ``max_depth`` nodes (a network's final pooling) is left alone."""
    import onnx

    model = onnx.load(str(path))
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found: set[str] = set()

    def walk(node, trail: list, depth: int) -> None:
        if node.op_type == "Mul" and trail:
            found.update(n.name for n in [*trail, node])
            return
        if depth >= max_depth:
            return
        for out in node.output:
            for nxt in consumers.get(out, []):
                walk(nxt, [*trail, node], depth + 1)

    for node in model.graph.node:
        if node.op_type == "GlobalAveragePool":
            walk(node, [], 0)
    return sorted(found)


def _feed(sample: Sample, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {n: np.ascontiguousarray(sample[n]) for n in names}

