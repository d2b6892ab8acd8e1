"""Pretraining: many people's videos → one autoencoder (`base_model`), a face prior for pair
training."""

from faceswap_pipeline.pipelines.pretraining.pipeline import create_pipeline

__all__ = ["create_pipeline"]
