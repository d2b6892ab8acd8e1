"""Faces of the real test clips as the tests need them: in-memory loaders, training items, and
identity descriptors of a clip's face."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from faceswap_pipeline.model.data import FaceItem


def as_loaders(crops: dict[str, np.ndarray]) -> dict[str, Callable[[], np.ndarray]]:
    """`aligned_faces` as the catalog gives it: partition id → loader."""
    return {face_id: lambda crop=crop: crop for face_id, crop in crops.items()}


def face_items(
    clip_faces: dict[str, tuple[dict[str, np.ndarray], pd.DataFrame]],
    person: str,
    count: int | None = None,
) -> list[FaceItem]:
    """The first `count` (all when None) of a person's faces from the `clip_faces` fixture as
    training items, with their 68 landmarks in crop pixels, `(68, 2)` float32."""
    from faceswap_pipeline.model.data import FaceItem

    crops, alignments = clip_faces[person]
    landmarks = dict(zip(alignments["face_id"], alignments["landmarks68_crop"], strict=True))
    return [
        FaceItem(
            face_id,
            lambda crop=crop: crop,
            np.asarray(landmarks[face_id], np.float32).reshape(68, 2),
        )
        for face_id, crop in list(crops.items())[:count]
    ]


def largest_face_descriptors(
    video: Path, start_s: float, count: int
) -> tuple[list[int], np.ndarray]:
    """dlib descriptors of the largest face in `count` frames of `video` from `start_s`, 1 s apart
    (frames without a face are passed over).

    Returns:
        The frames' indexes and their descriptors, `(count, 128)` float32.
    """
    from faceswap_pipeline.faces.detection import RetinaFaceDetector
    from faceswap_pipeline.faces.extraction import describe_largest_face
    from faceswap_pipeline.video.decode import iter_frames

    detector = RetinaFaceDetector(det_size=320)
    frames, descriptors = [], []
    for frame in iter_frames(video, start_s=start_s, sample_fps=1.0):
        descriptor, _ = describe_largest_face(frame.rgb, detector)
        if descriptor is not None:
            frames.append(frame.index)
            descriptors.append(descriptor)
        if len(descriptors) == count:
            break
    return frames, np.stack(descriptors)


def write_aligned_faces(
    project: Path, clip_faces: dict[str, tuple[dict[str, np.ndarray], pd.DataFrame]]
) -> None:
    """Put both people's faces from the `clip_faces` fixture where face_extraction writes them in
    `project`: the crops, the alignments and an identity table of 3 descriptors each."""
    from faceswap_pipeline.datasets import ImageFolderDataset
    from faceswap_pipeline.faces.identity import identity_table

    primary = project / "data/03_primary"
    for person in ("a", "b"):
        crops, alignments = clip_faces[person]
        ImageFolderDataset(path=str(primary / f"faces/person_{person}")).save(crops)
        alignments.to_parquet(primary / f"face_alignments_person_{person}.parquet")
        identity = identity_table(crops, alignments, count=3)
        identity.to_parquet(primary / f"identity_person_{person}.parquet")
