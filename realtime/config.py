"""Schema of the live app's config (``configs/live/*.yaml``); torch-free like the whole live app."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Sequence

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from training.config.loader import StrictModel, load_config
from training.config.schema import resolve_config_path
from training.landmark_smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF, DEFAULT_RELEASE_CUTOFF
from training.pose_smoothing import DEFAULT_POSE_BETA, DEFAULT_POSE_MIN_CUTOFF


class SourceConfig(StrictModel):
    #: Webcam index ("0"), rtsp:// or http:// URL, video file, image folder, or "demo".
    source: str = "demo"
    #: Play files at their own frame rate (live-like) instead of as fast as possible.
    realtime: bool = True
    #: Video files start again when they end (a kiosk's demo loop; soak tests).
    loop: bool = False
    #: Seconds to wait for a source to open or deliver a first frame before giving up.
    open_timeout_s: PositiveFloat = 10.0
    #: Back-off bounds for reconnecting network sources.
    reconnect_min_s: PositiveFloat = 0.5
    reconnect_max_s: PositiveFloat = 10.0


class TrackingConfig(StrictModel):
    max_persons: PositiveInt = 8
    #: Frames a track survives without a detection before it is dropped (and its state reset).
    max_missed: int = Field(15, ge=0)
    #: Crop = square box around the person scaled by this factor (VIBE: 1.2).
    crop_scale: PositiveFloat = 1.2
    #: Exponential smoothing of box centre and size before cropping (0 = none).
    box_smoothing: float = Field(0.5, ge=0, lt=1)
    #: Run the person detector every this many frames; in between every tracked person is followed
    #: from its previous landmarks, as MediaPipe's pose solution does (1 = detect in every frame).
    detect_every: PositiveInt = 10
    #: Far people (``realtime.detection.PersonDetector``): each detection also looks at up to this many squares
    #: around what moved since the last one (0 = off), and at ``detect_sweep_per_run`` squares of a sweep over
    #: the frame at these grid levels (2 = squares of ½ the short side, 3 = ⅓; [] = off; the first detection
    #: runs the whole sweep). Measured in docs/bench/detection.
    detect_motion_windows: int = Field(3, ge=0)
    detect_sweep: list[int] = [2, 3]
    detect_sweep_per_run: int = Field(1, ge=0)
    #: … and OpenCV's HOG people detector on the frame enlarged this many times (0 = off; about 0.5 s per 960×540
    #: frame at ×2, spread over 4 detections): far, blurred people that BlazePose's face-keyed detector misses.
    #: On in ``configs/live/room.yaml`` (RTSP cameras over streets, courts, shops), off for webcams.
    detect_hog_upscale: float = Field(0.0, ge=0, le=4)
    #: While the tracker keeps a lost person's track (crossing another, a short occlusion), the frames between
    #: detections look for them in a square around where they were last seen (``MultiPersonPose``).
    detect_lost: bool = True
    #: What runs the BlazePose landmark model: auto = the faster here (LiteRT on a CPU, ONNX Runtime with a GPU),
    #: litert = the shipped .tflite, onnxruntime = its ONNX conversion (built by tools/convert_blazepose.py).
    landmark_runtime: Literal["auto", "litert", "onnxruntime"] = "auto"
    #: How many BlazePose passes run side by side — followed people's landmarks, the detector's windows — each
    #: on an interpreter of its own with one thread (the same results as one after another; 1 = one after another).
    blazepose_workers: int = Field(2, ge=1, le=16)
    #: CPU threads of each BlazePose landmark interpreter (LiteRT's XNNPACK; the detector's keep one): 2 lets one
    #: person's pass use both cores of a 2-core machine (docs/bench/live_blazepose: one person's capture→output p50
    #: about 45 → 35 ms on an AVX2-only 2-core CPU; the detector's windows already run side by side).
    landmark_threads: int = Field(2, ge=1, le=64)
    #: 1€ filter on BlazePose's landmarks before the model (``training.landmark_smoothing``): the cutoff (Hz)
    #: of a still landmark (0 = no smoothing) and how fast it rises with speed (per person size per second).
    landmark_min_cutoff: float = Field(DEFAULT_MIN_CUTOFF, ge=0)
    landmark_beta: float = Field(DEFAULT_BETA, ge=0)
    #: BlazePose's visibility and presence held (``training.landmark_smoothing.Hold``): a rise passes at once, a
    #: fall through a low-pass of this cutoff (Hz; 0 = raw confidences).
    landmark_release: float = Field(DEFAULT_RELEASE_CUTOFF, ge=0)
    #: 1€ filter on the body after the model (``training.pose_smoothing``), one factor per person and frame:
    #: the cutoff (Hz) of a still body (0 = no smoothing) and its rise per m/s of the fastest joint.
    pose_min_cutoff: float = Field(DEFAULT_POSE_MIN_CUTOFF, ge=0)
    pose_beta: float = Field(DEFAULT_POSE_BETA, ge=0)

    @field_validator("detect_sweep")
    @classmethod
    def _sweep_levels(cls, value: list[int]) -> list[int]:
        bad = [k for k in value if not 2 <= k <= 8]
        if bad:
            raise ValueError(f"tracking.detect_sweep: grid levels are 2 (squares of 1/2 the frame's short side) to 8, got {bad}")
        return value

    @field_validator("landmark_runtime")
    @classmethod
    def _onnx_file_present(cls, value: str) -> str:
        if value == "onnxruntime":
            from .detection.runtime import missing_landmark_onnx

            problem = missing_landmark_onnx()
            if problem:
                raise ValueError(f"tracking.landmark_runtime: onnxruntime needs the converted model, but {problem}")
        return value


class EngineConfig(StrictModel):
    #: An engine bundle folder written by tools/build_engine.py; empty = the embedded default.
    bundle: Optional[str] = None
    backend: Literal["auto", "tensorrt", "onnxruntime", "torch"] = "auto"
    intra_op_threads: int = Field(0, ge=0)
    #: Let ONNX Runtime's idle threads spin-wait (faster alone, but steals the CPU from the other stages).
    spin_wait: bool = False
    #: ONNX Runtime: auto = the bundle's INT8 graphs on the CPU when it has them (tools/build_engine.py --int8),
    #: fp32 = never, int8 = insist.
    precision: Literal["auto", "fp32", "int8"] = "auto"


class PipelineConfig(StrictModel):
    #: Capacity of each inter-stage queue.
    queue_size: PositiveInt = 4
    #: Live sources keep only the newest frame; files may block so no frame is lost.
    drop_policy: Literal["drop_oldest", "block"] = "drop_oldest"
    #: Kiosk watchdog: a stage (or the capture) busy with one item for longer than this restarts the pipeline.
    watchdog_s: PositiveFloat = 10.0


class ViewConfig(StrictModel):
    #: What the window shows: the 3D view, the overlay on the camera image, both side by side, or nothing.
    view: Literal["3d", "overlay", "both", "none"] = "3d"
    #: The 3D view's size when shown alone (beside the overlay it takes the frame's size).
    width: PositiveInt = 1280
    height: PositiveInt = 720
    #: Full screen, idle screen when nobody is in view, reconnecting source, watchdog (see ``kiosk``).
    kiosk: bool = False
    #: Never open a window, even with a display (recording and publishing still work).
    headless: bool = False
    #: An MP4 of what the window shows (with ``view: none``, the input with the tracks drawn).
    record: Optional[str] = None

    @field_validator("record")
    @classmethod
    def _mp4(cls, value: Optional[str]) -> Optional[str]:
        # OpenCV's writer picks the container from the name and writes nothing, silently, for one it does not know
        if value is not None and not value.lower().endswith(".mp4"):
            raise ValueError(f"view.record: {value!r} is not an .mp4 file name; the recording is MP4 (e.g. --record out/run.mp4)")
        return value


class LiveConfig(StrictModel):
    input: SourceConfig = SourceConfig()
    tracking: TrackingConfig = TrackingConfig()
    engine: EngineConfig = EngineConfig()
    pipeline: PipelineConfig = PipelineConfig()
    view: ViewConfig = ViewConfig()
    out_dir: Optional[str] = None
    stats: bool = False
    #: Stream the bodies out: ``ws://HOST:PORT`` (JSON over WebSocket), ``osc://HOST:PORT`` (VMC), comma-separated.
    publish: Optional[str] = None


def load_live_config(name_or_path: str | Path = "default", overrides: Sequence[str] = ()) -> LiveConfig:
    """``configs/live/<name>.yaml`` (or a path), validated, with ``key=value`` overrides."""
    return load_config(resolve_config_path(name_or_path, "live"), LiveConfig, overrides)
