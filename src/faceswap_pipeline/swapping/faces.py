"""Swapping the faces of a stream of frames: detect, track, recognise, align (smoothed), swap in
batches, composite.

`FaceSwapConverter.run` streams frames in and swapped frames out, holding one batch of frames at a
time (memory does not grow with the video). It uses the face library (detection, tracking, identity,
alignment), a swap function (the model), and the compositing library; it knows nothing of files.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from faceswap_pipeline.compositing import (
    border_window,
    face_region,
    get_blender,
    get_colour_transfer,
    jaw_fitted_mask,
    landmark_hull_mask,
    mouth_mask,
    warp_crop_to_region,
)
from faceswap_pipeline.faces.alignment import alignment_matrix, transform_points, umeyama
from faceswap_pipeline.faces.detection import FaceDetections, RetinaFaceDetector
from faceswap_pipeline.faces.extraction import FrameLike
from faceswap_pipeline.faces.identity import (
    descriptor_distances,
    face_descriptor,
    landmarks68,
)
from faceswap_pipeline.faces.smoothing import OneEuroFilter
from faceswap_pipeline.faces.tracking import IouTracker
from faceswap_pipeline.swapping.settings import SwapSettings

logger = logging.getLogger(__name__)

# A swap function turns model inputs into the other person: (N, S, S, 3) uint8 RGB -> the same
# shape.
SwapFunction = Callable[[np.ndarray], np.ndarray]

SKIP_LOW_SCORE = "low_score"
SKIP_TOO_SMALL = "too_small"
SKIP_NOT_SOURCE_PERSON = "not_source_person"
SKIP_AT_FRAME_EDGE = "at_frame_edge"
# Masks and colour statistics are computed at this multiple of the model's input size.
_WORK_SCALE = 2
# A followed face counts as lost when its landmarks fit a rigid move worse than this (RMS, in face
# sizes) or its thumbnail changes by more than this mean grey level from one frame to the next.
_LOST_LANDMARK_RESIDUAL = 0.04
_LOST_PATCH_CHANGE = 0.1
_PATCH_SIZE = 16
# Threads that swap and composite batches beside the analysing thread: on 2 cores a second one is no
# faster (benchmarks/conversion_speed.py) and holds another batch of frames in memory.
_FINISH_WORKERS = 1


@dataclass(frozen=True)
class ModelGeometry:
    """How the model's input is cut from a frame: the aligned crop, then its centred model region.

    Attributes:
        input_size: the model's input side in pixels.
        coverage: the fraction of the aligned crop's side that the model sees.
        crop_size: the aligned crop's side that training used.
        margin: the alignment margin that face extraction used (see `faces.alignment`).
    """

    input_size: int
    coverage: float
    crop_size: int = 256
    margin: float = 0.25

    def frame_to_model_input(self, landmarks5: np.ndarray) -> np.ndarray:
        """The (2, 3) transform from frame pixels to model-input pixels for a face's 5 landmarks."""
        frame_to_crop = alignment_matrix(landmarks5, self.crop_size, self.margin)
        offset = self.crop_size * (1.0 - self.coverage) / 2.0
        scale = self.input_size / (self.crop_size * self.coverage)
        crop_to_input = np.array([[scale, 0.0, -offset * scale], [0.0, scale, -offset * scale]])
        frame_to_input = crop_to_input[:, :2] @ frame_to_crop
        frame_to_input[:, 2] += crop_to_input[:, 2]
        return frame_to_input


@dataclass
class FrameResult:
    """One frame after conversion.

    Attributes:
        index, time_s: the source frame's index and time stamp.
        original: (H, W, 3) uint8 RGB, the frame as decoded.
        swapped: (H, W, 3) uint8 RGB; the same array as `original` when nothing was swapped.
        faces_found: faces the detector reported.
        faces_swapped: faces replaced.
        skipped: why the other faces were left alone, reason -> count.
    """

    index: int
    time_s: float
    original: np.ndarray
    swapped: np.ndarray
    faces_found: int = 0
    faces_swapped: int = 0
    skipped: Counter = field(default_factory=Counter)


@dataclass
class _Track:
    distances: list[float] = field(default_factory=list)
    faces_since_descriptor: int = 0
    smoother: OneEuroFilter | None = None

    def is_source(self, threshold: float) -> bool:
        return bool(self.distances) and float(np.median(self.distances)) <= threshold


@dataclass
class _Face:
    """A face in one frame: from the detector, or followed from the previous frame."""

    box: np.ndarray
    score: float
    landmarks5: np.ndarray
    landmarks68: np.ndarray | None = None
    patch: np.ndarray | None = None


def _face_patch(rgb: np.ndarray, points68: np.ndarray) -> np.ndarray | None:
    """A tiny grey thumbnail of the landmarks' bounding box, float32 in [0, 1], to notice a lost
    face."""
    x0, y0 = np.floor(points68.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points68.max(axis=0)).astype(int)
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    grey = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    return (
        cv2.resize(grey, (_PATCH_SIZE, _PATCH_SIZE), interpolation=cv2.INTER_AREA).astype(
            np.float32
        )
        / 255.0
    )


@dataclass
class _PendingFace:
    """A face to swap: its frame's slot in the batch, frame -> model-input transform, smoothed
    landmarks."""

    slot: int
    to_input: np.ndarray
    landmarks68: np.ndarray


def _detected_faces(found: FaceDetections) -> list[_Face]:
    return [
        _Face(found.boxes[i], float(found.scores[i]), found.landmarks5[i])
        for i in range(len(found))
    ]


def _input_scale(to_input: np.ndarray) -> float:
    """Model-input pixels per frame pixel of a (2, 3) similarity transform (NaN when degenerate)."""
    scale = float(np.sqrt(abs(np.linalg.det(to_input[:, :2]))))
    return scale if np.isfinite(scale) else float("nan")


class FaceSwapConverter:
    """Swaps the source person's faces in a stream of frames.

    Args:
        swap_faces: the model, as a `SwapFunction`.
        geometry: how model inputs are cut from frames.
        detector: the RetinaFace detector (its `det_size` sets the detection resolution).
        references: (R, 128) descriptors of the source person; None only with `swap_all_faces`.
        settings: batch size, detection cadence, identity, smoothing and compositing (only the
            detector's own settings are read by the detector, not here).
    """

    def __init__(
        self,
        swap_faces: SwapFunction,
        geometry: ModelGeometry,
        detector: RetinaFaceDetector,
        references: np.ndarray | None,
        settings: SwapSettings | None = None,
    ) -> None:
        self.settings = settings or SwapSettings()
        if not self.settings.identity.swap_all_faces:
            if references is None or len(references) == 0:
                raise ValueError(
                    "no identity descriptors of the source person: run face_extraction for that"
                    " person first, or set conversion.identity.swap_all_faces to true"
                )
            references = np.asarray(references, dtype=np.float32).reshape(-1, 128)
        self._references = references
        self._swap_faces = swap_faces
        self.geometry = geometry
        self.detector = detector
        self._colour_transfer = get_colour_transfer(self.settings.compositing.colour_transfer)
        self._blend = get_blender(self.settings.compositing.blend)
        self._window = border_window(
            geometry.input_size * _WORK_SCALE, self.settings.compositing.border_fade
        )
        self._tracker = IouTracker()
        self._tracks: dict[int, _Track] = {}
        self._previous_faces: list[_Face] = []
        self._frames_seen = 0
        self.descriptors_computed = 0

    def reset(self) -> None:
        """Forget every track (before an unrelated image or video: no identity or smoothing carried
        over)."""
        self._tracker = IouTracker()
        self._tracks.clear()
        self._previous_faces = []
        self._frames_seen = 0

    def run(self, frames: Iterable[FrameLike]) -> Iterator[FrameResult]:
        """Convert frames in order (one size).

        Args:
            frames: objects with `index`, `time_s` and `rgb` ((H, W, 3) uint8 RGB), e.g.
                `VideoFrame`.

        Yields:
            One `FrameResult` per frame, in order.
        """
        # Three stages overlap on the cores: a thread detects faces one batch ahead (stateless:
        # which frames are detected depends only on their position); the calling thread analyses
        # batches in order (following, tracking, identity, smoothing: the stateful part); a worker
        # cuts model inputs, runs the model and composites earlier batches (stateless). Torch,
        # onnxruntime, OpenCV and PyAV release the GIL, so the stages share the cores; dlib's
        # landmarks do not, which is why the serial stage does nothing else that could run
        # elsewhere.
        workers = _FINISH_WORKERS
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-detect") as detect_pool,
            ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="faceswap-composite"
            ) as finish_pool,
        ):
            detecting: deque[tuple[list[FrameLike], list[int], Future]] = deque()
            finishing: deque[Future] = deque()

            def analyse_next() -> None:
                batch, slots, detections = detecting.popleft()
                analysed = self._analyse_batch(
                    batch, dict(zip(slots, detections.result(), strict=True))
                )
                finishing.append(finish_pool.submit(self._finish_batch, *analysed))

            for batch in _batches(frames, self.settings.batch_size):
                detecting.append(self._detect_ahead(detect_pool, batch))
                if len(detecting) > 1:
                    analyse_next()
                # Hand out frames only once more batches than workers are queued, so that a worker
                # always has the next batch while the consumer (the encoder) takes these.
                if len(finishing) > workers:
                    yield from finishing.popleft().result()
            while detecting:
                analyse_next()
            while finishing:
                yield from finishing.popleft().result()

    def _detect_ahead(
        self, pool: ThreadPoolExecutor, frames: list[FrameLike]
    ) -> tuple[list[FrameLike], list[int], Future]:
        """Start detecting on the batch's every `every_n_frames`-th frame (counted over the whole
        run)."""
        every = self.settings.detection.every_n_frames
        slots = [slot for slot in range(len(frames)) if (self._frames_seen + slot) % every == 0]
        self._frames_seen += len(frames)
        return (
            frames,
            slots,
            pool.submit(self.detector.detect, [frames[slot].rgb for slot in slots]),
        )

    def _analyse_batch(
        self, frames: list[FrameLike], detections: dict[int, FaceDetections]
    ) -> tuple[list[FrameResult], list[_PendingFace]]:
        """Follow, track, identify and align the faces of a batch (in order: it updates state).

        Args:
            frames: the batch.
            detections: the detector's faces for some of the batch's slots; the other frames' faces
                are followed from the frame before.
        """
        results: list[FrameResult] = []
        pending: list[_PendingFace] = []
        for slot, frame in enumerate(frames):
            if slot in detections:
                faces = _detected_faces(detections[slot])
            else:
                faces = self._follow(frame.rgb)
                if (
                    faces is None
                ):  # a face was lost (a cut, an occlusion): detect on this frame after all
                    faces = _detected_faces(self.detector.detect([frame.rgb])[0])
            result = FrameResult(
                frame.index, frame.time_s, frame.rgb, frame.rgb, faces_found=len(faces)
            )
            results.append(result)
            track_ids = self._tracker.update(np.array([face.box for face in faces]).reshape(-1, 4))
            for face, track_id in zip(faces, track_ids, strict=True):
                reason = self._prepare_face(slot, frame, face, int(track_id), pending)
                if reason:
                    result.skipped[reason] += 1
            self._previous_faces = faces
        return results, pending

    def _finish_batch(
        self, results: list[FrameResult], pending: list[_PendingFace]
    ) -> list[FrameResult]:
        """Swap the batch's pending faces with the model and composite them into copies of their
        frames."""
        if pending:
            model_inputs = [
                self.cut_model_input(results[face.slot].original, face.to_input) for face in pending
            ]
            swapped = self._swap(model_inputs)
            for face, model_input, swapped_face in zip(pending, model_inputs, swapped, strict=True):
                result = results[face.slot]
                if result.swapped is result.original:
                    result.swapped = result.original.copy()
                self._composite(result.swapped, result.original, face, model_input, swapped_face)
                result.faces_swapped += 1
        return results

    def _follow(self, rgb: np.ndarray) -> list[_Face] | None:
        """The previous frame's faces moved to this frame without running the detector.

        dlib's 68 landmarks are found again inside each face's previous box; the similarity
        transform (Umeyama) from the old to the new landmarks moves the 5 detector landmarks and the
        box. Faces that were not landmarked (skipped) are carried over unchanged.

        Returns:
            The faces, or None when one was lost: its landmarks no longer move as one rigid face, or
            its patch changed too much (a cut, a hand) — the caller then runs the detector.
        """
        followed = []
        for face in self._previous_faces:
            if face.landmarks68 is None:
                followed.append(_Face(face.box, face.score, face.landmarks5))
                continue
            points68 = landmarks68(rgb, face.box)
            motion = umeyama(face.landmarks68, points68)
            size = float(
                np.sqrt(max((face.box[2] - face.box[0]) * (face.box[3] - face.box[1]), 1.0))
            )
            residual = (
                np.sqrt(np.mean((transform_points(face.landmarks68, motion) - points68) ** 2))
                / size
            )
            patch = _face_patch(rgb, points68)
            changed = (
                face.patch is not None
                and patch is not None
                and np.abs(patch - face.patch).mean() > _LOST_PATCH_CHANGE
            )
            if residual > _LOST_LANDMARK_RESIDUAL or changed or patch is None:
                return None
            x0, y0, x1, y1 = face.box
            corners = transform_points(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]), motion)
            box = np.concatenate([corners.min(axis=0), corners.max(axis=0)]).astype(np.float32)
            landmarks5 = transform_points(face.landmarks5, motion).astype(np.float32)
            followed.append(_Face(box, face.score, landmarks5, points68, patch))
        return followed

    def _prepare_face(
        self, slot: int, frame: FrameLike, face: _Face, track_id: int, pending: list[_PendingFace]
    ) -> str | None:
        """Decide whether to swap one face; if so, queue its model input. Returns a skip reason or
        None."""
        detection, identity, smoothing = (
            self.settings.detection,
            self.settings.identity,
            self.settings.smoothing,
        )
        box = face.box
        if face.score < detection.min_score:
            return SKIP_LOW_SCORE
        if min(box[2] - box[0], box[3] - box[1]) < detection.min_face_size:
            return SKIP_TOO_SMALL
        track = self._tracks.setdefault(track_id, _Track())
        if face.landmarks68 is None:
            face.landmarks68 = landmarks68(frame.rgb, box)
            face.patch = _face_patch(frame.rgb, face.landmarks68)
        points68 = face.landmarks68
        if not identity.swap_all_faces:
            self._update_identity(track, frame.rgb, points68)
            if not track.is_source(identity.threshold):
                return SKIP_NOT_SOURCE_PERSON
        points = np.vstack([np.asarray(face.landmarks5, np.float64), points68])
        if smoothing.min_cutoff_hz > 0:
            if track.smoother is None:
                track.smoother = OneEuroFilter(smoothing.min_cutoff_hz, smoothing.beta)
            size = float(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0)))
            points = track.smoother(points, frame.time_s, scale=size)
        to_input = self.geometry.frame_to_model_input(points[:5])
        if (
            not _input_scale(to_input) > 0
        ):  # a degenerate fit (landmarks collapsed at the frame's edge)
            return SKIP_AT_FRAME_EDGE
        pending.append(_PendingFace(slot, to_input, points[5:]))
        return None

    def _update_identity(self, track: _Track, rgb: np.ndarray, points68: np.ndarray) -> None:
        """Describe a sample of the track's faces (descriptors cost ~100 ms, so not every face)."""
        identity = self.settings.identity
        track.faces_since_descriptor += 1
        due = not track.distances or track.faces_since_descriptor >= identity.every
        if due and len(track.distances) < identity.samples_per_track:
            descriptor = face_descriptor(rgb, points68)
            self.descriptors_computed += 1
            distance = float(descriptor_distances(descriptor[None], self._references)[0])
            track.distances.append(distance)
            track.faces_since_descriptor = 0

    def cut_model_input(self, rgb: np.ndarray, to_input: np.ndarray) -> np.ndarray:
        """The model's (S, S, 3) input, anti-aliased when the face is much larger than S."""
        size = self.geometry.input_size
        # Warp at up to 4x the input size, then shrink with an area filter (as training's resize).
        oversample = int(np.clip(round(1.0 / _input_scale(to_input)), 1, 4))
        warp = to_input * oversample
        cut = cv2.warpAffine(
            rgb,
            warp,
            (size * oversample, size * oversample),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )
        if oversample > 1:
            cut = cv2.resize(cut, (size, size), interpolation=cv2.INTER_AREA)
        return cut

    def _swap(self, model_inputs: list[np.ndarray]) -> np.ndarray:
        batch = np.stack(model_inputs)
        swapped = self._swap_faces(batch)
        if swapped.shape != batch.shape or swapped.dtype != np.uint8:
            raise ValueError(
                f"the swap function returned {swapped.dtype} {swapped.shape} for inputs"
                f" {batch.shape}; expected uint8 of the same shape"
            )
        return swapped

    def _composite(
        self,
        output: np.ndarray,
        original: np.ndarray,
        face: _PendingFace,
        model_input: np.ndarray,
        swapped_face: np.ndarray,
    ) -> None:
        """Mask and colour-match the swapped face in model space, warp it back and blend it into
        `output`.

        Mask and colour statistics are computed at `_WORK_SCALE` times the model's input size, not
        at the face's size in the frame: the same result for a fraction of the cost on large faces.
        """
        compositing = self.settings.compositing
        work_size = self.geometry.input_size * _WORK_SCALE
        to_work = face.to_input * _WORK_SCALE
        # Bicubic, as the warp back into the frame: each bilinear resampling of the enlarged face
        # softens the detail the model drew (`warp_crop_to_region`).
        swapped_work = cv2.resize(
            swapped_face, (work_size, work_size), interpolation=cv2.INTER_CUBIC
        )
        points = transform_points(face.landmarks68, to_work)
        if compositing.follow_swapped_jaw:
            # dlib's shape predictor on the drawn face, in the source face's box (the model's
            # output is aligned as its input was): ~1 ms at this size.
            box = np.concatenate([points.min(axis=0), points.max(axis=0)])
            hull = jaw_fitted_mask(
                points,
                landmarks68(swapped_work, box),
                (work_size, work_size),
                erosion=compositing.mask_erosion,
                feather=compositing.mask_feather,
            )
        else:
            hull = landmark_hull_mask(
                points,
                (work_size, work_size),
                erosion=compositing.mask_erosion,
                feather=compositing.mask_feather,
            )
        mask = hull * self._window
        if not mask.any():
            return
        original_work = cv2.resize(
            model_input, (work_size, work_size), interpolation=cv2.INTER_LINEAR
        )
        recoloured = self._colour_transfer(swapped_work, original_work, mask)
        if compositing.keep_source_mouth:
            # After the colour statistics, which the whole face gives: the mouth is left out of
            # the blend only, so the source's own lips, teeth and tongue show there.
            mask = mask * (1.0 - mouth_mask(points, (work_size, work_size)))
        x0, y0, x1, y1 = face_region(to_work, work_size, original.shape[:2])
        # The mask is 0 outside the landmarks' hull, so only the hull's bounding box (plus a pixel
        # for interpolation) is warped and blended: about half of the model region.
        hull_x0, hull_y0 = np.floor(face.landmarks68.min(axis=0)).astype(int) - 2
        hull_x1, hull_y1 = np.ceil(face.landmarks68.max(axis=0)).astype(int) + 2
        region = max(x0, hull_x0), max(y0, hull_y0), min(x1, hull_x1), min(y1, hull_y1)
        x0, y0, x1, y1 = region
        if x1 - x0 < 4 or y1 - y0 < 4:
            return
        warped, frame_mask = warp_crop_to_region(recoloured, to_work, region, mask)
        output[y0:y1, x0:x1] = self._blend(warped, output[y0:y1, x0:x1], frame_mask)


def _batches(frames: Iterable[FrameLike], size: int) -> Iterator[list[FrameLike]]:
    """Consecutive lists of ``size`` frames (the last may be shorter)."""
    batch: list[FrameLike] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
