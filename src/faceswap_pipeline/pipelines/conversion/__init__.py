"""The conversion pipeline: swap faces in a video, keep its sound, mark it synthetic."""

from faceswap_pipeline.pipelines.conversion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
