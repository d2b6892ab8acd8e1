"""Typed evaluation parameters (`conf/base/parameters_evaluation.yml`), checked before any work
starts.

The video evaluation's settings (`evaluation.settings.VideoEvaluationSettings`: detection, described
faces, report frames) are parsed straight from the YAML; this stage adds the held-out reconstruction
and the verdict's thresholds.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from faceswap_pipeline.evaluation.settings import VideoEvaluationSettings
from faceswap_pipeline.evaluation.verdict import VerdictThresholds
from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.strict_model import StrictModel

_VERDICT = VerdictThresholds()


class ReconstructionParams(StrictModel):
    max_faces_per_person: int = Field(
        64, ge=1, description="held-out faces scored, spread over the set"
    )
    batch_size: int = Field(32, ge=1)
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda")


class VerdictParams(StrictModel):
    """What a convincing swap takes; the same thresholds judge training's validation swaps."""

    min_share_nearer_target: float = Field(_VERDICT.min_share_nearer_target, ge=0.0, le=1.0)
    max_distance_to_target: float = Field(_VERDICT.max_distance_to_target, gt=0.0)
    min_detail_kept: float = Field(_VERDICT.min_detail_kept, ge=0.0)

    def thresholds(self) -> VerdictThresholds:
        return VerdictThresholds(**self.model_dump())


class EvaluationParams(VideoEvaluationSettings):
    """`params:evaluation`: the video evaluation's settings, the reconstruction and the verdict."""

    reconstruction: ReconstructionParams = ReconstructionParams()
    verdict: VerdictParams = VerdictParams()


def parse_params(evaluation: dict[str, Any] | None) -> EvaluationParams:
    """Validate `params:evaluation`; a bad value fails naming `evaluation.<key>`."""
    return validate_parameters(
        EvaluationParams,
        evaluation,
        prefix="evaluation",
        file="conf/base/parameters_evaluation.yml",
    )
