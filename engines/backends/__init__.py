"""Graph runners behind one small interface: ``run({input name: array}) → {output name: array}``.

* :mod:`.onnxruntime_backend` — ONNX Runtime, CUDA provider when present, else CPU; I/O binding.
* :mod:`.tensorrt_backend` — TensorRT 10 plans through pycuda (no torch); needs a GPU.
* :mod:`.torch_backend` — the PyTorch model itself (the reference the others are tested against).

Each module imports its runtime lazily, so importing this package needs only numpy.
"""

from .base import GraphRunner, LatencyLog

__all__ = ["GraphRunner", "LatencyLog"]
