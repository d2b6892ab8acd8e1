"""Kedro datasets the catalog needs and kedro-datasets lacks (videos as paths, lazy image folders)."""

from faceswap_pipeline.datasets.files import (
    ImageFolderDataset,
    VideoFileDataset,
    VideoFolderDataset,
)

__all__ = ["ImageFolderDataset", "VideoFileDataset", "VideoFolderDataset"]
