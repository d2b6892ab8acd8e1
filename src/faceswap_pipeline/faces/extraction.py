"""One video's faces, streamed: detect in batches, track, check quality, align, landmark, sample
descriptors.

Frames go through in batches of the detector's size and are dropped after use, so memory does not
grow with the video's length. Identity is *not* decided here: each track gets a few descriptors
(``ExtractedFace.descriptor``), and the caller decides per track once every video has been read.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from faceswap_pipeline.faces.alignment import alignment_matrix, transform_points, warp_face
from faceswap_pipeline.faces.detection import FaceDetections, RetinaFaceDetector
from faceswap_pipeline.faces.extraction_settings import ExtractionSettings
from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.faces.quality import face_size, laplacian_variance
from faceswap_pipeline.faces.tracking import IouTracker, ShotCutDetector
from faceswap_pipeline.video.background import prefetched

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

REJECT_LOW_SCORE = "low_score"
REJECT_TOO_SMALL = "too_small"
REJECT_BLURRED = "blurred"


class FrameLike(Protocol):
    """What extraction needs of a frame (``faceswap_pipeline.video.decode.VideoFrame`` is one)."""

    index: int
    time_s: float
    rgb: np.ndarray


@dataclass
class ExtractedFace:
    """One detected face and what extraction learnt about it.

    Attributes:
        frame_index, time_s: where it is in the video (stream index, seconds from the time stamps).
        box: ``(4,)`` float32 ``x0, y0, x1, y1`` frame pixels.
        score: detector confidence.
        landmarks5: ``(5, 2)`` float32 frame pixels (RetinaFace).
        track: track id, unique within the video.
        sharpness: Laplacian variance of the aligned crop (NaN when rejected before alignment).
        reject_reason: ``None`` when it passed the quality checks, else why not.
        transform: ``(2, 3)`` float64 frame -> crop matrix (NaN when rejected before alignment).
        landmarks68: ``(68, 2)`` float32 frame pixels (NaN when rejected before alignment).
        landmarks68_crop: the same in crop pixels.
        descriptor: ``(128,)`` float32 when this face was sampled for identity, else ``None``.
        crop: ``(S, S, 3)`` uint8 RGB aligned crop when it passed the quality checks, else ``None``.
    """

    frame_index: int
    time_s: float
    box: np.ndarray
    score: float
    landmarks5: np.ndarray
    track: int
    sharpness: float = float("nan")
    reject_reason: str | None = None
    transform: np.ndarray = field(default_factory=lambda: np.full((2, 3), np.nan))
    landmarks68: np.ndarray = field(default_factory=lambda: np.full((68, 2), np.nan, np.float32))
    landmarks68_crop: np.ndarray = field(
        default_factory=lambda: np.full((68, 2), np.nan, np.float32)
    )
    descriptor: np.ndarray | None = None
    crop: np.ndarray | None = None


@dataclass
class ExtractionCounts:
    """Running totals of one extraction."""

    frames_read: int = 0
    frames_with_face: int = 0
    faces_found: int = 0
    faces_passed: int = 0
    descriptors: int = 0
    shot_cuts: int = 0
    rejected: Counter = field(default_factory=Counter)


@dataclass
class _TrackSampling:
    faces: int = 0
    described: int = 0
    next_at: int = 1


class FaceExtractor:
    """Streams one video's frames into ``ExtractedFace`` batches.

    Args:
        detector: the RetinaFace detector (its ``batch_size`` sets how many frames are held at
            once); ``None`` builds one from ``settings.detector`` (a caller extracting several
            videos passes one in, so that its onnxruntime session is made once).
        settings: thresholds and sizes.
    """

    def __init__(
        self, detector: RetinaFaceDetector | None = None, settings: ExtractionSettings | None = None
    ):
        self.settings = settings or ExtractionSettings()
        self.detector = detector or self.settings.detector.build()
        self.counts = ExtractionCounts()
        tracking = self.settings.tracking
        self._tracker = IouTracker(tracking.iou_threshold, tracking.max_missed)
        self._cuts = ShotCutDetector(tracking.cut_threshold)
        self._sampling: dict[int, _TrackSampling] = {}

    def run(
        self,
        frames: Iterable[FrameLike],
        on_frames: Callable[[int], None] | None = None,
        prefetch_frames: int = 16,
    ) -> Iterator[list[ExtractedFace]]:
        """Extract faces from frames of one video, in order.

        Args:
            frames: frames with ``index``, ``time_s`` and ``rgb`` (``(H, W, 3)`` uint8 RGB, one
                size).
            on_frames: called with the number of frames just processed (for a progress bar).
            prefetch_frames: frames read ahead in a background thread (decoding overlaps detection);
                0 reads in the caller's thread. Memory holds at most this many frames more.

        Yields:
            Per batch of frames, the faces found in them, in frame order.
        """
        batch: list[FrameLike] = []
        for frame in prefetched(frames, prefetch_frames) if prefetch_frames > 0 else frames:
            batch.append(frame)
            if len(batch) == self.detector.batch_size:
                yield self._process(batch)
                if on_frames:
                    on_frames(len(batch))
                batch = []
        if batch:
            yield self._process(batch)
            if on_frames:
                on_frames(len(batch))

    def _process(self, frames: list[FrameLike]) -> list[ExtractedFace]:
        detections = self.detector.detect([frame.rgb for frame in frames])
        faces: list[ExtractedFace] = []
        for frame, found in zip(frames, detections, strict=True):
            faces.extend(self._process_frame(frame, found))
        return faces

    def _process_frame(self, frame: FrameLike, found: FaceDetections) -> list[ExtractedFace]:
        settings = self.settings
        self.counts.frames_read += 1
        self.counts.faces_found += len(found)
        if len(found):
            self.counts.frames_with_face += 1
        if self._cuts.is_cut(frame.rgb):
            self.counts.shot_cuts += 1
            self._tracker.end_all()
        track_ids = self._tracker.update(found.boxes)
        faces = []
        for i in range(len(found)):
            face = ExtractedFace(
                frame_index=int(frame.index),
                time_s=float(frame.time_s),
                box=found.boxes[i],
                score=float(found.scores[i]),
                landmarks5=found.landmarks5[i],
                track=int(track_ids[i]),
            )
            faces.append(face)
            if face.score < settings.min_score:
                face.reject_reason = REJECT_LOW_SCORE
            elif face_size(face.box) < settings.min_face_size:
                face.reject_reason = REJECT_TOO_SMALL
            else:
                self._align(frame.rgb, face)
            if face.reject_reason:
                self.counts.rejected[face.reject_reason] += 1
            else:
                self.counts.faces_passed += 1
                self._maybe_describe(frame.rgb, face)
        return faces

    def _align(self, rgb: np.ndarray, face: ExtractedFace) -> None:
        settings = self.settings
        face.transform = alignment_matrix(face.landmarks5, settings.crop_size, settings.margin)
        crop = warp_face(rgb, face.transform, settings.crop_size)
        face.sharpness = laplacian_variance(crop)
        if face.sharpness < settings.min_sharpness:
            face.reject_reason = REJECT_BLURRED
            return
        face.crop = crop
        face.landmarks68 = landmarks68(rgb, face.box)
        face.landmarks68_crop = transform_points(face.landmarks68, face.transform).astype(
            np.float32
        )

    def _maybe_describe(self, rgb: np.ndarray, face: ExtractedFace) -> None:
        settings = self.settings.identity
        sampling = self._sampling.setdefault(face.track, _TrackSampling())
        sampling.faces += 1
        described_enough = sampling.described >= settings.max_descriptors_per_track
        if sampling.faces < sampling.next_at or described_enough:
            return
        face.descriptor = face_descriptor(rgb, face.landmarks68)
        sampling.described += 1
        self.counts.descriptors += 1
        # Evenly spaced at first, then sparser: long tracks are still checked late, at bounded cost.
        spacing = settings.descriptor_every * 2 ** max(0, sampling.described - 4)
        sampling.next_at = sampling.faces + max(1, spacing)


def describe_largest_face(
    image: np.ndarray, detector: RetinaFaceDetector
) -> tuple[np.ndarray | None, int]:
    """The identity descriptor of the largest face in a photo (a reference photo).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        detector: a RetinaFace detector (a large ``det_size`` suits photos).

    Returns:
        ``(descriptor, faces_found)``: the ``(128,)`` float32 descriptor of the largest face, or
        ``None`` when there is no face.
    """
    found = detector.detect([image])[0]
    if len(found) == 0:
        return None, 0
    areas = np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)
    largest = int(np.argmax(areas))
    points = landmarks68(image, found.boxes[largest])
    return face_descriptor(image, points), len(found)


def extract_clip_faces(
    video: str | Path,
    *,
    end_s: float | None = None,
    sample_fps: float | None = None,
    detector: RetinaFaceDetector | None = None,
    settings: ExtractionSettings | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Every aligned face of one clip that passes the quality checks, in memory.

    For a notebook, a test or a benchmark that wants a clip's faces without running the pipeline:
    no identity is decided (every track is kept) and nothing is written.

    Args:
        video: a local video file.
        end_s, sample_fps: read the clip up to ``end_s`` seconds, at ``sample_fps`` frames per
            second (see ``video.decode.iter_frames``); None reads every frame of the whole clip.
        detector: the RetinaFace detector; default: the default detector at batch size 8.
        settings: extraction thresholds and sizes; default ``ExtractionSettings()``.

    Returns:
        ``(crops, alignments)``: ``{"<stem>/<frame:06d>_t<track:03d>": RGB uint8 (S, S, 3)}`` keyed
        like the pipeline's ``aligned_faces``, and one row a crop with ``face_id``, ``video`` (the
        file name), ``frame_index``, ``time_s``, ``track``, ``landmarks68_crop`` (136 floats, crop
        pixels) and ``kept`` (True), a subset of ``face_alignments``' columns.
    """
    import pandas as pd

    # PyAV is loaded here, not with the module: FaceExtractor's callers may bring their own frames.
    from faceswap_pipeline.video.decode import iter_frames

    video = Path(video)
    extractor = FaceExtractor(detector or RetinaFaceDetector(batch_size=8), settings)
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
                    "track": face.track,
                    "landmarks68_crop": face.landmarks68_crop.reshape(-1).astype(float).tolist(),
                    "kept": True,
                }
            )
    return crops, pd.DataFrame(rows)
