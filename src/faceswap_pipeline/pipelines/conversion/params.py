"""Typed conversion parameters (`conf/base/parameters_conversion.yml`), checked before any work starts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.strict_model import StrictModel

DIRECTIONS = {"a_to_b": ("person_a", "b"), "b_to_a": ("person_b", "a")}


class DetectionParams(StrictModel):
    det_size: int = Field(192, ge=64, le=4096, description="longer side of the detector's input, px")
    score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    min_score: float = Field(0.7, ge=0.0, le=1.0, description="faces below this are not swapped")
    min_face_size: float = Field(40.0, ge=0.0, description="faces smaller than this (px) are not swapped")
    every_n_frames: int = Field(2, ge=1, le=30, description="detect on every n-th frame, follow faces between")
    providers: list[str] = ["CUDAExecutionProvider", "CPUExecutionProvider"]


class IdentityParams(StrictModel):
    swap_all_faces: bool = False
    threshold: float = Field(0.6, gt=0.0, le=2.0, description="dlib distance: the source person below")
    samples_per_track: int = Field(3, ge=1, le=50)
    every: int = Field(15, ge=1, description="faces of a track between two identity descriptors")


class SmoothingParams(StrictModel):
    min_cutoff_hz: float = Field(0.7, ge=0.0, description="One Euro filter; 0 turns smoothing off")
    beta: float = Field(3.0, ge=0.0)


class CompositingParams(StrictModel):
    mask_erosion: float = Field(0.03, ge=0.0, le=0.5)
    mask_feather: float = Field(0.08, ge=0.0, le=0.5)
    border_fade: float = Field(0.08, ge=0.0, le=0.5)
    colour_transfer: Literal["reinhard_lab", "histogram", "none"] = "reinhard_lab"
    blend: Literal["alpha", "seamless"] = "alpha"


class OutputParams(StrictModel):
    width: int | None = Field(None, ge=16, le=8192, description="per frame; None keeps the source's")
    height: int | None = Field(None, ge=16, le=8192)
    side_by_side: bool = False
    label: bool = True
    label_text: str = Field("SYNTHETIC", min_length=1, max_length=40)
    crf: int = Field(20, ge=0, le=51)
    preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "veryfast"


class GifParams(StrictModel):
    fps: float = Field(8.0, gt=0, le=50)
    max_width: int = Field(256, ge=16, le=2048)
    max_seconds: float = Field(6.0, gt=0, description="the GIF covers at most this much of the video")


class ConversionParams(StrictModel):
    """Everything the conversion reads from its parameters.

    `video` is a local path or an http(s) URL; None converts the source person's first raw video.
    `photos` is a folder of photos to convert instead (swapped_photos).
    """

    video: str | None = None
    photos: str | None = None
    direction: Literal["a_to_b", "b_to_a"] = "a_to_b"
    start_s: float | None = Field(None, ge=0)
    duration_s: float | None = Field(None, gt=0)
    batch_size: int = Field(16, ge=1, le=1024, description="frames detected and swapped together")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="the model's arithmetic; auto: bf16 where the hardware has it natively"
    )
    cpu_threads: int = Field(
        1, ge=0, le=256, description="threads for the model and the detector on a CPU; 0: their default"
    )
    detection: DetectionParams = DetectionParams()
    identity: IdentityParams = IdentityParams()
    smoothing: SmoothingParams = SmoothingParams()
    compositing: CompositingParams = CompositingParams()
    output: OutputParams = OutputParams()
    gif: GifParams = GifParams()

    @model_validator(mode="after")
    def _check(self) -> ConversionParams:
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        return self

    @property
    def source_person(self) -> str:
        """The namespace of the person whose face is replaced."""
        return DIRECTIONS[self.direction][0]

    @property
    def target(self) -> Literal["a", "b"]:
        """The decoder to swap into."""
        return DIRECTIONS[self.direction][1]

    @property
    def end_s(self) -> float | None:
        if self.duration_s is None:
            return None
        return (self.start_s or 0.0) + self.duration_s


def parse_params(value: Any) -> ConversionParams:
    """Validate the `conversion` parameters.

    Raises:
        ValueError: naming each wrong parameter (`conversion.<name>`) and the file to fix.
    """
    return validate_parameters(
        ConversionParams, value, prefix="conversion", file="conf/base/parameters_conversion.yml"
    )
