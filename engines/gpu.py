"""What this machine offers TensorRT (no torch, no build code): whether plans can run here, and the GPU's
identity that a plan is bound to. Used by the runtime (``engines.session``, the TensorRT backend) and by the
plan builder alike."""

from __future__ import annotations

from typing import Optional

__all__ = ["gpu_identity", "tensorrt_unavailable"]


def tensorrt_unavailable() -> Optional[str]:
    """``None`` when TensorRT plans can be built and run here, else the reason in one line."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"TensorRT is not installed (import tensorrt: {exc}); pip install -e .[trt] on a machine with an NVIDIA GPU"
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() == 0:
            return "no CUDA GPU is visible (pycuda sees 0 devices)"
    except ImportError as exc:
        return f"pycuda is not installed ({exc}); pip install -e .[trt]"
    except Exception as exc:  # noqa: BLE001 - pycuda raises its own LogicError/RuntimeError
        return f"CUDA is not usable here ({type(exc).__name__}: {exc})"
    return None


def gpu_identity(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability ``"8.9"``) of CUDA device ``device``."""
    import pycuda.driver as cuda

    cuda.init()
    dev = cuda.Device(device)
    major, minor = dev.compute_capability()
    return dev.name(), f"{major}.{minor}"
