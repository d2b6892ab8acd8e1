"""Evaluate a swapped video against its source in one pass: both are decoded together, frame by frame.

Per frame pair: faces are detected in both (RetinaFace), the swapped face is the source face whose box
changed most (a face the conversion left alone is unchanged), its twin in the output is the detection
that overlaps it most; their 68 landmarks give the landmark error and the head poses, the change since
the previous frame inside the source face's box gives the flicker, and a sample of swapped faces spread
over the video gets dlib descriptors for the identity scores; the fine detail inside the face, output over
source, says whether the swapped face is sharp or a blur. Memory stays bounded: one batch of frames,
the previous pair, a few report frames.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from faceswap_pipeline.evaluation.detail import detail_ratio
from faceswap_pipeline.evaluation.identity import identity_scores
from faceswap_pipeline.evaluation.landmarks import landmark_error, landmark_jitter
from faceswap_pipeline.evaluation.pose import angle_difference, head_pose
from faceswap_pipeline.evaluation.settings import (
    EvaluationDetectionSettings,
    VideoEvaluationSettings,
)
from faceswap_pipeline.evaluation.temporal import clip_box, region_change
from faceswap_pipeline.faces.detection import FaceDetections, RetinaFaceDetector
from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.faces.tracking import box_iou
from faceswap_pipeline.video.decode import VideoFrame, iter_frames
from faceswap_pipeline.video.probe import probe_video

logger = logging.getLogger(__name__)

PER_FRAME_COLUMNS = [
    "position", "frame_index", "time_s", "swapped", "source_faces", "output_faces",
    "face_found", "output_face_found", "landmark_error",
    "yaw_source", "pitch_source", "roll_source", "yaw_output", "pitch_output", "roll_output",
    "pose_error_deg", "change_source", "change_output", "jitter_source", "jitter_output",
    "distance_to_target", "distance_to_source", "detail_ratio",
]


@dataclass
class VideoEvaluation:
    """The result of `evaluate_swapped_video`.

    Attributes:
        per_frame: one row per output frame, columns `PER_FRAME_COLUMNS` (NaN where not measured).
        report_frames: ``{"<position:06d>": (h, 2w, 3) uint8 RGB}`` original | swapped pairs.
        landmarks_source, landmarks_output: ``(T, 68, 2)`` float64 frame pixels (NaN: no face).
    """

    per_frame: pd.DataFrame
    report_frames: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks_source: np.ndarray | None = None
    landmarks_output: np.ndarray | None = None


def spread_positions(candidates: Sequence[int], count: int) -> list[int]:
    """Up to ``count`` of ``candidates`` spread evenly (the middles of ``count`` equal parts), sorted."""
    candidates = list(candidates)
    if count <= 0 or not candidates:
        return []
    if count >= len(candidates):
        return candidates
    picks = ((np.arange(count) + 0.5) * len(candidates) / count).astype(int)
    return sorted({candidates[i] for i in picks})


def swapped_part(output_rgb: np.ndarray, source_shape: tuple[int, ...], side_by_side: bool) -> np.ndarray:
    """The swapped picture of an output frame, at the source frame's size.

    Args:
        output_rgb: ``(H, W, 3)`` uint8 RGB output frame (``original | swapped`` when ``side_by_side``).
        source_shape: the source frame's shape ``(h, w, 3)``.
        side_by_side: whether the output holds the original on its left half.

    Returns:
        ``(h, w, 3)`` uint8 RGB, contiguous.
    """
    if side_by_side:
        output_rgb = output_rgb[:, output_rgb.shape[1] // 2 :]
    height, width = source_shape[:2]
    if output_rgb.shape[:2] != (height, width):
        output_rgb = cv2.resize(output_rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(output_rgb)


def _usable(found: FaceDetections, settings: EvaluationDetectionSettings) -> FaceDetections:
    sizes = np.minimum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
    return found.take(np.flatnonzero((found.scores >= settings.min_score) & (sizes >= settings.min_face_size)))


def _swapped_face(source: np.ndarray, output: np.ndarray, found: FaceDetections) -> int:
    """Index of the source face that the conversion changed most (the largest face when none changed)."""
    scores = []
    for box in found.boxes:
        clipped = clip_box(box, source.shape[1], source.shape[0])
        if clipped is None:
            scores.append((-1.0, 0.0))
            continue
        left, top, right, bottom = clipped
        difference = np.abs(
            output[top:bottom, left:right].astype(np.int16) - source[top:bottom, left:right].astype(np.int16)
        ).mean()
        # Compression noise makes untouched faces differ by ~1 level: only a real change counts.
        scores.append((round(float(difference) / 4.0), float((right - left) * (bottom - top))))
    return max(range(len(scores)), key=lambda i: scores[i])


def _paired_frames(
    source: Path, output: Path, start_s: float | None, end_s: float | None
) -> Iterator[tuple[VideoFrame, VideoFrame]]:
    sources = iter_frames(source, start_s=start_s, end_s=end_s)
    outputs = iter_frames(output)
    for source_frame in sources:
        output_frame = next(outputs, None)
        if output_frame is None:
            raise ValueError(
                f"the swapped video {output.name} has fewer frames than its source {source.name} "
                f"(from {start_s or 0} s to {end_s or 'the end'}): they do not belong together; "
                "re-run the conversion"
            )
        yield source_frame, output_frame
    if next(outputs, None) is not None:
        raise ValueError(
            f"the swapped video {output.name} has more frames than its source {source.name} "
            f"(from {start_s or 0} s to {end_s or 'the end'}): they do not belong together; re-run the conversion"
        )


def evaluate_swapped_video(
    source: str | Path,
    output: str | Path,
    target_references: np.ndarray,
    source_references: np.ndarray,
    *,
    swapped: Sequence[bool] | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    side_by_side: bool = False,
    settings: VideoEvaluationSettings | None = None,
    detector: RetinaFaceDetector | None = None,
) -> VideoEvaluation:
    """Measure a swapped video against its source, streaming both.

    Args:
        source: the video that was converted.
        output: the converted video: one frame per source frame in ``[start_s, end_s)``, at any size.
        target_references: ``(R, 128)`` dlib descriptors of the person swapped in.
        source_references: ``(S, 128)`` dlib descriptors of the person swapped out.
        swapped: per output frame, whether the conversion swapped a face in it (its report's
            ``faces_swapped > 0``); None counts every frame as swapped.
        start_s, end_s: the span of ``source`` that was converted (seconds; None: its start/end).
        side_by_side: the output frames are ``original | swapped``.
        settings: detection, sampling and report settings.
        detector: a detector to reuse (built from ``settings`` when None).

    Returns:
        The per-frame table, report frames and landmark tracks.

    Raises:
        FileNotFoundError, NotAVideoError: a video is missing or unreadable.
        ValueError: the two videos (or ``swapped``) differ in frame count.
    """
    settings = settings or VideoEvaluationSettings()
    source, output = Path(source), Path(output)
    if swapped is None:
        swapped = [True] * probe_video(output).frame_count
    swapped = [bool(value) for value in swapped]
    swapped_positions = [position for position, value in enumerate(swapped) if value]
    described = set(spread_positions(swapped_positions, settings.max_described_faces))
    shown = set(spread_positions(swapped_positions, settings.report.frames))
    # One detector call takes a batch of frame pairs: the source frames and the output frames.
    detector = detector or settings.detection.build(batch_size=2 * settings.detection.batch_size)

    rows: list[dict] = []
    tracks: dict[str, list[np.ndarray]] = {"source": [], "output": []}
    descriptors: list[np.ndarray] = []
    described_rows: list[int] = []
    report_frames: dict[str, np.ndarray] = {}
    previous: tuple[np.ndarray, np.ndarray] | None = None
    no_face = np.full((68, 2), np.nan)

    def measure(batch: list[tuple[VideoFrame, np.ndarray]]) -> None:
        nonlocal previous
        images = [frame.rgb for frame, _ in batch] + [picture for _, picture in batch]
        detections = detector.detect(images)
        for slot, (frame, picture) in enumerate(batch):
            position = len(rows)
            if position >= len(swapped):
                raise ValueError(
                    f"the swapped video {output.name} has more frames than its conversion report "
                    f"({len(swapped)} rows): they do not belong together; re-run the conversion"
                )
            found_source = _usable(detections[slot], settings.detection)
            found_output = _usable(detections[len(batch) + slot], settings.detection)
            row = dict.fromkeys(PER_FRAME_COLUMNS, np.nan) | {
                "position": position, "frame_index": frame.index, "time_s": frame.time_s,
                "swapped": swapped[position], "source_faces": len(found_source),
                "output_faces": len(found_output), "face_found": False, "output_face_found": False,
            }
            points_source, points_output = no_face, no_face
            if len(found_source):
                chosen = _swapped_face(frame.rgb, picture, found_source)
                box = found_source.boxes[chosen]
                row["face_found"] = True
                points_source = landmarks68(frame.rgb, box).astype(np.float64)
                size = (frame.rgb.shape[1], frame.rgb.shape[0])
                row["yaw_source"], row["pitch_source"], row["roll_source"] = head_pose(points_source, size)
                if previous is not None:
                    row["change_source"] = region_change(previous[0], frame.rgb, box)
                    row["change_output"] = region_change(previous[1], picture, box)
                overlaps = box_iou(box[None], found_output.boxes)[0] if len(found_output) else np.zeros(0)
                if len(overlaps) and overlaps.max() >= settings.detection.match_iou:
                    row["output_face_found"] = True
                    points_output = landmarks68(picture, found_output.boxes[int(overlaps.argmax())]).astype(np.float64)
                    row["landmark_error"] = float(landmark_error(points_output, points_source))
                    row["detail_ratio"] = detail_ratio(picture, frame.rgb, points_source)
                    pose_output = head_pose(points_output, size)
                    row["yaw_output"], row["pitch_output"], row["roll_output"] = pose_output
                    pose_source = np.array([row["yaw_source"], row["pitch_source"], row["roll_source"]])
                    row["pose_error_deg"] = float(angle_difference(pose_output, pose_source).mean())
                    if position in described:
                        descriptors.append(face_descriptor(picture, points_output))
                        described_rows.append(position)
            if position in shown:
                height = settings.report.frame_height
                width = max(1, round(frame.rgb.shape[1] * height / frame.rgb.shape[0]))
                pair = np.concatenate([frame.rgb, picture], axis=1)
                report_frames[f"{position:06d}"] = cv2.resize(pair, (2 * width, height), interpolation=cv2.INTER_AREA)
            tracks["source"].append(points_source)
            tracks["output"].append(points_output)
            rows.append(row)
            previous = (frame.rgb, picture)

    batch: list[tuple[VideoFrame, np.ndarray]] = []
    for source_frame, output_frame in _paired_frames(source, output, start_s, end_s):
        picture = swapped_part(output_frame.rgb, source_frame.rgb.shape, side_by_side)
        batch.append((source_frame, picture))
        if len(batch) == settings.detection.batch_size:
            measure(batch)
            batch = []
    if batch:
        measure(batch)
    if len(rows) != len(swapped):
        raise ValueError(
            f"the swapped video {output.name} has {len(rows)} frames but its conversion report has "
            f"{len(swapped)} rows: they do not belong together; re-run the conversion"
        )

    per_frame = pd.DataFrame(rows, columns=PER_FRAME_COLUMNS)
    landmarks_source = np.stack(tracks["source"]) if rows else np.zeros((0, 68, 2))
    landmarks_output = np.stack(tracks["output"]) if rows else np.zeros((0, 68, 2))
    # Jitter only where the face is the conversion's (swapped frames): elsewhere output = source.
    swapped_mask = per_frame["swapped"].to_numpy(bool)[:, None, None]
    per_frame["jitter_source"] = landmark_jitter(np.where(swapped_mask, landmarks_source, np.nan))
    per_frame["jitter_output"] = landmark_jitter(np.where(swapped_mask, landmarks_output, np.nan))
    scores = identity_scores(np.array(descriptors).reshape(-1, 128), target_references, source_references)
    per_frame.loc[described_rows, "distance_to_target"] = scores.distance_to_target
    per_frame.loc[described_rows, "distance_to_source"] = scores.distance_to_source
    logger.info(
        "evaluated %d frames of %s (%d swapped, %d faces described)",
        len(per_frame), output.name, len(swapped_positions), len(descriptors),
    )
    return VideoEvaluation(per_frame, report_frames, landmarks_source, landmarks_output)


def read_provenance(path: str | Path) -> dict:
    """What made a swapped video, from its container tags (`description`: the conversion's JSON).

    Args:
        path: a video written by the conversion.

    Returns:
        The decoded JSON (keys such as ``synthetic``, ``model``, ``mlflow_run_id``, ``direction``,
        ``source``); ``{}`` when the video carries none.
    """
    import json

    import av

    with av.open(str(path)) as container:
        text = container.metadata.get("description") or container.metadata.get("DESCRIPTION")
    if not text:
        return {}
    try:
        provenance = json.loads(text)
    except json.JSONDecodeError:
        logger.warning("%s has a description tag that is not the conversion's JSON; ignored", Path(path).name)
        return {}
    return provenance if isinstance(provenance, dict) else {}
