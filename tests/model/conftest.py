"""Aligned faces of the two shared talking-head clips, made with the project's own face extraction.

Session-scoped: detection and landmarks run once (a few seconds) for all training tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.extraction import FaceExtractor
from faceswap_pipeline.video.decode import iter_frames


def extract_clip_faces(
    video: Path, sample_fps: float, end_s: float
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Aligned 256 px crops of a clip's faces, keyed like `aligned_faces`, and their alignment rows.

    Returns:
        `({"<stem>/<frame:06d>_t<track:03d>": RGB uint8 (256, 256, 3)}, table with face_id, video,
        frame_index, time_s, landmarks68_crop (136 floats), kept)`.
    """
    extractor = FaceExtractor(RetinaFaceDetector(batch_size=8))
    crops: dict[str, np.ndarray] = {}
    rows = []
    for batch in extractor.run(iter_frames(video, end_s=end_s, sample_fps=sample_fps)):
        for face in batch:
            if face.crop is None:
                continue
            face_id = f"{video.stem}/{face.frame_index:06d}_t{face.track:03d}"
            crops[face_id] = face.crop
            rows.append(
                {
                    "face_id": face_id,
                    "video": video.name,
                    "frame_index": face.frame_index,
                    "time_s": face.time_s,
                    "landmarks68_crop": face.landmarks68_crop.reshape(-1).astype(float).tolist(),
                    "kept": True,
                }
            )
    return crops, pd.DataFrame(rows)


def as_loaders(crops: dict[str, np.ndarray]) -> dict[str, Callable[[], np.ndarray]]:
    """`aligned_faces` as the catalog gives it: partition id → loader."""
    return {face_id: (lambda crop=crop: crop) for face_id, crop in crops.items()}


@pytest.fixture(scope="session")
def clip_faces(shared_videos: Path) -> dict[str, tuple[dict[str, np.ndarray], pd.DataFrame]]:
    """`{"a": (crops, alignments), "b": ...}`: person A from person_a_d6.mp4, B from person_b_d9.mp4,
    5 frames/s over their first 10 s (about 50 faces each)."""
    return {
        "a": extract_clip_faces(shared_videos / "person_a_d6.mp4", sample_fps=5, end_s=10.0),
        "b": extract_clip_faces(shared_videos / "person_b_d9.mp4", sample_fps=5, end_s=10.0),
    }
