"""Flow providers behind one interface (torch-free: OpenCV, numpy and, for ``learned``, ONNX Runtime).

Every provider maps two uint8 frames of the same size to the *backward* flow of the second one
(see the package docstring): ``flow(prev, curr)[:, y, x] = (dx, dy)`` such that the point at pixel
``(x, y)`` of ``curr`` was at ``(x + dx, y + dy)`` in ``prev``. So ``prev`` warped by the flow
(``prev(x + dx, y + dy)``) reproduces ``curr``.

OpenCV's dense-flow routines compute ``I0 → I1`` flow on ``I0``'s grid (``I0(p) ≈ I1(p + f)``), so
the backward flow is ``calc(curr, prev)``; ``tests/test_flow.py`` checks the direction on a shift.

Frames are ``(H, W, 3)`` uint8 (or ``(H, W)`` grey for the classical providers). Colour order
matters only for the learned network (trained on RGB): every provider takes ``channel_order``
(``"rgb"`` by default; ``"bgr"`` for frames straight from OpenCV).

Names (:func:`make_provider`): ``dis`` (= ``dis-medium``: the best DIS preset on body pixels, 1.6 ms per 128² pair),
``dis-ultrafast``, ``dis-fast``, ``dis-medium``,
``farneback``, ``learned`` (ONNX file from ``path=`` or :func:`default_learned_path`). The first
three plain names match the model config's ``streams.flow.provider`` values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "FlowProvider", "DISFlow", "FarnebackFlow", "LearnedFlow", "make_provider", "PROVIDER_NAMES",
    "denormalise_imagenet", "normalise_imagenet", "sequence_flow", "default_learned_path",
]


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

#: Every name :func:`make_provider` accepts.
PROVIDER_NAMES: tuple[str, ...] = ("dis", "dis-ultrafast", "dis-fast", "dis-medium", "farneback", "learned")


def _check_pair(prev: np.ndarray, curr: np.ndarray) -> None:
    for name, a in (("prev", prev), ("curr", curr)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim not in (2, 3) or (
            a.ndim == 3 and a.shape[2] != 3
        ):
            shape = getattr(a, "shape", type(a).__name__)
            dtype = getattr(a, "dtype", "")
            raise ValueError(f"{name} must be a uint8 (H, W, 3) or (H, W) array; got {shape} {dtype}")
    if prev.shape != curr.shape:
        raise ValueError(f"prev and curr differ in shape: {prev.shape} vs {curr.shape}")


class FlowProvider:
    """Two frames → backward flow of the second. Subclasses implement :meth:`flow`.

    Attributes: ``name`` (the :func:`make_provider` name), ``channel_order`` (``"rgb"``/``"bgr"``).
    """

    name: str = "base"

    def __init__(self, channel_order: str = "rgb") -> None:
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', not {channel_order!r}")
        self.channel_order = channel_order

    def flow(self, prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
        """uint8 ``(H, W, 3)`` (or ``(H, W)``) ×2 → float32 ``(2, H, W)`` backward flow of ``curr``."""
        raise NotImplementedError

    def flow_batch(self, prevs: Sequence[np.ndarray], currs: Sequence[np.ndarray]) -> np.ndarray:
        """``N`` pairs (a sequence or an ``(N, H, W, 3)`` array each) → float32 ``(N, 2, H, W)``."""
        if len(prevs) != len(currs):
            raise ValueError(f"{len(prevs)} previous frames but {len(currs)} current frames")
        if len(prevs) == 0:
            raise ValueError("flow_batch needs at least one pair")
        return np.stack([self.flow(p, c) for p, c in zip(prevs, currs)])

    def _gray(self, img: np.ndarray) -> np.ndarray:
        if img.ndim == 2:
            return img
        code = cv2.COLOR_RGB2GRAY if self.channel_order == "rgb" else cv2.COLOR_BGR2GRAY
        return cv2.cvtColor(img, code)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class DISFlow(FlowProvider):
    """OpenCV's Dense Inverse Search flow at a preset (``ultrafast``, ``fast`` or ``medium``)."""

    def __init__(self, preset: str = "ultrafast", channel_order: str = "rgb") -> None:
        super().__init__(channel_order)
        if preset not in _DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {sorted(_DIS_PRESETS)}")
        self.preset = preset
        self.name = f"dis-{preset}"
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])

    def flow(self, prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
        _check_pair(prev, curr)
        f = self._dis.calc(self._gray(curr), self._gray(prev), None)  # on curr's grid, → prev
        return np.ascontiguousarray(f.transpose(2, 0, 1), dtype=np.float32)


class FarnebackFlow(FlowProvider):
    """OpenCV's Farneback polynomial-expansion flow (3 levels, 15 px window, Gaussian weighting)."""

    name = "farneback"

    def __init__(self, levels: int = 3, winsize: int = 15, iterations: int = 3, channel_order: str = "rgb") -> None:
        super().__init__(channel_order)
        self.levels, self.winsize, self.iterations = levels, winsize, iterations

    def flow(self, prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
        _check_pair(prev, curr)
        f = cv2.calcOpticalFlowFarneback(
            self._gray(curr), self._gray(prev), None, 0.5, self.levels, self.winsize, self.iterations, 5, 1.1,
            cv2.OPTFLOW_FARNEBACK_GAUSSIAN,
        )
        return np.ascontiguousarray(f.transpose(2, 0, 1), dtype=np.float32)


def normalise_imagenet(img: np.ndarray, channel_order: str = "rgb") -> np.ndarray:
    """uint8 ``(..., H, W, 3)`` → float32 ``(..., 3, H, W)`` RGB, ImageNet-normalised."""
    x = img.astype(np.float32) * (1.0 / 255.0)
    if channel_order == "bgr":
        x = x[..., ::-1]
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def denormalise_imagenet(rgb: np.ndarray) -> np.ndarray:
    """ImageNet-normalised float ``(..., 3, H, W)`` (numpy or CPU tensor) → uint8 RGB ``(..., H, W, 3)``."""
    x = np.asarray(rgb, dtype=np.float32)
    x = np.moveaxis(x, -3, -1) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def sequence_flow(provider: FlowProvider, frames: np.ndarray) -> np.ndarray:
    """Backward flow of every frame of a clip: uint8 ``(T, H, W, 3)`` → float32 ``(T, 2, H, W)``, frame 0 zero.

    To run on the data sets' ImageNet-normalised ``rgb`` tensors, pass ``denormalise_imagenet(rgb)``.
    """
    frames = np.asarray(frames)
    t = frames.shape[0]
    out = np.zeros((t, 2) + frames.shape[1:3], np.float32)
    if t > 1:
        out[1:] = provider.flow_batch(frames[:-1], frames[1:])
    return out


def default_learned_path() -> Path:
    """Where ``make_provider("learned")`` looks without ``path=``: ``$DTSVIBE_FLOW_ONNX`` or
    ``out/flow/flow_net.onnx`` in the repository (written by ``tools/train_flow.py``)."""
    env = os.environ.get("DTSVIBE_FLOW_ONNX")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "out" / "flow" / "flow_net.onnx"


class LearnedFlow(FlowProvider):
    """The learned flow network exported to ONNX (``training.flow.network.export_onnx``), run by ONNX Runtime.

    The graph takes ``prev``/``curr`` ImageNet-normalised RGB ``(B, 3, S, S)`` and returns ``flow``
    ``(B, 2, S, S)`` in pixels. Frames of another size are resized to ``S×S`` and the flow resized
    back (its components scaled by the size ratios). A graph with a fixed batch runs pairs in
    chunks of that batch (the last one padded).
    """

    name = "learned"

    def __init__(
        self,
        path: Optional[str | os.PathLike] = None,
        channel_order: str = "rgb",
        threads: Optional[int] = None,
        providers: Optional[Sequence[str]] = None,
    ) -> None:
        super().__init__(channel_order)
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("the 'learned' flow provider needs onnxruntime: pip install onnxruntime") from e
        self.path = Path(path) if path is not None else default_learned_path()
        if not self.path.is_file():
            raise FileNotFoundError(
                f"learned flow graph {self.path} not found: train and export it with "
                "`python tools/train_flow.py` or pass path= / set DTSVIBE_FLOW_ONNX"
            )
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path), opts, providers=list(providers) if providers else ["CPUExecutionProvider"]
        )
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        if names != ["prev", "curr"]:
            raise ValueError(f"{self.path}: expected inputs ['prev', 'curr'], found {names}")
        shape = inputs[0].shape
        self.crop_size = int(shape[2])
        self.batch = shape[0] if isinstance(shape[0], int) else None  # None: dynamic

    def _run(self, prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
        n = prev.shape[0]
        if self.batch is None:
            return self.session.run(["flow"], {"prev": prev, "curr": curr})[0]
        outs = []
        for i in range(0, n, self.batch):
            p, c = prev[i : i + self.batch], curr[i : i + self.batch]
            k = p.shape[0]
            if k < self.batch:
                pad = ((0, self.batch - k), (0, 0), (0, 0), (0, 0))
                p, c = np.pad(p, pad), np.pad(c, pad)
            outs.append(self.session.run(["flow"], {"prev": p, "curr": c})[0][:k])
        return np.concatenate(outs)

    def _prep(self, img: np.ndarray) -> np.ndarray:
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        s = self.crop_size
        if img.shape[:2] != (s, s):
            img = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
        return normalise_imagenet(img, self.channel_order)

    def flow_batch(self, prevs: Sequence[np.ndarray], currs: Sequence[np.ndarray]) -> np.ndarray:
        if len(prevs) != len(currs):
            raise ValueError(f"{len(prevs)} previous frames but {len(currs)} current frames")
        if len(prevs) == 0:
            raise ValueError("flow_batch needs at least one pair")
        for p, c in zip(prevs, currs):
            _check_pair(p, c)
        h, w = prevs[0].shape[:2]
        if any(p.shape[:2] != (h, w) for p in prevs):
            raise ValueError("flow_batch needs frames of one size")
        prev = np.stack([self._prep(p) for p in prevs])
        curr = np.stack([self._prep(c) for c in currs])
        f = self._run(prev, curr)
        s = self.crop_size
        if (h, w) != (s, s):
            f = np.stack([
                np.stack([cv2.resize(fi[0], (w, h)) * (w / s), cv2.resize(fi[1], (w, h)) * (h / s)]) for fi in f
            ])
        return np.ascontiguousarray(f, dtype=np.float32)

    def flow(self, prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
        return self.flow_batch([prev], [curr])[0]


def make_provider(name: str, *, path: Optional[str | os.PathLike] = None, channel_order: str = "rgb",
                  threads: Optional[int] = None) -> FlowProvider:
    """A provider by name (see :data:`PROVIDER_NAMES`). ``path``/``threads`` apply to ``learned`` only."""
    key = name.strip().lower()
    if key == "dis":
        key = "dis-medium"
    if key.startswith("dis-"):
        return DISFlow(key[4:], channel_order=channel_order) if key[4:] in _DIS_PRESETS else _unknown(name)
    if key == "farneback":
        return FarnebackFlow(channel_order=channel_order)
    if key == "learned":
        return LearnedFlow(path, channel_order=channel_order, threads=threads)
    return _unknown(name)


def _unknown(name: str):
    raise ValueError(f"unknown flow provider {name!r}; choose one of {', '.join(PROVIDER_NAMES)}")
