"""Ingestion nodes: fetch a person's video sources and reference photos into the catalog."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceswap_pipeline.errors import BadInputError
from faceswap_pipeline.pipelines.ingestion.params import (
    parse_download_options,
    parse_person_sources,
)
from faceswap_pipeline.sources import (
    DownloadOptions,
    FetchedVideo,
    SourceError,
    StartPastTheEndError,
    VideoSource,
    fetch_source,
    sha256_of,
)

logger = logging.getLogger(__name__)

# The columns read from the video itself (`video.probe` fields of the same names).
PROBED_COLUMNS = [
    "duration_s",
    "frame_count",
    "avg_fps",
    "nominal_fps",
    "variable_frame_rate",
    "first_frame_time_s",
    "width",
    "height",
    "rotation_deg",
    "hdr",
    "pixel_aspect",
    "interlaced",
    "video_codec",
    "audio_codec",
]
# `start_s`/`end_s`: the seconds of the file that face extraction uses; `section_start_s`/
# `section_end_s`: where a URL source downloaded only in part lies in its video (NaN: the whole
# video was downloaded; `section_end_s` NaN: to its end).
METADATA_COLUMNS = [
    *["person", "source", "title", "file", "start_s", "end_s", "sample_fps"],
    *["section_start_s", "section_end_s"],
    *PROBED_COLUMNS,
    *["bytes", "sha256"],
]


def offline_hint(folders: str, parameters_file: str, readme_section: str) -> str:
    """What a download that found no network adds: where the videos go instead, in one sentence.

    Args:
        folders: the raw video folder(s) that a configured sha256 finds files in.
        parameters_file: the `conf/local` file whose `url:` can become `path:`.
        readme_section: the README paragraph that says more.
    """
    return (
        f"To run without a network, copy the videos into {folders} (any file name: a configured"
        f" sha256 finds them), or replace each `url:` by `path:` to a local video in"
        f' conf/local/{parameters_file} (README, "{readme_section}")'
    )


# The pair's: the README's "Offline" paragraph in one sentence.
OFFLINE_HINT = offline_hint(
    "data/01_raw/videos/person_a/ and data/01_raw/videos/person_b/",
    "parameters_ingestion.yml",
    "Offline",
)


def fetch_videos(
    existing_raw_videos: dict[str, Path],
    person: dict[str, Any],
    download: dict[str, Any],
    staging: Path,
    *,
    offline_hint: str = OFFLINE_HINT,
) -> tuple[dict[str, Path], pd.DataFrame]:
    """Make every configured source of one person a local video, fetching only what is not there
    yet.

    Args:
        existing_raw_videos: ``{file name: path}`` already in the person's raw video folder.
        person: the person's parameters (``name``, ``sources``, ``reference_photos``).
        download: download settings (``max_height``, ``retries``, ``socket_timeout_s``, ...).
        staging: the work folder beside the raw video folder that fetched files are made in.
        offline_hint: what a download that found no network adds: where to put the files
            instead (the pair's folders by default; the pretraining names its own).

    Returns:
        ``{file name: staged or existing path}`` for the raw video folder (new files are moved in
        atomically by the dataset), and the metadata table, one row a source (columns
        ``METADATA_COLUMNS``).

    Raises:
        ValueError: bad parameters (an empty source list, an inverted start/end...).
        SourceError: a source that cannot be fetched or is not a video; nothing is added to the
            folder.
    """
    config = parse_person_sources(person)
    options = parse_download_options(download)
    if not config.sources:
        raise BadInputError(
            f"{config.name} has no video sources: add at least one `url` or `path` under its"
            " `sources` in conf/base/parameters_ingestion.yml"
        )
    checksums = _ChecksumCache(existing_raw_videos)
    videos: dict[str, Path] = {}
    rows = []
    staged: list[Path] = []
    try:
        for source in config.sources:
            fetched = _fetch(
                source, existing_raw_videos, checksums, options, config.name, staging, offline_hint
            )
            if not fetched.reused:
                staged.append(fetched.path)
            videos[fetched.file_name] = fetched.path
            rows.append(_metadata_row(config.name, source, fetched))
    except BaseException:
        for path in staged:  # fetched in this run but not placed: remove the staging copies
            path.unlink(missing_ok=True)
        raise
    metadata = pd.DataFrame(rows, columns=METADATA_COLUMNS)
    # A phone's or a camcorder's clips: say that their pictures are read as they were filmed.
    turned, hdr = (metadata["rotation_deg"] != 0).sum(), metadata["hdr"].notna().sum()
    interlaced = metadata["interlaced"].astype(bool).sum()
    logger.info(
        "%s: %d video%s ready (%d fetched, %d already there), %.1f s of video%s%s%s",
        config.name,
        len(videos),
        "" if len(videos) == 1 else "s",
        len(staged),
        len(videos) - len(staged),
        metadata["duration_s"].sum(),
        f"; {turned} stored turned (a phone's), read upright" if turned else "",
        f"; {hdr} in HDR, read as SDR" if hdr else "",
        f"; {interlaced} interlaced, deinterlaced" if interlaced else "",
    )
    return videos, metadata


def _fetch(
    source: VideoSource,
    existing_raw_videos: dict[str, Path],
    checksums: dict[str, str],
    options: DownloadOptions,
    person: str,
    staging: Path,
    offline_hint: str,
) -> FetchedVideo:
    """One source as a local video (``sources.fetch_source``); a network failure says how to work
    offline (``offline_hint``)."""
    try:
        return fetch_source(
            source, existing_raw_videos, checksums, options, person=person, staging_root=staging
        )
    except SourceError as error:
        if not error.network:
            raise
        raise SourceError(f"{error}. {offline_hint}", network=True) from error


def _metadata_row(person: str, source: VideoSource, fetched: FetchedVideo) -> dict[str, Any]:
    """One row of the metadata table (``METADATA_COLUMNS``) for a fetched source.

    A file that holds only a section of its video starts at the source's ``start``: face
    extraction reads it from its start, to ``end`` counted from there.

    Raises:
        SourceError: the source's ``start`` lies past the video's end.
    """
    info = fetched.info
    start, end = source.start, source.end
    section_start, section_end = fetched.section or (None, None)
    if fetched.section is not None:
        start, end = None, None if end is None else end - section_start
    elif start is not None and start >= info.duration_s:
        raise StartPastTheEndError(person, source, info.duration_s)
    return {
        "person": person,
        "source": source.location,
        "title": fetched.title,
        "file": fetched.file_name,
        "start_s": _nan_if_none(start),
        "end_s": _nan_if_none(end),
        "sample_fps": _nan_if_none(source.fps),
        "section_start_s": _nan_if_none(section_start),
        "section_end_s": _nan_if_none(section_end),
        **{key: getattr(info, key) for key in PROBED_COLUMNS},
        "bytes": fetched.path.stat().st_size,
        "sha256": fetched.sha256,
    }


def collect_reference_photos(person: dict[str, Any]) -> dict[str, np.ndarray]:
    """Read a person's reference photos (optional) so face extraction can find them in the catalog.

    Args:
        person: the person's parameters; ``reference_photos`` is a list of image paths.

    Returns:
        ``{photo name: RGB uint8 (H, W, 3) array, upright}``; empty when none are configured.

    Raises:
        SourceError: a photo that does not exist or is not an image.
    """
    from faceswap_pipeline.safe_names import safe_stem, short_hash
    from faceswap_pipeline.video.photos import NotAPhotoError, read_photo

    config = parse_person_sources(person)
    photos: dict[str, np.ndarray] = {}
    for entry in config.reference_photos:
        path = Path(entry).expanduser()
        if not path.is_file():
            raise SourceError(
                f"{config.name}: reference photo {entry} does not exist; fix `reference_photos`"
            )
        try:
            rgb = read_photo(path)  # upright: a phone's photo is stored sideways, as its EXIF says
        except NotAPhotoError as error:
            raise SourceError(
                f"{config.name}: reference photo {entry} {error.detail} in `reference_photos`"
            ) from error
        photos[f"{safe_stem(path.stem, fallback='photo')}-{short_hash(str(path))}"] = rgb
    logger.info(
        "%s: %d reference photo%s", config.name, len(photos), "" if len(photos) == 1 else "s"
    )
    return photos


class _ChecksumCache(dict):
    """``{file name: sha256}`` computed on first use, so unneeded checksums are never read."""

    def __init__(self, files: dict[str, Path]):
        super().__init__()
        self._files = files

    def __missing__(self, name: str) -> str:
        self[name] = sha256_of(self._files[name])
        return self[name]


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)
