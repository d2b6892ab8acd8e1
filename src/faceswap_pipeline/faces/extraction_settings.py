"""How one video's faces are extracted: the extraction engine's one settings type (frozen, no
unknown keys).

Face extraction's parameters (``pipelines/face_extraction/params.py``) parse the YAML straight into
these models; every default is written here once. Pydantic only: importing this loads no model.
"""

from __future__ import annotations

from pydantic import Field

from faceswap_pipeline.faces.detection import DetectorSettings
from faceswap_pipeline.strict_model import StrictModel


class TrackingSettings(StrictModel):
    """How faces are followed from frame to frame (see ``IouTracker`` and ``ShotCutDetector``)."""

    iou_threshold: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="a detection continues a track when boxes overlap this much",
    )
    max_missed: int = Field(5, ge=0, description="frames a track survives without a detection")
    cut_threshold: float = Field(
        20.0, ge=0.0, description="frame difference (0-255) that ends all tracks; 0: off"
    )


class DescriptorSampling(StrictModel):
    """Which faces of a track get an identity descriptor (~150 ms each on a CPU)."""

    descriptor_every: int = Field(
        30,
        ge=1,
        description=(
            "a track's faces between two descriptors (the first face is always described); "
            "after four descriptors the spacing doubles each time"
        ),
    )
    max_descriptors_per_track: int = Field(8, ge=1, description="at most this many per track")


class ExtractionSettings(StrictModel):
    """Everything the per-video extraction reads: the detector, thresholds, sizes, tracking and
    descriptor sampling. Face extraction's parameters parse the YAML straight into it; every default
    is written here once.

    Attributes:
        crop_size: side of the aligned square crop, pixels.
        margin: border around the template's face square, as a fraction of it (see ``alignment``).
        min_face_size: faces whose box's shorter side is below this many frame pixels are rejected.
        min_score: faces the detector is less sure of are rejected.
        min_sharpness: aligned crops whose Laplacian variance is below this are rejected as blurred.
        detector: RetinaFace's settings (``FaceExtractor`` builds its detector from them when it is
            given none).
        tracking: see ``TrackingSettings``.
        identity: which faces get descriptors (``DescriptorSampling``).
    """

    crop_size: int = Field(256, ge=32, le=2048)
    margin: float = Field(0.2, ge=0.0, le=2.0)
    min_face_size: float = Field(64.0, ge=0.0)
    min_score: float = Field(0.8, ge=0.0, le=1.0)
    min_sharpness: float = Field(15.0, ge=0.0)
    detector: DetectorSettings = DetectorSettings()
    tracking: TrackingSettings = TrackingSettings()
    identity: DescriptorSampling = DescriptorSampling()
