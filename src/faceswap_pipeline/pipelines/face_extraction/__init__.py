"""Face extraction: each person's videos -> aligned face crops of that person, a table and a contact
sheet."""

from faceswap_pipeline.pipelines.face_extraction.pipeline import create_pipeline

__all__ = ["create_pipeline"]
