"""How a swapped video is measured: the video evaluation's one settings type (frozen, no unknown
keys).

Evaluation's parameters (`pipelines/evaluation/params.py`) parse the YAML straight into these
models; every default is written here once. Pydantic only: importing this loads no model or video.
"""

from __future__ import annotations

from pydantic import Field

from faceswap_pipeline.faces.detection import DetectorSettings
from faceswap_pipeline.strict_model import StrictModel


class EvaluationDetectionSettings(DetectorSettings):
    """RetinaFace on both videos, and which of its faces are evaluated."""

    min_score: float = Field(0.7, ge=0.0, le=1.0, description="faces below this are not evaluated")
    min_face_size: float = Field(
        40.0,
        ge=0.0,
        description="faces whose box's shorter side is below this (px) are not evaluated",
    )
    match_iou: float = Field(
        0.3, gt=0.0, le=1.0, description="overlap of the swapped face with the source face's box"
    )
    batch_size: int = Field(
        8,
        ge=1,
        le=256,
        description="frame pairs detected together (one detector call: sources and outputs)",
    )


class ReportSettings(StrictModel):
    """The original | swapped frames kept for the report, spread over the swapped frames."""

    frames: int = Field(4, ge=0, le=32, description="original | swapped frames shown")
    frame_height: int = Field(240, ge=32, le=2160, description="their height, px")


class VideoEvaluationSettings(StrictModel):
    """Everything `evaluation.video.evaluate_swapped_video` reads: detection, the swapped faces
    described for identity, and the report frames."""

    max_described_faces: int = Field(
        40,
        ge=0,
        description=(
            "dlib descriptors of swapped faces, spread evenly over the swapped frames "
            "(~130 ms each on a CPU)"
        ),
    )
    detection: EvaluationDetectionSettings = EvaluationDetectionSettings()
    report: ReportSettings = ReportSettings()
