"""Calibration inputs for an INT8 frame encoder: what the live pipeline would feed it on a clip.

``frame_encoder_samples("demo", manifest)`` plays a source (every frame, as fast as possible) through the
pipeline's own detect+track and crop+flow stages and returns one ``frame_encoder`` input dict per
person and sampled frame (batch 1): the same crops, flow and keypoints the live app would run, so the
INT8 ranges (``engines.build.quantize``) are measured on the inputs they will see.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from engines.manifest import Manifest

from .pipeline import Packet
from .sources import open_source

__all__ = ["frame_encoder_samples"]


def frame_encoder_samples(
    source: str,
    manifest: Manifest,
    count: int = 64,
    every: int = 2,
    max_persons: int = 4,
    flow_provider: Optional[str] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> list[dict[str, np.ndarray]]:
    """Up to ``count`` per-person input dicts from every ``every``-th frame of ``source`` (a file, a folder
    of images, ``demo``, ...). Frames are read in order, so the flow is that of consecutive frames; detection,
    tracking, crops and the landmark filter are the live app's default config's (``realtime.graph``).
    ``progress(n)`` is called with the number of samples so far."""
    from .config import load_live_config
    from .graph import front_stages

    cfg = load_live_config("default", [f"tracking.max_persons={max_persons}"])
    detect, crop = front_stages(cfg, manifest, flow_provider)
    samples: list[dict[str, np.ndarray]] = []
    with open_source(source, realtime=False) as src:
        for frame in iter(src.read, None):
            packet = crop.process(detect.process(Packet(frame)))
            if frame.index % every or packet.inputs is None:
                continue
            for i in range(len(packet.inputs.ids)):
                samples.append({k: v[i : i + 1].copy() for k, v in packet.inputs.inputs.items()})
            if progress:
                progress(min(len(samples), count))
            if len(samples) >= count:
                break
    return samples[:count]
