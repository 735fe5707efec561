"""Checkpoint → engine bundle: the ONNX graphs, the body model's faces and the manifest (DESIGN.md §5).

This is the only part of ``engines`` that imports torch and ``training``; the live app never imports
it. Graphs (all with a dynamic person batch ``B``):

``frame_encoder``  ``rgb (B, 3, S, S)`` ImageNet-normalised crops (or ``(B, 33, 9)`` BlazePose outputs when
                   the V-CNN is BlazePose), ``flow (B, 2, S, S)`` backward flow in
                   pixels, ``keypoints (B, 33, 4)`` → ``feat_<stream> (B, D)`` for each enabled stream
                   (and ``feat_landmarks (B, 297)``, BlazePose's outputs passed on, with ``landmark_fit``).
``temporal_step``  those ``feat_* (B, …)``, ``pos (B,)`` int64 and the state buffers (``enc_k`` … with
                   persons on axis 1) → ``theta, rotmat, betas, cam, vertices, joints3d, joints2d`` and
                   ``next_pos``, ``next_<state>``. The body model runs inside it.
``flow``           only for the learned flow provider: its ONNX graph, copied as is.
"""

from __future__ import annotations

import platform
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch
from torch import nn

from ..manifest import MANIFEST_NAME, FileEntry, GraphSpec, Manifest, TensorSpec, file_digest, write_manifest

__all__ = ["ExportedGraph", "FrameEncoderGraph", "TemporalStepGraph", "export_bundle", "state_names"]

PathLike = Union[str, Path]
OPSET = 17
BATCH = "batch"


def state_names(model: nn.Module) -> list[str]:
    """The model's streaming state keys as graph names: ``enc.k`` → ``enc_k`` (``pos`` excluded)."""
    return [k.replace(".", "_") for k in model.init_state(1) if k != "pos"]


class FrameEncoderGraph(nn.Module):
    """The per-frame part of :class:`~training.model.DTSVIBE`: each stream on one frame per person."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = list(model.stream_names)
        self.outputs = list(model.feature_names)  # the streams' features (+ the landmarks for the landmark fit)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.model.encode_frames(**{name: x[:, None] for name, x in zip(self.names, inputs)})
        return tuple(feats[name][:, 0] for name in self.outputs)


class TemporalStepGraph(nn.Module):
    """One streaming step of the temporal encoder, regressor and body model (``DTSVIBE.step``)."""

    OUTPUTS = ("theta", "rotmat", "betas", "cam", "vertices", "joints3d", "joints2d")

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.streams = list(model.feature_names)
        self.state_keys = [k for k in model.init_state(1) if k != "pos"]

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = len(self.streams)
        feats = dict(zip(self.streams, args[:n]))
        state = {"pos": args[n], **dict(zip(self.state_keys, args[n + 1 :]))}
        out, new = self.model.step(feats, state)
        return tuple(getattr(out, k) for k in self.OUTPUTS) + (new["pos"],) + tuple(new[k] for k in self.state_keys)


@dataclass
class ExportedGraph:
    spec: GraphSpec
    seconds: float


def _spec(name: str, t: torch.Tensor, batch_axis: Optional[int]) -> TensorSpec:
    shape: list[Union[int, str]] = list(t.shape)
    if batch_axis is not None:
        shape[batch_axis] = BATCH
    return TensorSpec(name, str(t.dtype).replace("torch.", ""), shape, batch_axis)


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, in_specs: list[TensorSpec],
            out_specs: list[TensorSpec]) -> None:
    dynamic = {s.name: {s.batch_axis: BATCH} for s in [*in_specs, *out_specs] if s.batch_axis is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            module, args, str(path), input_names=[s.name for s in in_specs], output_names=[s.name for s in out_specs],
            dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )
    module.eval()  # export restores training mode on exit in some torch versions


def example_inputs(model: nn.Module, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Plausible inputs of ``frame_encoder`` for ``batch`` persons (tests and tracing)."""
    g = torch.Generator().manual_seed(seed)
    s = model.cfg.input.crop_size
    def blazepose() -> torch.Tensor:  # image landmarks in [-1, 1], visibility/presence/score 0‥1, world ±1 m
        x = torch.rand(batch, 33, 9, generator=g)
        return torch.cat([x[..., :3] * 2 - 1, x[..., 3:5], x[..., 5:8] * 2 - 1, x[..., 8:]], -1)

    make = {
        "rgb": blazepose if model.cfg.rgb_input == "blazepose" else lambda: torch.randn(batch, 3, s, s, generator=g),
        "flow": lambda: torch.randn(batch, 2, s, s, generator=g) * 2,
        "keypoints": lambda: torch.cat([torch.rand(batch, 33, 3, generator=g) * 2 - 1, torch.rand(batch, 33, 1, generator=g)], -1),
    }
    return {name: make[name]() for name in model.stream_names}


def export_frame_encoder(model: nn.Module, path: Path, batch: int = 2) -> GraphSpec:
    graph = FrameEncoderGraph(model).eval()
    inputs = example_inputs(model, batch)
    with torch.no_grad():
        outs = graph(*inputs.values())
    in_specs = [_spec(k, v, 0) for k, v in inputs.items()]
    out_specs = [_spec(f"feat_{k}", v, 0) for k, v in zip(graph.outputs, outs)]
    _export(graph, tuple(inputs.values()), path, in_specs, out_specs)
    return GraphSpec("frame_encoder", path.name, in_specs, out_specs)


def _state_batch_axis(key: str, t: torch.Tensor) -> int:
    return 0 if key == "pos" else 1  # ring buffers / hidden states are (L, B, …)


def export_temporal_step(model: nn.Module, path: Path, batch: int = 2) -> GraphSpec:
    graph = TemporalStepGraph(model).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # real per-frame features' shapes (and, for the landmark fit, plausible landmarks)
        encoded = FrameEncoderGraph(model).eval()(*example_inputs(model, batch).values())
    feats = [torch.randn(f.shape, generator=g) if name in model.stream_names else f for name, f in zip(graph.streams, encoded)]
    state = model.init_state(batch)
    state["pos"] = torch.arange(batch, dtype=torch.long) + 3
    state_args = [state["pos"]] + [torch.randn(state[k].shape, generator=g) for k in graph.state_keys]
    args = tuple(feats) + tuple(state_args)
    with torch.no_grad():
        outs = graph(*args)
    names = [k.replace(".", "_") for k in graph.state_keys]
    in_specs = [_spec(f"feat_{s}", f, 0) for s, f in zip(graph.streams, feats)]
    in_specs += [_spec("pos", state_args[0], 0)] + [_spec(n, t, 1) for n, t in zip(names, state_args[1:])]
    out_names = list(graph.OUTPUTS) + ["next_pos"] + [f"next_{n}" for n in names]
    out_specs = [_spec(n, t, 0 if i <= len(graph.OUTPUTS) else 1) for i, (n, t) in enumerate(zip(out_names, outs))]
    _export(graph, args, path, in_specs, out_specs)
    return GraphSpec("temporal_step", path.name, in_specs, out_specs)


def _flow_graph_spec(path: Path) -> GraphSpec:
    import onnx

    m = onnx.load(str(path), load_external_data=False)

    def specs(values, role):
        out = []
        for v in values:
            dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            shape = [BATCH if i == 0 else (d if isinstance(d, int) and d > 0 else str(d)) for i, d in enumerate(dims)]
            out.append(TensorSpec(v.name, onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name, shape, 0))
        return out

    init = {i.name for i in m.graph.initializer}
    return GraphSpec("flow", path.name, specs([i for i in m.graph.input if i.name not in init], "in"), specs(m.graph.output, "out"))


def _versions() -> dict[str, str]:
    import onnx

    v = {"torch": torch.__version__, "onnx": onnx.__version__, "python": platform.python_version()}
    try:
        import onnxruntime

        v["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return v


def export_bundle(
    checkpoint: PathLike,
    out: PathLike,
    max_persons: int = 8,
    flow_onnx: Optional[PathLike] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> tuple[Manifest, list[ExportedGraph]]:
    """Write the ONNX bundle of ``checkpoint`` to folder ``out`` (created; old graphs replaced).

    ``flow_onnx``: the learned flow network's ONNX file when the checkpoint's O-stream uses it (default:
    ``training.flow.default_learned_path()``). Returns the manifest and timings.
    """
    from training.body.joint_sets import JOINT_SETS  # noqa: F401  (fail early if training is broken)
    from training.checkpoint import load_checkpoint, model_from_checkpoint
    from training.preprocessing import IMAGENET_MEAN, IMAGENET_STD

    say = progress or (lambda msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(checkpoint)
    model, _ = model_from_checkpoint(ckpt)
    model = model.float().eval()
    if not model.streamable:
        raise ValueError(
            f"{checkpoint}: the model attends to future frames (temporal_encoder.attention="
            f"{model.cfg.temporal_encoder.attention}) and cannot run one frame at a time; train a causal model"
        )
    done: list[ExportedGraph] = []
    graphs: dict[str, GraphSpec] = {}
    for name, fn in (("frame_encoder", export_frame_encoder), ("temporal_step", export_temporal_step)):
        start = time.perf_counter()
        spec = fn(model, out / f"{name}.onnx")
        graphs[name] = spec
        done.append(ExportedGraph(spec, time.perf_counter() - start))
        say(f"exported {name}")
    provider = ckpt.flow_provider
    if provider == "learned" and model.cfg.streams.flow.enabled:
        from training.flow import default_learned_path

        src = Path(flow_onnx) if flow_onnx else default_learned_path()
        if not src.is_file():
            raise FileNotFoundError(f"the O-stream was trained on the learned flow, but its ONNX graph {src} is missing; "
                                    "pass --flow-onnx or run tools/train_flow.py")
        start = time.perf_counter()
        shutil.copyfile(src, out / "flow.onnx")
        graphs["flow"] = _flow_graph_spec(out / "flow.onnx")
        done.append(ExportedGraph(graphs["flow"], time.perf_counter() - start))
    np.save(out / "faces.npy", model.body.faces.cpu().numpy().astype(np.int32))
    files = {}
    for name in [*(g.file for g in graphs.values()), "faces.npy"]:
        files[name] = FileEntry((out / name).stat().st_size, file_digest(out / name))
    ckpt_hash = file_digest(checkpoint)
    cfg = model.cfg
    manifest = Manifest(
        model_name=cfg.name,
        model_config=cfg.model_dump(mode="json"),
        checkpoint_sha256=ckpt_hash,
        checkpoint_path=str(Path(checkpoint).resolve()),
        flow_provider=provider if cfg.streams.flow.enabled else None,
        crop_size=cfg.input.crop_size,
        window=cfg.input.seq_len,
        max_persons=max_persons,
        streams=list(model.stream_names),
        rgb_mean=[round(float(v), 6) for v in IMAGENET_MEAN],  # float32 constants, written as their decimals
        rgb_std=[round(float(v), 6) for v in IMAGENET_STD],
        graphs=graphs,
        files=files,
        versions=_versions(),
        opset=OPSET,
    )
    write_manifest(out, manifest)
    say(f"wrote {out / MANIFEST_NAME}")
    return manifest, done
