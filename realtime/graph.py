"""The live pipeline, assembled in one place (like a MediaPipe graph): read this file to see what runs.

    source ──► DetectTrack ──► CropFlow ──► Inference ──► Outputs ──► sinks
               (BlazePose        (crops,       (engine        (track files, publishers,
                detector,         DIS flow,     bundle, then   window or recorder)
                landmarks,        landmark      the body
                tracker)          filter)       filter)

Each stage runs on its own thread (``realtime.pipeline.LivePipeline``). ``build_pipeline(cfg)`` builds the
whole graph from a validated live config; ``front_stages`` the part before the engine, alone (INT8
calibration samples its inputs, ``realtime.calibration``), with the same settings as live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from training.config import ConfigError

from .config import LiveConfig
from .pipeline import CropFlow, DetectTrack

__all__ = ["build_pipeline", "front_stages", "open_engine"]


def front_stages(cfg: LiveConfig, manifest, flow_provider: Optional[str] = None) -> tuple[DetectTrack, CropFlow]:
    """Detection and tracking, then crops and flow, as ``cfg`` sets them, for a bundle's ``manifest``
    (``engines.manifest.Manifest``); ``flow_provider`` overrides the manifest's."""
    from .detection import MultiPersonPose
    from .person_inputs import PersonInputs

    t = cfg.tracking
    builder = PersonInputs.for_manifest(manifest, flow_provider, scale=t.crop_scale,
                                        smoothing=(t.landmark_min_cutoff, t.landmark_beta, t.landmark_release))
    return DetectTrack(MultiPersonPose.from_tracking(t)), CropFlow(builder)


def open_engine(cfg: LiveConfig, log=print):
    """The config's engine bundle (``engine.bundle``, else the embedded default's) as an ``EngineSession``."""
    from engines import EngineSession
    from engines.defaults import default_bundle

    bundle = Path(cfg.engine.bundle) if cfg.engine.bundle else default_bundle(max_persons=max(8, cfg.tracking.max_persons), log=log)
    session = EngineSession(bundle, cfg.engine.backend, cfg.engine.intra_op_threads, spin=cfg.engine.spin_wait,
                            precision=cfg.engine.precision)
    log(f"engine: {session.backend} on {session.device}, {session.precision_label} "
        f"({session.manifest.model_name}, streams {'+'.join(session.streams)})")
    return session


def build_pipeline(cfg: LiveConfig, max_frames: Optional[int] = None, log=print):
    """Everything ``dtsvibe-live`` runs, from a validated config: (pipeline, session)."""
    from training.pose_smoothing import PoseSmoother

    from .recording import ResultWriter, VideoRecorder, h36m_regressor
    from .pipeline import Inference, LivePipeline, Outputs
    from .sources import open_source
    from .view.window import display_available

    source = open_source(cfg.input.source, cfg.input.realtime, cfg.input.open_timeout_s,
                         cfg.input.reconnect_min_s, cfg.input.reconnect_max_s, loop=cfg.input.loop or cfg.view.kiosk)
    if max_frames is not None:
        source = _Limited(source, max_frames)
    session = open_engine(cfg, log)
    t = cfg.tracking
    detect, crop = front_stages(cfg, session.manifest)
    sinks = []
    if cfg.out_dir:
        sinks.append(ResultWriter(cfg.out_dir, h36m=h36m_regressor(session.manifest.model_config["body_model"])))
    if cfg.publish:
        from .publish import make_publishers

        try:
            sinks.extend(make_publishers(cfg.publish))
        except ValueError as exc:  # a bad URL or a port in use
            raise ConfigError(str(exc)) from None
    v = cfg.view
    show = v.view != "none" and not v.headless and display_available()
    view = None
    if v.view != "none" and (show or v.record):
        from .view import LiveView
        from .view.window import hud_lines

        view = LiveView(v.view, session.faces, (v.width, v.height), show=show,
                        record=v.record, fps=source.fps or 30.0, kiosk=v.kiosk)
        sinks.append(view)
    elif v.record:
        sinks.append(VideoRecorder(v.record, source.fps or 30.0))
    policy = "drop_oldest" if source.live and cfg.pipeline.drop_policy == "drop_oldest" else "block"
    stages = [detect, crop, Inference(session, PoseSmoother(t.pose_min_cutoff, t.pose_beta)), Outputs(sinks)]
    pipeline = LivePipeline(source, stages, cfg.pipeline.queue_size, policy)
    if view is not None:
        view.hud, view.on_quit = hud_lines(pipeline.stats), pipeline.stop
    return pipeline, session


class _Limited:
    """A source that ends after ``n`` frames (``--max-frames``)."""

    def __init__(self, source, n: int) -> None:
        self.inner, self.n = source, n

    def read(self):
        return self.inner.read() if self.inner.index < self.n else None

    def __getattr__(self, name):
        return getattr(self.inner, name)
