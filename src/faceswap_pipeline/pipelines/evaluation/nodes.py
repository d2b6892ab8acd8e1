"""Evaluation nodes: measure the swapped video against its source and the model on held-out faces,
then summarise, plot and render the report. Nodes compute and return: the catalog's datasets write
every file and give MLflow the figures (metrics), the verdict (a metric and a tag) and the plots.

Heavy libraries (torch, PyAV, OpenCV, onnxruntime, dlib, matplotlib) are imported inside the nodes
so that the Kedro CLI and Kedro-Viz start fast.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceswap_pipeline.atomic_files import TEMP_PREFIX
from faceswap_pipeline.errors import BadInputError
from faceswap_pipeline.pipelines.evaluation.params import parse_params

logger = logging.getLogger(__name__)

PERSONS = ("a", "b")


def _descriptors(identity: pd.DataFrame | None, person: str) -> np.ndarray:
    """A person's (R, 128) identity descriptors; a clear error when face extraction left none."""
    from faceswap_pipeline.faces.identity import identity_descriptors

    descriptors = identity_descriptors(identity)
    if len(descriptors) == 0:
        raise BadInputError(
            f"{person}_identity holds no face descriptors, so the swapped faces cannot be compared"
            f" with {person}: run `kedro run --pipelines face_extraction` first"
        )
    return descriptors


def _configured_direction(conversion: dict[str, Any] | None) -> str:
    """The direction `params:conversion` asks for (validated before the run by the preflight)."""
    from faceswap_pipeline.swapping.settings import DEFAULT_DIRECTION

    return (conversion or {}).get("direction") or DEFAULT_DIRECTION


def _converted_span(conversion_report: pd.DataFrame) -> tuple[float | None, float | None]:
    """The span of the source that the conversion covered, from its report's frame times
    (seconds)."""
    times = conversion_report["time_s"].to_numpy(dtype=np.float64)
    # A frame shown at `first` is kept by decoding from `first`; `end` just past the last frame's
    # time.
    start = float(times[0]) if times[0] > 1e-3 else None
    return start, float(times[-1]) + 1e-3


def _is_side_by_side(source: Path, swapped_video: Path) -> bool:
    """Whether the swapped video's frames are original | swapped: twice the source's aspect
    ratio."""
    from faceswap_pipeline.video.probe import probe_video

    source_info, output_info = probe_video(source), probe_video(swapped_video)
    source_aspect = source_info.width / source_info.height
    output_aspect = output_info.width / output_info.height
    return abs(output_aspect / source_aspect - 2.0) < abs(output_aspect / source_aspect - 1.0)


def _check_report(conversion_report: pd.DataFrame) -> None:
    missing = {"frame_index", "time_s", "faces_swapped"} - set(conversion_report.columns)
    if missing or conversion_report.empty:
        raise BadInputError(
            f"conversion_report is empty or lacks {sorted(missing)}: re-run the conversion pipeline"
        )


def _direction(
    provenance: dict[str, Any], conversion: dict[str, Any] | None
) -> tuple[str, str, str]:
    """`(direction, source person, target person)` of the conversion, from the video's tags (or,
    when they name none, `params:conversion`), e.g. `("a_to_b", "person_a", "person_b")`."""
    from faceswap_pipeline.swapping.settings import DIRECTIONS

    direction = provenance.get("direction") or _configured_direction(conversion)
    if direction not in DIRECTIONS:
        raise BadInputError(
            f"the swapped video's tags name an unknown direction {direction!r}; "
            "re-run the conversion"
        )
    source_person, target = DIRECTIONS[direction]
    return direction, source_person, f"person_{target}"


def _source_video(
    provenance: dict[str, Any],
    raw_videos: dict[str, Path],
    conversion: dict[str, Any] | None,
    source_person: str,
    work: Path,
    download: dict[str, Any] | None,
    conversion_videos: dict[str, Path] | None,
) -> tuple[Path, str]:
    """The video the conversion read and its name, as the swapped video's tags say: one of the
    source person's raw videos, or the download of a URL (`source_file`) among the conversion's
    fetched videos (a section of its video: the seconds the conversion's report counts in). Else
    resolved exactly as the conversion resolved it (a URL fetched again into `work` with the
    `download` parameters when it is not there)."""
    from faceswap_pipeline.pipelines.conversion.params import (
        parse_params as parse_conversion_params,
    )
    from faceswap_pipeline.pipelines.ingestion.params import parse_download_options
    from faceswap_pipeline.sources import names_a_url, resolve_video

    recorded = provenance.get("source")
    if recorded in raw_videos:
        return Path(raw_videos[recorded]), recorded
    read = provenance.get("source_file")
    if read in (conversion_videos or {}):
        return Path(conversion_videos[read]), recorded
    settings = parse_conversion_params(conversion or {})
    video = recorded if recorded and names_a_url(recorded) else settings.video
    path, name, _ = resolve_video(
        video,
        raw_videos,
        work,
        person=source_person,
        fetched=conversion_videos,
        download=parse_download_options(download or {}),
        seconds=(settings.start_s, settings.end_s),
    )
    return path, name


def _warn_if_frames_differ(conversion_report: pd.DataFrame, per_frame: pd.DataFrame) -> None:
    converted = conversion_report["frame_index"].to_numpy()
    evaluated = per_frame["frame_index"].to_numpy()
    if not np.array_equal(converted, evaluated):
        logger.warning(
            "the source's frame numbers differ from the conversion report's (first %s vs %s): "
            "frames are paired in order",
            evaluated[:1],
            converted[:1],
        )


def evaluate_swapped_video(  # noqa: PLR0913  # a Kedro node: one argument per dataset it reads
    swapped_video: Path,
    conversion_report: pd.DataFrame,
    person_a_identity: pd.DataFrame,
    person_b_identity: pd.DataFrame,
    person_a_raw_videos: dict[str, Path],
    person_b_raw_videos: dict[str, Path],
    conversion: dict[str, Any],
    evaluation: dict[str, Any],
    staging: Path,
    download: dict[str, Any] | None = None,
    conversion_videos: dict[str, Path] | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Measure every frame of the swapped video against the same frame of its source, in one stream.

    Args:
        swapped_video: the conversion's output video.
        conversion_report: its per-frame report (`faces_swapped` tells which frames were swapped).
        person_a_identity, person_b_identity: each person's identity descriptors.
        person_a_raw_videos, person_b_raw_videos: each person's raw videos (the conversion's source
            is found as the conversion found it).
        conversion: `params:conversion`: the video to evaluate against when the swapped video's tags
            do not name one of the source person's raw videos, and the direction when they name
            none. The span comes from the report and the layout (side by side or not) from the frame
            sizes.
        evaluation: `params:evaluation` (the video evaluation's settings).
        staging: the hidden work folder beside the reports (`evaluation_staging`), where a source
            given by URL is fetched again for the comparison (removed afterwards).
        download: ingestion's `download` parameters, for that fetch; None: the defaults.
        conversion_videos: the videos the conversion fetched its URLs into
            (`conversion_raw_videos`): a source found there is not fetched again.

    Returns:
        `(evaluation_frames, evaluation_report_frames)`: the per-frame table
        (`evaluation.video.PER_FRAME_COLUMNS`) and `{"<position:06d>": original | swapped RGB
        uint8}`.
    """
    from faceswap_pipeline.evaluation.video import evaluate_swapped_video as evaluate
    from faceswap_pipeline.evaluation.video import read_provenance

    settings = parse_params(evaluation)
    _check_report(conversion_report)
    # What the conversion really did is read from its outputs (the video's tags, the report), not
    # from today's parameters: `--params` given to the conversion run alone must not mislead the
    # evaluation.
    provenance = read_provenance(swapped_video)
    direction, source_person, target_person = _direction(provenance, conversion)
    identities = {"person_a": person_a_identity, "person_b": person_b_identity}
    raw_videos = {"person_a": person_a_raw_videos, "person_b": person_b_raw_videos}[source_person]
    start_s, end_s = _converted_span(conversion_report)
    staging.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}evaluate-", dir=staging))
    try:
        source, source_name = _source_video(
            provenance, raw_videos, conversion, source_person, work, download, conversion_videos
        )
        side_by_side = _is_side_by_side(source, Path(swapped_video))
        layout = ", side by side" if side_by_side else ""
        logger.info(
            "evaluating %s (%s%s) against its source %s",
            Path(swapped_video).name,
            direction,
            layout,
            source_name,
        )
        result = evaluate(
            source,
            Path(swapped_video),
            _descriptors(identities[target_person], target_person),
            _descriptors(identities[source_person], source_person),
            swapped=(conversion_report["faces_swapped"] > 0).tolist(),
            start_s=start_s,
            end_s=end_s,
            side_by_side=side_by_side,
            settings=settings,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _warn_if_frames_differ(conversion_report, result.per_frame)
    return result.per_frame, result.report_frames


def evaluate_reconstruction(
    swap_model: Any,
    person_a_aligned_faces: dict[str, Callable[[], np.ndarray]],
    person_b_aligned_faces: dict[str, Callable[[], np.ndarray]],
    training_faces: pd.DataFrame,
    evaluation: dict[str, Any],
) -> dict[str, float]:
    """SSIM and L1 of the model redrawing each person's held-out faces (the training's validation
    split).

    Args:
        swap_model: the trained `SwapModel`.
        person_a_aligned_faces, person_b_aligned_faces: `{partition id: loader}` of aligned crops.
        training_faces: the training's face table (`split` "val" marks the held-out faces).
        evaluation: `params:evaluation` (`reconstruction.*`).

    Returns:
        `{"reconstruction/ssim_a": ..., "reconstruction/l1_a": ..., "reconstruction/faces_a": ...,
        ...b}` (NaN SSIM/L1 for a person without held-out faces).
    """
    from faceswap_pipeline.evaluation.reconstruction import reconstruction_scores
    from faceswap_pipeline.model.inference import choose_device

    params = parse_params(evaluation).reconstruction
    required = {"person", "face_id", "split"}
    if not required <= set(training_faces.columns):
        raise BadInputError(
            f"training_faces lacks {sorted(required - set(training_faces.columns))}: re-run the"
            " training pipeline"
        )
    aligned = {"a": person_a_aligned_faces, "b": person_b_aligned_faces}
    device = choose_device(params.device)
    metrics: dict[str, float] = {}
    for person in PERSONS:
        held_out = training_faces[
            (training_faces["person"] == person) & (training_faces["split"] == "val")
        ]
        face_ids = [face_id for face_id in held_out["face_id"] if face_id in aligned[person]]
        if len(face_ids) < len(held_out):
            logger.warning(
                "%d of person_%s's held-out faces are no longer in person_%s.aligned_faces"
                " (re-extracted since training?); scoring the %d left",
                len(held_out) - len(face_ids),
                person,
                person,
                len(face_ids),
            )
        if len(face_ids) > params.max_faces_per_person:
            picks = (
                np.linspace(0, len(face_ids) - 1, params.max_faces_per_person).round().astype(int)
            )
            face_ids = [face_ids[i] for i in np.unique(picks)]
        if not face_ids:
            logger.warning("person_%s has no held-out faces: reconstruction not measured", person)
        scores = reconstruction_scores(
            swap_model,
            [aligned[person][face_id] for face_id in face_ids],
            person,
            params.batch_size,
            device,
        )
        metrics[f"reconstruction/ssim_{person}"] = (
            float(scores.ssim.mean()) if face_ids else math.nan
        )
        metrics[f"reconstruction/l1_{person}"] = float(scores.l1.mean()) if face_ids else math.nan
        metrics[f"reconstruction/faces_{person}"] = float(len(face_ids))
    return metrics


def _mlflow_metrics(
    metrics: dict[str, float], verdict: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Every figure as `evaluation/<name>`, and the verdict as `evaluation/convincing` (1 or 0), for
    kedro-mlflow's metrics dataset (`{"name": {"value": v, "step": 0}}`)."""
    logged = {f"evaluation/{name}": value for name, value in metrics.items()}
    logged["evaluation/convincing"] = float(verdict["convincing"])
    return {name: {"value": value, "step": 0} for name, value in logged.items()}


def _mlflow_tags(verdict: dict[str, Any], conversion_run_id: str | None) -> dict[str, str]:
    """The verdict's text as the tag `evaluation.verdict`, and the conversion's run it judges."""
    tags = {"evaluation.verdict": verdict["text"]}
    if conversion_run_id:
        tags["evaluation.conversion_run_id"] = conversion_run_id
    return tags


def _facts(
    swapped_video: Path, provenance: dict[str, Any], direction: str, run_id: str | None
) -> dict[str, str]:
    """What was evaluated, for the report's facts: the videos, direction, model and runs."""
    model = provenance.get("model") or {}
    return {
        "swapped video": Path(swapped_video).name,
        "source video": str(provenance.get("source", "?")),
        "direction": direction,
        "model": (
            f"{model.get('architecture', '?')} {model.get('input_size', '?')} px, "
            f"width {model.get('width', '?')}, weights {model.get('weights_sha256_16', '?')}"
        ),
        "conversion MLflow run": provenance.get("mlflow_run_id") or "none recorded",
        "evaluation MLflow run": run_id or "none",
        # The mouth's detail and landmarks are then the source's own, not the model's.
        "mouth": (
            "the source's own (conversion.compositing.keep_source_mouth): its detail and"
            " landmarks count in the figures"
            if provenance.get("source_mouth_kept")
            else "the model's"
        ),
    }


def _log_figures(metrics: dict[str, float]) -> None:
    logger.info(
        "evaluation: %.0f%% of described faces nearer the target (mean distance %.2f; the "
        "target's own faces %.2f), detail kept %.2f, landmark error %.3f, pose %.1f°, flicker "
        "ratio %.2f, coverage %.0f%%",
        100 * metrics["identity/share_closer_to_target"],
        metrics["identity/mean_distance_to_target"],
        metrics["identity/target_spread"],
        metrics["detail/sharpness_ratio"],
        metrics["landmarks/error"],
        metrics["pose/error_deg"],
        metrics["temporal/flicker_ratio"],
        100 * metrics["coverage/swapped_share"],
    )


def _target_spread(
    direction: str, person_a_identity: pd.DataFrame, person_b_identity: pd.DataFrame
) -> float:
    """How far the target's own faces lie from their centre (NaN for an unknown direction)."""
    from faceswap_pipeline.evaluation.identity import identity_spread
    from faceswap_pipeline.swapping.settings import DIRECTIONS

    if direction not in DIRECTIONS:
        return math.nan
    target_person = f"person_{DIRECTIONS[direction][1]}"
    identities = {"person_a": person_a_identity, "person_b": person_b_identity}
    return identity_spread(_descriptors(identities[target_person], target_person))


def summarise_evaluation(
    evaluation_frames: pd.DataFrame,
    reconstruction_metrics: dict[str, float],
    swapped_video: Path,
    person_a_identity: pd.DataFrame,
    person_b_identity: pd.DataFrame,
    conversion: dict[str, Any],
    evaluation: dict[str, Any],
    mlflow_run_id: str | None,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, dict[str, float]], dict[str, str]]:
    """Gather every figure, judge the swap, and describe what was evaluated.

    Args:
        evaluation_frames: the per-frame table from `evaluate_swapped_video`.
        reconstruction_metrics: from `evaluate_reconstruction`.
        swapped_video: the swapped video (its tags name the conversion's MLflow run and direction).
        person_a_identity, person_b_identity: each person's identity descriptors (the target's
            spread).
        conversion: `params:conversion` (the direction when the video's tags name none).
        evaluation: `params:evaluation` (`verdict.*`: what convincing takes).
        mlflow_run_id: the MLflow run the figures go to (`evaluation_mlflow_run_id`), named in the
            facts; None when there is none.

    Returns:
        `(evaluation_summary, evaluation_metrics, evaluation_mlflow_metrics,
        evaluation_mlflow_tags)`: `{"verdict": {"convincing", "failed", "text"}, "metrics": {...},
        "facts": {...}}` for JSON, the table `metric, value, description`, the figures and the
        verdict as MLflow metrics (`evaluation/<name>`, `evaluation/convincing`), and the MLflow
        tags `evaluation.verdict` and `evaluation.conversion_run_id`.
    """
    from faceswap_pipeline.evaluation.summary import metrics_table, video_metrics
    from faceswap_pipeline.evaluation.verdict import judge_metrics
    from faceswap_pipeline.evaluation.video import read_provenance

    thresholds = parse_params(evaluation).verdict.thresholds()
    provenance = read_provenance(swapped_video)
    direction = provenance.get("direction") or _configured_direction(conversion)
    spread = _target_spread(direction, person_a_identity, person_b_identity)
    metrics = video_metrics(evaluation_frames, target_spread=spread) | dict(reconstruction_metrics)
    verdict = judge_metrics(metrics, thresholds).to_dict()
    if mlflow_run_id is None:
        logger.info("no active MLflow run: the evaluation's figures are only in data/08_reporting/")
    facts = _facts(swapped_video, provenance, direction, mlflow_run_id)
    _log_figures(metrics)
    # JSON has no NaN: a figure that could not be measured is null.
    json_metrics = {name: None if math.isnan(value) else value for name, value in metrics.items()}
    summary = {"verdict": verdict, "metrics": json_metrics, "facts": facts}
    return (
        summary,
        metrics_table(metrics),
        _mlflow_metrics(metrics, verdict),
        _mlflow_tags(verdict, provenance.get("mlflow_run_id")),
    )


def plot_identity_over_time(evaluation_frames: pd.DataFrame, evaluation: dict[str, Any]):
    """The identity distances of the described swapped faces over time (a matplotlib figure).

    Args:
        evaluation_frames: the per-frame table.
        evaluation: `params:evaluation` (the verdict's distance threshold is drawn).

    Returns:
        A matplotlib `Figure` for `evaluation_identity_plot`.
    """
    from faceswap_pipeline.evaluation.report import plot_identity

    return plot_identity(evaluation_frames, parse_params(evaluation).verdict.max_distance_to_target)


def plot_flicker_over_time(evaluation_frames: pd.DataFrame):
    """The face region's frame-to-frame change and the landmark jitter over time (a matplotlib
    figure).

    Args:
        evaluation_frames: the per-frame table.

    Returns:
        A matplotlib `Figure` for `evaluation_flicker_plot`.
    """
    from faceswap_pipeline.evaluation.report import plot_flicker

    return plot_flicker(evaluation_frames)


def render_evaluation_report(
    evaluation_summary: dict[str, Any],
    evaluation_metrics: pd.DataFrame,
    evaluation_report_frames: dict[str, Callable[[], np.ndarray]],
    evaluation_frames: pd.DataFrame,
) -> str:
    """One self-contained HTML page: the facts, the table, original | swapped frames and the plots.

    Args:
        evaluation_summary: from `summarise_evaluation` (its `facts`).
        evaluation_metrics: the figures' table.
        evaluation_report_frames: `{"<position:06d>": loader of an original | swapped RGB image}`.
        evaluation_frames: the per-frame table (for the captions and the plots).

    Returns:
        The HTML text for `evaluation_report`.
    """
    from faceswap_pipeline.evaluation.report import plot_flicker, plot_identity, render_report_html

    times = evaluation_frames.set_index("position")["time_s"]
    frames = {}
    for name in sorted(evaluation_report_frames):
        position = int(name) if name.isdigit() else None
        caption = (
            f"frame {position} at {times[position]:.2f} s" if position in times.index else name
        )
        frames[f"original | swapped, {caption}"] = evaluation_report_frames[name]()
    thresholds = (evaluation_summary.get("verdict") or {}).get("thresholds", {})
    figures = {
        "Identity distance of the swapped face over time": plot_identity(
            evaluation_frames, thresholds.get("max_distance_to_target")
        ),
        "Flicker and landmark jitter over time": plot_flicker(evaluation_frames),
    }
    return render_report_html(
        evaluation_metrics,
        frames,
        figures,
        evaluation_summary.get("facts", {}),
        verdict=evaluation_summary.get("verdict"),
    )
