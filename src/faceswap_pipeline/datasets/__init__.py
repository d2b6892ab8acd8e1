"""Kedro datasets the catalog needs and kedro-datasets lacks (videos as paths, lazy image
folders)."""

from faceswap_pipeline.datasets.files import (
    ImageFolderDataset,
    StagingFolderDataset,
    VideoFileDataset,
    VideoFolderDataset,
)

__all__ = ["ImageFolderDataset", "StagingFolderDataset", "VideoFileDataset", "VideoFolderDataset"]
