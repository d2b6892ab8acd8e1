"""Conversion nodes: swap the source person's face in a video (or photos), keep its sound, mark it synthetic.

Heavy libraries (torch, PyAV, OpenCV, onnxruntime, dlib) are imported inside the nodes, through
`convert.py`, so that the Kedro CLI and Kedro-Viz start fast.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceswap_pipeline.atomic_files import TEMP_PREFIX
from faceswap_pipeline.errors import BadInputError, MissingInputError
from faceswap_pipeline.pipelines.conversion.params import ConversionParams, parse_params

logger = logging.getLogger(__name__)


def _references(identity: pd.DataFrame | None, person: str, params: ConversionParams) -> np.ndarray | None:
    """The source person's (R, 128) identity descriptors, or None when every face is swapped."""
    if params.identity.swap_all_faces:
        return None
    if identity is None or len(identity) == 0 or "descriptor" not in identity:
        raise BadInputError(
            f"{person}_identity holds no face descriptors, so the conversion cannot tell {person}'s face "
            f"from others: run `kedro run --pipelines face_extraction` first, or set "
            "conversion.identity.swap_all_faces: true"
        )
    return np.stack([np.asarray(d, dtype=np.float32).reshape(128) for d in identity["descriptor"]])


# Means of one person's descriptors from other frames or videos lie ~0.3 apart; different people's
# at least ~0.6 (measured on the shared clips): a mean farther than this is another person.
SAME_PERSON_MAX_MEAN_DISTANCE = 0.5


def check_model_people(
    swap_model: Any, person_a_identity: pd.DataFrame | None, person_b_identity: pd.DataFrame | None,
    max_distance: float = SAME_PERSON_MAX_MEAN_DISTANCE,
) -> None:
    """Refuse a model trained on other people than the configured ones (their `{person}_identity`).

    The model records the mean identity descriptor of each person it was trained on; each person's
    current mean must lie within `max_distance` of it.

    Raises:
        ValueError: naming each person whose face the model was not trained on.
    """
    people = getattr(swap_model, "people", None)
    if not people:
        logger.warning(
            "swap_model does not record whom it was trained on (made by an older version or by hand): "
            "cannot check that it fits person_a and person_b"
        )
        return
    mismatched = []
    for person, identity in (("person_a", person_a_identity), ("person_b", person_b_identity)):
        recorded = (people.get(person[-1]) or {}).get("descriptor_mean")
        if recorded is None or identity is None or len(identity) == 0 or "descriptor" not in identity:
            continue
        current = np.stack([np.asarray(d, dtype=np.float64).reshape(128) for d in identity["descriptor"]])
        distance = float(np.linalg.norm(current.mean(axis=0) - np.asarray(recorded, dtype=np.float64)))
        if distance > max_distance:
            mismatched.append(f"{person}_identity (distance {distance:.2f})")
    if mismatched:
        raise BadInputError(
            f"swap_model was trained on other people than the configuration's: the faces in "
            f"{', '.join(mismatched)} differ from those the model learnt (mean descriptors "
            f"more than {max_distance} apart). Run training again for these people "
            "(`kedro run --pipelines training`), or restore the model trained on them"
        )


def _resolve_video(params: ConversionParams, raw_videos: dict[str, Path], staging: Path) -> tuple[Path, str]:
    """The local video to convert and how to name it: a configured path or URL, else the person's first."""
    from faceswap_pipeline.sources import SourceError, VideoSource, fetch_source
    from faceswap_pipeline.sources.fetch import DownloadOptions

    if params.video is None:
        if not raw_videos:
            raise BadInputError(
                f"conversion.video is not set and {params.source_person} has no raw videos: set "
                "conversion.video to a file or URL, or run the ingestion pipeline"
            )
        name = sorted(raw_videos)[0]
        return Path(raw_videos[name]), name
    if "://" not in params.video:
        path = Path(params.video).expanduser()
        if not path.is_file():
            raise MissingInputError(
                f"conversion.video {params.video} does not exist; give a video file or an http(s) URL"
            )
        return path, params.video
    try:
        fetched = fetch_source(
            VideoSource(url=params.video), {}, {}, DownloadOptions(), person="conversion", staging_root=staging
        )
    except SourceError as error:
        hint = "; to work offline, set conversion.video to a local video file" if error.network else ""
        raise SourceError(f"conversion.video: {error}{hint}", network=error.network) from error
    return fetched.path, params.video


def _temporary_file(staging: Path, suffix: str) -> Path:
    """A new empty file, hidden in the staging folder beside the output's final place, for an output its
    dataset then moves into place (a rename on the same file system)."""
    staging.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}output-", suffix=suffix, dir=staging)
    os.close(handle)
    return Path(name)


def _log_to_mlflow(summary: dict[str, float], tags: dict[str, str]) -> str | None:
    """Send the summary to the active MLflow run (kedro-mlflow's); returns its id, None without a run."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return None
    mlflow.log_metrics(summary)
    mlflow.set_tags({f"conversion.{key}": value for key, value in tags.items()})
    return run.info.run_id


def _active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def convert_video(
    swap_model: Any,
    person_a_identity: pd.DataFrame,
    person_b_identity: pd.DataFrame,
    person_a_raw_videos: dict[str, Path],
    person_b_raw_videos: dict[str, Path],
    conversion: dict[str, Any],
    alignment_margin: float,
    staging: Path,
) -> tuple[Path, pd.DataFrame]:
    """Swap the source person's face in a video into the other person's, keeping its time stamps and sound.

    Args:
        swap_model: the trained `SwapModel` (catalog `swap_model`).
        person_a_identity, person_b_identity: each person's identity descriptors (`{person}_identity`);
            the source person's are used to recognise their face.
        person_a_raw_videos, person_b_raw_videos: each person's raw videos; the source person's first
            one is converted when `conversion.video` is not set.
        conversion: the `conversion` parameters (see `params.ConversionParams`).
        alignment_margin: face extraction's `margin`, so that faces are cut as the model saw them.
        staging: the hidden work folder beside the output (`conversion_staging`): a downloaded video
            and the output being written live there, never in the system's temporary folder.

    Returns:
        The converted video (a finished file, moved into place by the `swapped_video` dataset) and the
        per-frame report (`frame_index, time_s, faces_found, faces_swapped, faces_skipped, skip_reasons`).
    """
    from faceswap_pipeline.pipelines.conversion import convert

    params = parse_params(conversion)
    person = params.source_person
    identity = person_a_identity if person == "person_a" else person_b_identity
    raw_videos = person_a_raw_videos if person == "person_a" else person_b_raw_videos
    references = _references(identity, person, params)
    check_model_people(swap_model, person_a_identity, person_b_identity)
    converter = convert.build_converter(swap_model, references, params, alignment_margin)
    # A downloaded video lives in `work` until the conversion ends; the output is a single temporary
    # file beside it that the `swapped_video` dataset moves into place, so nothing is left behind.
    staging.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}convert-", dir=staging))
    output = _temporary_file(staging, ".mp4")
    try:
        video, source_name = _resolve_video(params, raw_videos, work)
        tags = convert.provenance_tags(swap_model, params, source_name, _active_run_id())
        logger.info("converting %s (%s, %s)", video, params.direction, person)
        report = convert.convert_video_file(video, output, converter, params, tags)
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = convert.summarise(report)
    logger.info(
        "conversion of %s: %d frames, %d with %s's face swapped, %d faces skipped, %.1f frames/s",
        source_name, summary["conversion/frames"], summary["conversion/frames_swapped"], person,
        summary["conversion/faces_skipped"], summary.get("conversion/frames_per_s", float("nan")),
    )
    if summary["conversion/frames_swapped"] == 0:
        logger.warning(
            "%s's face was never found in %s (%d faces seen, none matched): the video passes through "
            "unchanged. Check conversion.direction, the video, or conversion.identity.threshold",
            person, source_name, summary["conversion/faces_found"],
        )
    _log_to_mlflow(summary, {"source": source_name, "direction": params.direction})
    return output, report


def make_preview_gif(swapped_video: Path, conversion: dict[str, Any], staging: Path) -> Path:
    """A short animated GIF of the converted video, for sharing and for the docs.

    Args:
        swapped_video: the converted video.
        conversion: the `conversion` parameters (`gif.fps`, `gif.max_width`, `gif.max_seconds`).
        staging: the hidden work folder beside the output, where the GIF is written first.

    Returns:
        The finished GIF (moved into place by the `swapped_gif` dataset).
    """
    from faceswap_pipeline.pipelines.conversion import convert

    params = parse_params(conversion)
    output = _temporary_file(staging, ".gif")
    try:
        return convert.write_gif(
            Path(swapped_video), output, params.gif.fps, params.gif.max_width, params.gif.max_seconds
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
    """Swap the source person's face in every photo of `conversion.photos` (none when it is not set).

    Args:
        swap_model: the trained `SwapModel`.
        person_a_identity, person_b_identity: each person's identity descriptors.
        conversion: the `conversion` parameters.
        alignment_margin: face extraction's `margin`.

    Returns:
        `{photo name: loader of the swapped RGB uint8 image}` for `swapped_photos`; `{}` without photos.
    """
    params = parse_params(conversion)
    if params.photos is None:
        return {}
    folder = Path(params.photos).expanduser()
    if not folder.is_dir():
        raise MissingInputError(f"conversion.photos {params.photos} is not a folder of photos")
    from faceswap_pipeline.pipelines.conversion import convert

    person = params.source_person
    identity = person_a_identity if person == "person_a" else person_b_identity
    check_model_people(swap_model, person_a_identity, person_b_identity)
    converter = convert.build_converter(
        swap_model, _references(identity, person, params), params, alignment_margin
    )
    suffixes = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if not paths:
        raise BadInputError(f"conversion.photos {params.photos} holds no .jpg/.png photos")

    def swapped_loader(path: Path) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            return convert.convert_photo(path, converter, params)

        return load

    return {path.stem: swapped_loader(path) for path in paths}
