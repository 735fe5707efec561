"""The DTS-VIBE network (paper §3): streams, temporal encoder, regressor, discriminator."""

from .discriminator import MotionDiscriminator, build_discriminator
from .dtsvibe import DTSVIBE, ModelOutput, build_model
from .streams import ImageStream, KeypointStream, PretrainedWeightsMissing, build_streams

__all__ = [
    "DTSVIBE", "ModelOutput", "build_model",
    "MotionDiscriminator", "build_discriminator",
    "ImageStream", "KeypointStream", "PretrainedWeightsMissing", "build_streams",
]
