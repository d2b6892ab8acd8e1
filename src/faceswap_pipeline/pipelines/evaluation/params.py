"""Typed evaluation parameters (`conf/base/parameters_evaluation.yml`), checked before any work starts."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from faceswap_pipeline.evaluation.verdict import VerdictThresholds
from faceswap_pipeline.faces.detection import DetectorSettings
from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.strict_model import StrictModel

_VERDICT = VerdictThresholds()


class DetectionParams(DetectorSettings):
    """RetinaFace on both videos, and which of its faces are evaluated."""

    min_score: float = Field(0.7, ge=0.0, le=1.0, description="faces below this are not evaluated")
    min_face_size: float = Field(40.0, ge=0.0, description="faces smaller than this (px) are not evaluated")
    match_iou: float = Field(0.3, gt=0.0, le=1.0, description="overlap of the swapped face with the source's")
    batch_size: int = Field(8, ge=1, le=256, description="frame pairs detected together")

class ReconstructionParams(StrictModel):
    max_faces_per_person: int = Field(64, ge=1, description="held-out faces scored, spread over the set")
    batch_size: int = Field(32, ge=1)
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda")

class ReportParams(StrictModel):
    frames: int = Field(4, ge=0, le=32, description="original | swapped frames shown")
    frame_height: int = Field(240, ge=32, le=2160)

class VerdictParams(StrictModel):
    """What a convincing swap takes; the same thresholds judge training's validation swaps."""

    min_share_nearer_target: float = Field(_VERDICT.min_share_nearer_target, ge=0.0, le=1.0)
    max_distance_to_target: float = Field(_VERDICT.max_distance_to_target, gt=0.0)
    min_detail_kept: float = Field(_VERDICT.min_detail_kept, ge=0.0)

    def thresholds(self) -> VerdictThresholds:
        return VerdictThresholds(**self.model_dump())

class EvaluationParams(StrictModel):
    """`params:evaluation`."""

    max_described_faces: int = Field(40, ge=0, description="dlib descriptors of swapped faces (~130 ms each)")
    detection: DetectionParams = DetectionParams()
    reconstruction: ReconstructionParams = ReconstructionParams()
    report: ReportParams = ReportParams()
    verdict: VerdictParams = VerdictParams()

def parse_params(evaluation: dict[str, Any] | None) -> EvaluationParams:
    """Validate `params:evaluation`; a bad value fails naming `evaluation.<key>`."""
    return validate_parameters(
        EvaluationParams, evaluation, prefix="evaluation", file="conf/base/parameters_evaluation.yml"
    )
