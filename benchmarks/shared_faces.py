"""Aligned faces of the shared clips (../shared/data/videos) for the training benchmarks, cached.

Every frame's face is extracted with the project's face extraction (detector, tracker, alignment)
and cached as an npz of crops plus a parquet table, so a benchmark re-run starts training at once.
The cache is keyed by the clip's checksum and the source of the code that reads video and finds
faces: a change there (d9 read with square pixels, say) extracts the faces again rather than
training on the old ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

# The third-party notices `kedro run` silences (Lightning's cloud-logger tip, torch's LeafSpec
# deprecation, ...) are silenced here too: the benchmarks drive the same nodes outside Kedro.
from faceswap_pipeline.settings import silence_third_party_notices

silence_third_party_notices()

PROJECT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = PROJECT.parent / "shared" / "data" / "videos"


def log_warnings_only() -> None:
    """Logs warnings and errors only, Lightning's included: the training benchmarks print tables.

    Lightning sets its logger to INFO and gives it a handler of its own when it is imported, so
    it is imported first and then quieted; otherwise its notices ("GPU available", "Restoring
    states ...") came twice at every stage, once through each handler.
    """
    import lightning.pytorch  # noqa: F401

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)


def extract_clip(video: Path, cache: Path) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Every frame's aligned faces of a clip (``faces.extraction.extract_clip_faces``), cached as
    ``<stem>.npz`` + ``<stem>.parquet`` in ``cache``.

    Returns:
        ``({face id: RGB uint8 (256, 256, 3)}, table)``; the table has ``face_id, video,
        frame_index, time_s, track, landmarks68_crop, kept`` like ``face_alignments``.
    """
    name = f"{video.stem}-{_extraction_key(video)}"
    crops_file, table_file = cache / f"{name}.npz", cache / f"{name}.parquet"
    if crops_file.exists() and table_file.exists():
        with np.load(crops_file) as stored:
            crops = {key.replace("|", "/"): stored[key] for key in stored.files}
        return crops, pd.read_parquet(table_file)
    from faceswap_pipeline.faces.extraction import extract_clip_faces

    crops, table = extract_clip_faces(video)
    cache.mkdir(parents=True, exist_ok=True)
    # The clip's faces made by other code (~100-200 MB each; before the key, named by the stem
    # alone) are of no more use. (Not this key's: a benchmark beside this one may just have
    # written them.)
    for suffix in (".npz", ".parquet"):
        for stale in [*cache.glob(f"{video.stem}-*{suffix}"), cache / f"{video.stem}{suffix}"]:
            if stale not in (crops_file, table_file):
                stale.unlink(missing_ok=True)
    np.savez(crops_file, **{key.replace("/", "|"): crop for key, crop in crops.items()})
    table.to_parquet(table_file)
    return crops, table


def _extraction_key(video: Path) -> str:
    """12 hex digits of the clip's checksum and the source of the package's `video` and `faces`
    modules, which decode it and find, align and track its faces."""
    import faceswap_pipeline
    from faceswap_pipeline.sources import sha256_of

    package = Path(faceswap_pipeline.__file__).parent
    digest = hashlib.sha256(sha256_of(video).encode())
    for source in sorted([*(package / "video").glob("*.py"), *(package / "faces").glob("*.py")]):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def loaders(crops: dict[str, np.ndarray]) -> dict[str, Callable[[], np.ndarray]]:
    """``{face id: loader}`` as the ``aligned_faces`` dataset gives them."""
    return {key: lambda crop=crop: crop for key, crop in crops.items()}


def set_parameter(params: dict, assignment: str) -> None:
    """Apply ``a.b.c=value`` (value in YAML) to a nested parameter dict."""
    key, value = assignment.split("=", 1)
    *path, last = key.split(".")
    target = params
    for part in path:
        target = target.setdefault(part, {})
    target[last] = yaml.safe_load(value)
