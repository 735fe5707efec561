"""The pipeline's assembly (``realtime.graph``): one place builds the stages, from the live config."""

from __future__ import annotations

import pytest

from engines import read_manifest
from engines.defaults import default_bundle
from realtime.config import load_live_config
from realtime.graph import build_pipeline, front_stages
from realtime.pipeline import CropFlow, DetectTrack, Inference, Outputs


@pytest.fixture(scope="module")
def manifest():
    return read_manifest(default_bundle())


def test_front_stages_take_the_configs_tracking_settings(manifest):
    cfg = load_live_config("default", ["tracking.crop_scale=1.5", "tracking.landmark_min_cutoff=0", "tracking.landmark_release=0",
                                       "tracking.max_persons=2"])
    detect, crop = front_stages(cfg, manifest)
    assert isinstance(detect, DetectTrack) and isinstance(crop, CropFlow)
    assert crop.builder.scale == 1.5 and crop.builder.smoother is None
    held = front_stages(load_live_config("default", ["tracking.landmark_min_cutoff=0", "tracking.landmark_release=0.7"]), manifest)[1].builder
    assert held.smoother is not None and (held.smoother.min_cutoff, held.smoother.release_cutoff) == (0.0, 0.7)
    assert detect.pose.tracker.max_persons == 2
    on = front_stages(load_live_config("default"), manifest)[1].builder
    assert on.smoother is not None and on.smoother.min_cutoff == load_live_config("default").tracking.landmark_min_cutoff


def test_build_pipeline_wires_the_body_filter_from_the_config():
    cfg = load_live_config("default", ["input.source=demo", "input.realtime=false", "view.view=none",
                                       "tracking.pose_min_cutoff=3.5", "tracking.pose_beta=0.5"])
    pipeline, session = build_pipeline(cfg, max_frames=2, log=lambda m: None)
    kinds = [type(s) for s in pipeline.stages]
    assert kinds == [DetectTrack, CropFlow, Inference, Outputs]
    smoother = pipeline.stages[2].smoother
    assert (smoother.min_cutoff, smoother.beta) == (3.5, 0.5)
    pipeline.run()
    assert pipeline.source.index >= 2
