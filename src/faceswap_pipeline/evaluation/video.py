"""Evaluate a swapped video against its source in one pass: both are decoded together, frame by
frame.

Per frame pair: faces are detected in both (RetinaFace), the swapped face is the source face whose
box changed most (a face the conversion left alone is unchanged), its twin in the output is the
detection that overlaps it most; their 68 landmarks give the landmark error and the head poses, the
change since the previous frame inside the source face's box gives the flicker, and a sample of
swapped faces spread over the video gets dlib descriptors for the identity scores; the fine detail
inside the face, output over source, says whether the swapped face is sharp or a blur. Memory stays
bounded: one batch of frames, the previous pair, a few report frames.
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
    "position",
    "frame_index",
    "time_s",
    "swapped",
    "source_faces",
    "output_faces",
    "face_found",
    "output_face_found",
    "landmark_error",
    "yaw_source",
    "pitch_source",
    "roll_source",
    "yaw_output",
    "pitch_output",
    "roll_output",
    "pose_error_deg",
    "change_source",
    "change_output",
    "jitter_source",
    "jitter_output",
    "distance_to_target",
    "distance_to_source",
    "detail_ratio",
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
    """Up to ``count`` of ``candidates`` spread evenly (the middles of ``count`` equal parts),
    sorted."""
    candidates = list(candidates)
    if count <= 0 or not candidates:
        return []
    if count >= len(candidates):
        return candidates
    picks = ((np.arange(count) + 0.5) * len(candidates) / count).astype(int)
    return sorted({candidates[i] for i in picks})


def swapped_part(
    output_rgb: np.ndarray, source_shape: tuple[int, ...], side_by_side: bool
) -> np.ndarray:
    """The swapped picture of an output frame, at the source frame's size.

    Args:
        output_rgb: ``(H, W, 3)`` uint8 RGB output frame (``original | swapped`` when
            ``side_by_side``).
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
    return found.take(
        np.flatnonzero((found.scores >= settings.min_score) & (sizes >= settings.min_face_size))
    )


def _swapped_face(source: np.ndarray, output: np.ndarray, found: FaceDetections) -> int:
    """Index of the source face that the conversion changed most (the largest face when none
    changed)."""
    scores = []
    for box in found.boxes:
        clipped = clip_box(box, source.shape[1], source.shape[0])
        if clipped is None:
            scores.append((-1.0, 0.0))
            continue
        left, top, right, bottom = clipped
        difference = np.abs(
            output[top:bottom, left:right].astype(np.int16)
            - source[top:bottom, left:right].astype(np.int16)
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
            f"the swapped video {output.name} has more frames than its source {source.name} (from"
            f" {start_s or 0} s to {end_s or 'the end'}): they do not belong together; re-run the"
            " conversion"
        )


class _PairMeasurer:
    """Measures frame pairs (source frame, swapped picture) in order, keeping what the result needs:
    the per-frame rows, both landmark tracks, the sampled descriptors, the report frames, and the
    previous pair (for the frame-to-frame change).

    Args:
        settings: detection, sampling and report settings.
        detector: RetinaFace, batches of twice ``settings.detection.batch_size`` (pairs).
        swapped: per output frame, whether the conversion swapped a face in it.
        described, shown: the positions whose swapped face gets a descriptor, and those shown in the
            report.
        output_name: the swapped video's file name, for errors.
    """

    def __init__(
        self,
        settings: VideoEvaluationSettings,
        detector: RetinaFaceDetector,
        swapped: list[bool],
        described: set[int],
        shown: set[int],
        output_name: str,
    ):
        self.settings, self.detector, self.swapped = settings, detector, swapped
        self.described, self.shown, self.output_name = described, shown, output_name
        self.rows: list[dict] = []
        self.tracks: dict[str, list[np.ndarray]] = {"source": [], "output": []}
        self.descriptors: list[np.ndarray] = []
        self.described_rows: list[int] = []
        self.report_frames: dict[str, np.ndarray] = {}
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.no_face = np.full((68, 2), np.nan)

    def measure(self, batch: list[tuple[VideoFrame, np.ndarray]]) -> None:
        """Detect faces in a batch of pairs (one detector call) and measure each pair."""
        images = [frame.rgb for frame, _ in batch] + [picture for _, picture in batch]
        detections = self.detector.detect(images)
        detection = self.settings.detection
        for slot, (frame, picture) in enumerate(batch):
            position = len(self.rows)
            if position >= len(self.swapped):
                raise ValueError(
                    f"the swapped video {self.output_name} has more frames than its conversion "
                    f"report ({len(self.swapped)} rows): they do not belong together; "
                    "re-run the conversion"
                )
            found_source = _usable(detections[slot], detection)
            found_output = _usable(detections[len(batch) + slot], detection)
            row = dict.fromkeys(PER_FRAME_COLUMNS, np.nan) | {
                "position": position,
                "frame_index": frame.index,
                "time_s": frame.time_s,
                "swapped": self.swapped[position],
                "source_faces": len(found_source),
                "output_faces": len(found_output),
                "face_found": False,
                "output_face_found": False,
            }
            points_source, points_output = self._measure_faces(
                row, frame.rgb, picture, found_source, found_output
            )
            if position in self.shown:
                self.report_frames[f"{position:06d}"] = self._report_frame(frame.rgb, picture)
            self.tracks["source"].append(points_source)
            self.tracks["output"].append(points_output)
            self.rows.append(row)
            self.previous = (frame.rgb, picture)

    def _measure_faces(
        self,
        row: dict,
        source_rgb: np.ndarray,
        picture: np.ndarray,
        found_source: FaceDetections,
        found_output: FaceDetections,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fills ``row`` for the swapped face and its twin in the output; their ``(68, 2)`` float64
        landmarks (NaN: no face)."""
        if not len(found_source):
            return self.no_face, self.no_face
        box = found_source.boxes[_swapped_face(source_rgb, picture, found_source)]
        row["face_found"] = True
        points_source = landmarks68(source_rgb, box).astype(np.float64)
        size = (source_rgb.shape[1], source_rgb.shape[0])
        row["yaw_source"], row["pitch_source"], row["roll_source"] = head_pose(points_source, size)
        if self.previous is not None:
            row["change_source"] = region_change(self.previous[0], source_rgb, box)
            row["change_output"] = region_change(self.previous[1], picture, box)
        overlaps = box_iou(box[None], found_output.boxes)[0] if len(found_output) else np.zeros(0)
        if not (len(overlaps) and overlaps.max() >= self.settings.detection.match_iou):
            return points_source, self.no_face
        row["output_face_found"] = True
        twin = found_output.boxes[int(overlaps.argmax())]
        points_output = landmarks68(picture, twin).astype(np.float64)
        row["landmark_error"] = float(landmark_error(points_output, points_source))
        row["detail_ratio"] = detail_ratio(picture, source_rgb, points_source)
        pose_output = head_pose(points_output, size)
        row["yaw_output"], row["pitch_output"], row["roll_output"] = pose_output
        pose_source = np.array([row["yaw_source"], row["pitch_source"], row["roll_source"]])
        row["pose_error_deg"] = float(angle_difference(pose_output, pose_source).mean())
        if row["position"] in self.described:
            self.descriptors.append(face_descriptor(picture, points_output))
            self.described_rows.append(row["position"])
        return points_source, points_output

    def _report_frame(self, source_rgb: np.ndarray, picture: np.ndarray) -> np.ndarray:
        """``original | swapped`` at the report's height, ``(h, 2w, 3)`` uint8 RGB."""
        height = self.settings.report.frame_height
        width = max(1, round(source_rgb.shape[1] * height / source_rgb.shape[0]))
        pair = np.concatenate([source_rgb, picture], axis=1)
        return cv2.resize(pair, (2 * width, height), interpolation=cv2.INTER_AREA)

    def result(
        self, target_references: np.ndarray, source_references: np.ndarray
    ) -> VideoEvaluation:
        """The per-frame table with the jitter and identity columns, and the landmark tracks."""
        per_frame = pd.DataFrame(self.rows, columns=PER_FRAME_COLUMNS)
        empty = np.zeros((0, 68, 2))
        landmarks_source = np.stack(self.tracks["source"]) if self.rows else empty
        landmarks_output = np.stack(self.tracks["output"]) if self.rows else empty
        # Jitter only where the face is the conversion's (swapped frames): elsewhere
        # output = source.
        swapped = per_frame["swapped"].to_numpy(bool)[:, None, None]
        per_frame["jitter_source"] = landmark_jitter(np.where(swapped, landmarks_source, np.nan))
        per_frame["jitter_output"] = landmark_jitter(np.where(swapped, landmarks_output, np.nan))
        descriptors = np.array(self.descriptors).reshape(-1, 128)
        scores = identity_scores(descriptors, target_references, source_references)
        per_frame.loc[self.described_rows, "distance_to_target"] = scores.distance_to_target
        per_frame.loc[self.described_rows, "distance_to_source"] = scores.distance_to_source
        return VideoEvaluation(per_frame, self.report_frames, landmarks_source, landmarks_output)


def evaluate_swapped_video(  # noqa: PLR0913  # two videos, two references; the rest keyword
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
        output: the converted video: one frame per source frame in ``[start_s, end_s)``, at any
            size.
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
    # One detector call takes a batch of frame pairs: the source frames and the output frames.
    measurer = _PairMeasurer(
        settings,
        detector or settings.detection.build(batch_size=2 * settings.detection.batch_size),
        swapped,
        described=set(spread_positions(swapped_positions, settings.max_described_faces)),
        shown=set(spread_positions(swapped_positions, settings.report.frames)),
        output_name=output.name,
    )
    batch: list[tuple[VideoFrame, np.ndarray]] = []
    for source_frame, output_frame in _paired_frames(source, output, start_s, end_s):
        picture = swapped_part(output_frame.rgb, source_frame.rgb.shape, side_by_side)
        batch.append((source_frame, picture))
        if len(batch) == settings.detection.batch_size:
            measurer.measure(batch)
            batch = []
    if batch:
        measurer.measure(batch)
    if len(measurer.rows) != len(swapped):
        raise ValueError(
            f"the swapped video {output.name} has {len(measurer.rows)} frames but its conversion "
            f"report has {len(swapped)} rows: they do not belong together; re-run the conversion"
        )
    result = measurer.result(target_references, source_references)
    logger.info(
        "evaluated %d frames of %s (%d swapped, %d faces described)",
        len(result.per_frame),
        output.name,
        len(swapped_positions),
        len(measurer.descriptors),
    )
    return result


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
        logger.warning(
            "%s has a description tag that is not the conversion's JSON; ignored", Path(path).name
        )
        return {}
    return provenance if isinstance(provenance, dict) else {}
