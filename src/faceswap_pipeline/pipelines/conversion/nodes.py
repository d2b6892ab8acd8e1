"""Conversion nodes: swap the source person's face in a video (or photos), keep its sound, mark it
synthetic; the conversion's totals as MLflow metrics.

The engine is the `swapping` library; heavy libraries (torch, PyAV, OpenCV, onnxruntime, dlib) are
imported inside the nodes, through it, so that the Kedro CLI and Kedro-Viz start fast. Nodes compute
and return: the catalog's datasets write every file and log the metrics to MLflow.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceswap_pipeline.atomic_files import TEMP_PREFIX
from faceswap_pipeline.errors import BadInputError, MissingInputError
from faceswap_pipeline.pipelines.conversion.params import ConversionParams, parse_params

logger = logging.getLogger(__name__)


def _references(
    identity: pd.DataFrame | None, person: str, params: ConversionParams
) -> np.ndarray | None:
    """The source person's (R, 128) identity descriptors, or None when every face is swapped."""
    from faceswap_pipeline.faces.identity import identity_descriptors

    if params.identity.swap_all_faces:
        return None
    references = identity_descriptors(identity, dtype=np.float32)
    if len(references) == 0:
        raise BadInputError(
            f"{person}_identity holds no face descriptors, so the conversion cannot tell "
            f"{person}'s face from others: run `kedro run --pipelines face_extraction` first, "
            "or set conversion.identity.swap_all_faces: true"
        )
    return references


# Means of one person's descriptors from other frames or videos lie ~0.3 apart; different people's
# at least ~0.6 (measured on the shared clips): a mean farther than this is another person.
SAME_PERSON_MAX_MEAN_DISTANCE = 0.5


def check_model_people(
    swap_model: Any,
    person_a_identity: pd.DataFrame | None,
    person_b_identity: pd.DataFrame | None,
    max_distance: float = SAME_PERSON_MAX_MEAN_DISTANCE,
) -> None:
    """Refuse a model trained on other people than the configured ones (their `{person}_identity`).

    The model records the mean identity descriptor of each person it was trained on; each person's
    current mean must lie within `max_distance` of it.

    Raises:
        ValueError: naming each person whose face the model was not trained on.
    """
    from faceswap_pipeline.faces.identity import identity_descriptors

    people = getattr(swap_model, "people", None)
    if not people:
        logger.warning(
            "swap_model does not record whom it was trained on (made by an older version or by "
            "hand): cannot check that it fits person_a and person_b"
        )
        return
    mismatched = []
    for person, identity in (("person_a", person_a_identity), ("person_b", person_b_identity)):
        recorded = (people.get(person[-1]) or {}).get("descriptor_mean")
        current = identity_descriptors(identity)
        if recorded is None or len(current) == 0:
            continue
        distance = float(np.linalg.norm(current.mean(axis=0) - np.asarray(recorded, np.float64)))
        if distance > max_distance:
            mismatched.append(f"{person}_identity (distance {distance:.2f})")
    if mismatched:
        raise BadInputError(
            "swap_model was trained on other people than the configuration's: the faces in "
            f"{', '.join(mismatched)} differ from those the model learnt (mean descriptors "
            f"more than {max_distance} apart). Run training again for these people "
            "(`kedro run --pipelines training`), or restore the model trained on them"
        )


def _temporary_file(staging: Path, suffix: str) -> Path:
    """A new empty file, hidden in the staging folder beside the output's final place, for an output
    its dataset then moves into place (a rename on the same file system)."""
    staging.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}output-", suffix=suffix, dir=staging)
    os.close(handle)
    return Path(name)


def _converter(
    swap_model: Any,
    person_a_identity: pd.DataFrame,
    person_b_identity: pd.DataFrame,
    params: ConversionParams,
    alignment_margin: float,
) -> Any:
    """The source person's `FaceSwapConverter`, once the model is known to fit the two people."""
    from faceswap_pipeline.swapping import video as swapping

    person = params.source_person
    identity = person_a_identity if person == "person_a" else person_b_identity
    references = _references(identity, person, params)
    check_model_people(swap_model, person_a_identity, person_b_identity)
    return swapping.build_converter(swap_model, references, params, params.target, alignment_margin)


def _log_summary(report: pd.DataFrame, source_name: str, person: str) -> None:
    """One line of totals; a warning when the source person's face was never swapped."""
    from faceswap_pipeline.swapping.video import summarise

    summary = summarise(report)
    logger.info(
        "conversion of %s: %d frames, %d with %s's face swapped, %d faces skipped, %.1f frames/s",
        source_name,
        summary["conversion/frames"],
        summary["conversion/frames_swapped"],
        person,
        summary["conversion/faces_skipped"],
        summary.get("conversion/frames_per_s", float("nan")),
    )
    if summary["conversion/frames_swapped"] == 0:
        logger.warning(
            "%s's face was never found in %s (%d faces seen, none matched): the video passes "
            "through unchanged. Check conversion.direction, the video, or "
            "conversion.identity.threshold",
            person,
            source_name,
            summary["conversion/faces_found"],
        )


# A `conversion.video` URL that found no network: what to do instead.
OFFLINE_HINT = "To run without a network, set conversion.video to a local video file"


def fetch_conversion_video(
    existing_videos: dict[str, Path],
    conversion: dict[str, Any],
    download: dict[str, Any],
    staging: Path,
) -> dict[str, Path]:
    """A `conversion.video` given by URL, made local once, with ingestion's downloader and its
    `download` settings (cookies too): kept in its own raw folder, where the conversion and the
    evaluation read it and a re-run finds it (a URL is downloaded once, not at every run). With
    `conversion.start_s` or `duration_s`, only those seconds are downloaded.

    Args:
        existing_videos: `{file name: path}` already fetched (`conversion.existing_raw_videos`).
        conversion: the `conversion` parameters; a local path or none: nothing to fetch.
        download: ingestion's `download` parameters.
        staging: the work folder beside the raw folder that the download is made in.

    Returns:
        `{file name: staged or existing path}` for the folder (`conversion_raw_videos`): the URL's
        video, or nothing.
    """
    from faceswap_pipeline.pipelines.ingestion.nodes import fetch_videos
    from faceswap_pipeline.sources import StartPastTheEndError, names_a_url
    from faceswap_pipeline.swapping.video import start_s_past_the_end

    params = parse_params(conversion)
    if params.video is None or not names_a_url(params.video):
        return {}
    seconds = {"url": params.video, "start": params.start_s, "end": params.end_s}
    source = {"name": "conversion.video", "sources": [seconds]}
    try:
        videos, _ = fetch_videos(
            existing_videos, source, download, staging, offline_hint=OFFLINE_HINT
        )
    except StartPastTheEndError as error:  # said as a local video's is, by its parameter
        message = start_s_past_the_end(params.start_s, params.video, error.duration_s)
        raise BadInputError(message) from error
    return videos


def convert_video(  # noqa: PLR0913  # a Kedro node: one argument per dataset it reads
    swap_model: Any,
    person_a_identity: pd.DataFrame,
    person_b_identity: pd.DataFrame,
    person_a_raw_videos: dict[str, Path],
    person_b_raw_videos: dict[str, Path],
    conversion: dict[str, Any],
    alignment_margin: float,
    staging: Path,
    mlflow_run_id: str | None = None,
    conversion_videos: dict[str, Path] | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Swap the source person's face in a video into the other person's, keeping its time stamps
    and sound.

    Args:
        swap_model: the trained `SwapModel` (catalog `swap_model`).
        person_a_identity, person_b_identity: each person's identity descriptors
            (`{person}_identity`); the source person's are used to recognise their face.
        person_a_raw_videos, person_b_raw_videos: each person's raw videos; the source person's
            first one is converted when `conversion.video` is not set.
        conversion: the `conversion` parameters (see `params.ConversionParams`).
        alignment_margin: face extraction's `margin`, so that faces are cut as the model saw them.
        staging: the hidden work folder beside the output (`conversion_staging`): a downloaded video
            and the output being written live there, never in the system's temporary folder.
        mlflow_run_id: the MLflow run making the video (`conversion_mlflow_run_id`), recorded in
            its provenance tags; None without one.
        conversion_videos: the videos `conversion.video` URLs were fetched into
            (`conversion_raw_videos`, by `fetch_conversion_video`); a URL not there is downloaded
            here with the default download settings.

    Returns:
        The converted video (a finished file, moved into place by the `swapped_video` dataset) and
        the per-frame report (`swapping.video.REPORT_COLUMNS`).
    """
    from faceswap_pipeline.sources import resolve_video
    from faceswap_pipeline.swapping import video as swapping

    params = parse_params(conversion)
    person = params.source_person
    raw_videos = person_a_raw_videos if person == "person_a" else person_b_raw_videos
    converter = _converter(
        swap_model, person_a_identity, person_b_identity, params, alignment_margin
    )
    # A downloaded video lives in `work` until the conversion ends; the output is a single temporary
    # file beside it that the `swapped_video` dataset moves into place, so nothing is left behind.
    staging.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}convert-", dir=staging))
    output = _temporary_file(staging, ".mp4")
    try:
        seconds = (params.start_s, params.end_s)
        video, source_name, starts_at_s = resolve_video(
            params.video,
            raw_videos,
            work,
            person=person,
            fetched=conversion_videos,
            seconds=seconds,
        )
        tags = swapping.provenance_tags(
            swap_model,
            direction=params.direction,
            precision=params.precision,
            source=source_name,
            run_id=mlflow_run_id,
            source_mouth_kept=params.compositing.keep_source_mouth,
            source_file=video.name,
        )
        logger.info("converting %s (%s, %s)", video, params.direction, person)
        # A section of a URL's video starts at its `start_s`: the seconds count from there.
        start_s, end_s = (None if t is None else t - starts_at_s for t in seconds)
        report = swapping.convert_video_file(
            video, output, converter, tags, start_s=start_s or None, end_s=end_s
        )
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _log_summary(report, source_name, person)
    return output, report


def summarise_conversion(conversion_report: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The conversion's totals, for the `conversion_metrics` dataset (MLflow metrics).

    Args:
        conversion_report: the per-frame report of `convert_video`.

    Returns:
        `{"conversion/<total>": {"value": v, "step": 0}}`: frames, frames with a face, frames
        swapped, faces found, swapped and skipped (and per reason), and frames/s.
    """
    from faceswap_pipeline.swapping.video import summarise

    totals = summarise(conversion_report)
    return {name: {"value": value, "step": 0} for name, value in totals.items()}


def make_preview_gif(swapped_video: Path, conversion: dict[str, Any], staging: Path) -> Path:
    """A short animated GIF of the converted video, for sharing and for the docs.

    Args:
        swapped_video: the converted video.
        conversion: the `conversion` parameters (`gif.fps`, `gif.max_width`, `gif.max_seconds`).
        staging: the hidden work folder beside the output, where the GIF is written first.

    Returns:
        The finished GIF (moved into place by the `swapped_gif` dataset).
    """
    from faceswap_pipeline.swapping.video import write_gif

    params = parse_params(conversion)
    output = _temporary_file(staging, ".gif")
    try:
        return write_gif(
            Path(swapped_video),
            output,
            params.gif.fps,
            params.gif.max_width,
            params.gif.max_seconds,
        )
    except BaseException:
        output.unlink(missing_ok=True)
        raise


def convert_photos(
    swap_model: Any,
    person_a_identity: pd.DataFrame,
    person_b_identity: pd.DataFrame,
    conversion: dict[str, Any],
    alignment_margin: float,
) -> dict[str, Callable[[], np.ndarray]]:
    """Swap the source person's face in every photo of `conversion.photos` (none when it is not
    set).

    Args:
        swap_model: the trained `SwapModel`.
        person_a_identity, person_b_identity: each person's identity descriptors.
        conversion: the `conversion` parameters.
        alignment_margin: face extraction's `margin`.

    Returns:
        `{photo name: loader of the swapped RGB uint8 image}` for `swapped_photos`; `{}` without
        photos.
    """
    params = parse_params(conversion)
    if params.photos is None:
        return {}
    folder = Path(params.photos).expanduser()
    if not folder.is_dir():
        raise MissingInputError(f"conversion.photos {params.photos} is not a folder of photos")
    from faceswap_pipeline.swapping.video import convert_photo

    converter = _converter(
        swap_model, person_a_identity, person_b_identity, params, alignment_margin
    )
    from faceswap_pipeline.video.photos import PHOTO_SUFFIXES

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise BadInputError(
            f"conversion.photos {params.photos} holds no photos"
            f" ({', '.join(PHOTO_SUFFIXES)}); put the photos to convert in it"
        )

    def swapped_loader(path: Path) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            return convert_photo(path, converter, params.source_person)

        return load

    # Named by the file's stem (`me.heic` -> `me.png`); two photos of one stem keep their suffix
    # (`me_heic`, `me_jpg`), so neither overwrites the other.
    stems = Counter(path.stem for path in paths)
    return {
        path.stem if stems[path.stem] == 1 else f"{path.stem}_{path.suffix[1:].lower()}": (
            swapped_loader(path)
        )
        for path in paths
    }
