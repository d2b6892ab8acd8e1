"""The ingestion pipeline: each person's configured sources become local videos and a metadata
table."""

from faceswap_pipeline.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
