"""Aligned faces of the shared clips (../shared/data/videos) for the training benchmarks, cached.

Every frame's face is extracted with the project's face extraction (detector, tracker, alignment) and
cached as an npz of crops plus a parquet table, so a benchmark re-run starts training at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

PROJECT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = PROJECT.parent / "shared" / "data" / "videos"


def extract_clip(video: Path, cache: Path) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Every frame's aligned faces of a clip, cached as ``<stem>.npz`` + ``<stem>.parquet`` in ``cache``.

    Returns:
        ``({face id: RGB uint8 (256, 256, 3)}, table)``; the table has ``face_id, video, frame_index,
        time_s, landmarks68_crop, kept`` like ``face_alignments``.
    """
    crops_file, table_file = cache / f"{video.stem}.npz", cache / f"{video.stem}.parquet"
    if crops_file.exists() and table_file.exists():
        with np.load(crops_file) as stored:
            crops = {key.replace("|", "/"): stored[key] for key in stored.files}
        return crops, pd.read_parquet(table_file)
    from faceswap_pipeline.faces.detection import RetinaFaceDetector
    from faceswap_pipeline.faces.extraction import FaceExtractor
    from faceswap_pipeline.video.decode import iter_frames

    extractor = FaceExtractor(RetinaFaceDetector(batch_size=8))
    crops, rows = {}, []
    for batch in extractor.run(iter_frames(video)):
        for face in batch:
            if face.crop is None:
                continue
            face_id = f"{video.stem}/{face.frame_index:06d}_t{face.track:03d}"
            crops[face_id] = face.crop
            rows.append({
                "face_id": face_id,
                "video": video.name,
                "frame_index": face.frame_index,
                "time_s": face.time_s,
                "landmarks68_crop": face.landmarks68_crop.reshape(-1).astype(float).tolist(),
                "kept": True,
            })
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(crops_file, **{key.replace("/", "|"): crop for key, crop in crops.items()})
    table = pd.DataFrame(rows)
    table.to_parquet(table_file)
    return crops, table


def loaders(crops: dict[str, np.ndarray]) -> dict[str, Callable[[], np.ndarray]]:
    """``{face id: loader}`` as the ``aligned_faces`` dataset gives them."""
    return {key: (lambda crop=crop: crop) for key, crop in crops.items()}


def identity_table(crops: dict[str, np.ndarray], table: pd.DataFrame, count: int = 12) -> pd.DataFrame:
    """``{person}_identity`` as face extraction writes it: dlib descriptors of ``count`` faces spread
    over the clip."""
    from faceswap_pipeline.faces.identity import face_descriptor

    rows = table.iloc[np.unique(np.linspace(0, len(table) - 1, count).round().astype(int))]
    return pd.DataFrame({
        "video": rows["video"].to_list(),
        "track": 0,
        "frame_index": rows["frame_index"].to_list(),
        "descriptor": [
            face_descriptor(crops[row.face_id], np.asarray(row.landmarks68_crop).reshape(68, 2)).tolist()
            for row in rows.itertuples()
        ],
    })


def set_parameter(params: dict, assignment: str) -> None:
    """Apply ``a.b.c=value`` (value in YAML) to a nested parameter dict."""
    key, value = assignment.split("=", 1)
    *path, last = key.split(".")
    target = params
    for part in path:
        target = target.setdefault(part, {})
    target[last] = yaml.safe_load(value)
