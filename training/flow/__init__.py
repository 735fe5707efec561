"""Optical flow for the O-stream: classical providers (OpenCV DIS, Farneback) and a small learned
encoder–decoder flow network, all behind one interface.

**Convention** (the same as ``training.losses``, eq. 9): the flow of frame t is defined on frame
t's pixel grid, in pixels, and at each pixel of frame t points to where that point was in frame
t−1 (*backward* flow; channel 0 = dx to the right, channel 1 = dy downward), shape ``(2, H, W)``
float32. Frame 0 of a clip has no predecessor: its flow is zero.

    from training.flow import make_provider
    dis = make_provider("dis")                    # OpenCV DIS, "medium" preset
    flow = dis.flow(prev_rgb, curr_rgb)            # uint8 (H, W, 3) ×2 → float32 (2, H, W)
    learned = make_provider("learned", path="out/flow/flow_net.onnx")   # ONNX Runtime, no torch

This package and :mod:`.providers` import neither torch nor onnx at import time, so the live app
(``realtime/``) may use them. The network (:mod:`.network`) and its training (:mod:`.train`) need
torch and are imported explicitly.
"""

from .providers import (
    PROVIDER_NAMES,
    DISFlow,
    FarnebackFlow,
    FlowProvider,
    LearnedFlow,
    default_learned_path,
    denormalise_imagenet,
    make_provider,
    sequence_flow,
)

__all__ = [
    "FlowProvider", "DISFlow", "FarnebackFlow", "LearnedFlow", "make_provider", "PROVIDER_NAMES",
    "denormalise_imagenet", "sequence_flow", "default_learned_path",
]
