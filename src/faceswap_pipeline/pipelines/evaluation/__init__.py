"""The evaluation pipeline: measure a swapped video and the model, write the report and MLflow
metrics."""

from faceswap_pipeline.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
