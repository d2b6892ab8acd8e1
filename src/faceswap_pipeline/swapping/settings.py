"""How a video's faces are swapped: the swapping engine's one settings type (frozen, no unknown
keys).

Conversion's parameters (`pipelines/conversion/params.py`) parse the YAML straight into these
models; every default is written here once. Pydantic only: importing this loads no model or video.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from faceswap_pipeline.faces.detection import DetectorSettings
from faceswap_pipeline.faces.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF_HZ
from faceswap_pipeline.strict_model import StrictModel

# A swap's direction: the person whose face is replaced (namespace) and the decoder swapped into.
DIRECTIONS: dict[str, tuple[str, Literal["a", "b"]]] = {
    "a_to_b": ("person_a", "b"),
    "b_to_a": ("person_b", "a"),
}
Direction = Literal["a_to_b", "b_to_a"]
DEFAULT_DIRECTION: Direction = "a_to_b"


class SwapDetectionSettings(DetectorSettings):
    """Which faces the detector finds and which of them are swapped.

    The detector's batch and threads are the conversion's own `batch_size` and `cpu_threads`:
    setting them here is refused rather than ignored.
    """

    det_size: int = Field(192, ge=64, le=4096, description="detector input's longer side, px")
    min_score: float = Field(0.7, ge=0.0, le=1.0, description="faces below this are not swapped")
    min_face_size: float = Field(
        40.0, ge=0.0, description="faces whose box's shorter side is below this px are not swapped"
    )
    every_n_frames: int = Field(
        2,
        ge=1,
        le=30,
        description=(
            "detect on every n-th frame; between, faces are followed by their 68 landmarks "
            "(a new face appears at most n - 1 frames late)"
        ),
    )

    @model_validator(mode="after")
    def _batch_and_threads_are_the_conversion_s(self) -> SwapDetectionSettings:
        for name, owner in (("batch_size", "batch_size"), ("intra_op_threads", "cpu_threads")):
            if name in self.model_fields_set:
                raise ValueError(f"{name} is set by conversion.{owner} for the whole conversion")
        return self


class IdentitySettings(StrictModel):
    """Which tracks are the source person: a sample of dlib descriptors against the person's."""

    swap_all_faces: bool = Field(False, description="swap every face, not only the source person's")
    threshold: float = Field(
        0.6,
        gt=0.0,
        le=2.0,
        description=(
            "a track is the source person when its median descriptor distance to the "
            "person's is at most this (dlib's same-person distance: SAME_PERSON_DISTANCE)"
        ),
    )
    samples_per_track: int = Field(3, ge=1, le=50, description="descriptors a track, ~100 ms each")
    every: int = Field(15, ge=1, description="faces of a track between two identity descriptors")


class SmoothingSettings(StrictModel):
    """The One Euro filter on the landmarks (`faces.smoothing`)."""

    min_cutoff_hz: float = Field(
        DEFAULT_MIN_CUTOFF_HZ, ge=0.0, description="One Euro filter; 0 turns smoothing off"
    )
    beta: float = Field(DEFAULT_BETA, ge=0.0)


class CompositingSettings(StrictModel):
    """How a swapped face is masked, colour-matched and blended into its frame."""

    mask_erosion: float = Field(
        0.03, ge=0.0, le=0.5, description="landmark hull shrunk by this fraction of the face's size"
    )
    mask_feather: float = Field(
        0.08, ge=0.0, le=0.5, description="mask edge fades over this fraction of the face's size"
    )
    border_fade: float = Field(
        0.08, ge=0.0, le=0.5, description="fraction of the model region its square edge fades over"
    )
    follow_swapped_jaw: bool = Field(
        True,
        description="cut the mask to the swapped face's own jaw line where it lies inside the"
        " source's (landmarks found on the model's output), so a narrower target face shows the"
        " source's cheek there, not the target's background",
    )
    keep_source_mouth: bool = Field(
        False,
        description="show the source face's own mouth (its lips and what lies between them)"
        " through the swapped face: speech, teeth and tongue move as in the source, at the cost of"
        " the target's lips",
    )
    colour_transfer: Literal["reinhard_lab", "histogram", "none"] = "reinhard_lab"
    blend: Literal["alpha", "seamless"] = "alpha"


class OutputSettings(StrictModel):
    """The output frames (size, label, side by side) and their H.264 encoding."""

    width: int | None = Field(None, ge=16, le=8192, description="per frame; None: the source's")
    height: int | None = Field(None, ge=16, le=8192)
    side_by_side: bool = False
    label: bool = True
    label_text: str = Field("SYNTHETIC", min_length=1, max_length=40)
    crf: int = Field(20, ge=0, le=51)
    preset: Literal[
        "ultrafast",
        "superfast",
        "veryfast",
        "faster",
        "fast",
        "medium",
        "slow",
        "slower",
        "veryslow",
    ] = "veryfast"


class SwapSettings(StrictModel):
    """Everything the swapping engine reads: where the model runs, detection, identity, smoothing,
    compositing and the output frames."""

    batch_size: int = Field(16, ge=1, le=1024, description="frames detected and swapped together")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="the model's arithmetic; auto: bf16 where the hardware has it natively"
    )
    cpu_threads: int = Field(
        1,
        ge=0,
        le=256,
        description="threads for the model and the detector on a CPU; 0: their default",
    )
    detection: SwapDetectionSettings = SwapDetectionSettings()
    identity: IdentitySettings = IdentitySettings()
    smoothing: SmoothingSettings = SmoothingSettings()
    compositing: CompositingSettings = CompositingSettings()
    output: OutputSettings = OutputSettings()

    @model_validator(mode="after")
    def _check_device(self) -> SwapSettings:
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        return self
