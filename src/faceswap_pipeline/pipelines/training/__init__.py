"""The training pipeline: both people's aligned faces → the swap model, tracked in MLflow."""

from faceswap_pipeline.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
