"""Warping an aligned face crop back into the frame with the inverse of its alignment transform."""

from __future__ import annotations

import cv2
import numpy as np


def face_region(
    frame_to_crop: np.ndarray, crop_size: int, frame_shape: tuple[int, int], margin: int = 2
) -> tuple[int, int, int, int]:
    """The frame rectangle that the crop covers, clipped to the frame.

    Args:
        frame_to_crop: (2, 3) float, the similarity transform from frame pixels to crop pixels.
        crop_size: S, the crop's side in pixels.
        frame_shape: (height, width) of the frame.
        margin: extra pixels on each side.

    Returns:
        (x0, y0, x1, y1) integer pixel bounds, x1/y1 exclusive; empty (x1 <= x0) when it lies outside.
    """
    crop_to_frame = cv2.invertAffineTransform(_check_transform(frame_to_crop))
    corners = np.array([[0, 0], [crop_size, 0], [0, crop_size], [crop_size, crop_size]], np.float64)
    frame_corners = corners @ crop_to_frame[:, :2].T + crop_to_frame[:, 2]
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x0 = int(np.clip(np.floor(frame_corners[:, 0].min()) - margin, 0, width))
    y0 = int(np.clip(np.floor(frame_corners[:, 1].min()) - margin, 0, height))
    x1 = int(np.clip(np.ceil(frame_corners[:, 0].max()) + margin, 0, width))
    y1 = int(np.clip(np.ceil(frame_corners[:, 1].max()) + margin, 0, height))
    return x0, y0, x1, y1


def warp_crop_to_region(
    crop: np.ndarray, frame_to_crop: np.ndarray, region: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Warp a face crop back into a frame region (the inverse of the alignment warp).

    Args:
        crop: (S, S, 3) uint8 RGB, the model's output in the aligned crop's coordinates.
        frame_to_crop: (2, 3) float, the frame → crop similarity transform used to align the face.
        region: (x0, y0, x1, y1) frame rectangle to fill (from `face_region`).

    Returns:
        (face, coverage): face is (y1 - y0, x1 - x0, 3) uint8 RGB; coverage is (y1 - y0, x1 - x0)
        float32 in [0, 1], 1 where the crop covers the pixel (0 outside its square).
    """
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"crop must be an (S, S, 3) uint8 RGB array, got {getattr(crop, 'shape', crop)}")
    x0, y0, x1, y1 = region
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"region {region} is empty")
    # Shift the transform so that the region's corner is the origin of the output.
    to_crop = _check_transform(frame_to_crop).copy()
    to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], np.float64)
    size = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    face = cv2.warpAffine(crop, to_crop, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    ones = np.ones(crop.shape[:2], np.float32)
    coverage = cv2.warpAffine(ones, to_crop, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return face, coverage


def _check_transform(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape == (6,):
        matrix = matrix.reshape(2, 3)
    if matrix.shape != (2, 3) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"frame_to_crop must be a finite (2, 3) affine matrix, got shape {matrix.shape}")
    return matrix
