"""Warping an aligned face crop back into the frame with the inverse of its alignment transform."""

from __future__ import annotations

import cv2
import numpy as np

from faceswap_pipeline.arrays import finite_array, require_rgb_image


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
        (x0, y0, x1, y1) integer pixel bounds, x1/y1 exclusive; empty (x1 <= x0) when it lies
        outside.
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
    crop: np.ndarray,
    frame_to_crop: np.ndarray,
    region: tuple[int, int, int, int],
    crop_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp a face crop back into a frame region (the inverse of the alignment warp).

    Args:
        crop: (S, S, 3) uint8 RGB, the model's output in the aligned crop's coordinates.
        frame_to_crop: (2, 3) float, the frame → crop similarity transform used to align the face.
        region: (x0, y0, x1, y1) frame rectangle to fill (from `face_region`).
        crop_weights: optional (S, S) float32 in [0, 1] in crop coordinates (e.g. a window that
            fades out towards the crop's border); None: 1 over the whole crop.

    Returns:
        (face, coverage): face is (y1 - y0, x1 - x0, 3) uint8 RGB; coverage is (y1 - y0, x1 - x0)
        float32 in [0, 1]: `crop_weights` warped into the region, 0 outside the crop's square.
    """
    require_rgb_image(crop, "crop must be an (S, S, 3) uint8 RGB array")
    x0, y0, x1, y1 = region
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"region {region} is empty")
    # Shift the transform so that the region's corner is the origin of the output.
    to_crop = _check_transform(frame_to_crop).copy()
    to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], np.float64)
    size = (x1 - x0, y1 - y0)
    # The face is enlarged here (a 64 px model's face to a 200 px one): bicubic keeps what detail
    # the model drew, where bilinear softens it (with bilinear here and in the work-size resize, a
    # perfect 64 px model kept 0.39-0.41 of d6's and d9's detail at 40 px, with bicubic 0.60-0.65:
    # benchmarks/detail_scale.py).
    face = cv2.warpAffine(
        crop,
        to_crop,
        size,
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if crop_weights is None:
        crop_weights = np.ones(crop.shape[:2], np.float32)
    elif crop_weights.shape != crop.shape[:2]:
        raise ValueError(f"crop_weights must be {crop.shape[:2]}, got {crop_weights.shape}")
    # Weights stay bilinear: bicubic would overshoot [0, 1] at the mask's edge.
    coverage = cv2.warpAffine(
        crop_weights.astype(np.float32, copy=False),
        to_crop,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return face, coverage


def border_window(size: int, fade: float = 0.1) -> np.ndarray:
    """A square weight window: 1 in the middle, fading linearly to 0 over `fade` of the side at each
    edge.

    Args:
        size: the side in pixels.
        fade: the fading band as a fraction of the side, in [0, 0.5].

    Returns:
        (size, size) float32 in [0, 1].
    """
    if not 0.0 <= fade <= 0.5:
        raise ValueError(f"fade must be in [0, 0.5], got {fade}")
    band = max(fade * size, 1e-6)
    centres = np.arange(size, dtype=np.float32) + 0.5
    ramp = np.clip(np.minimum(centres, size - centres) / band, 0.0, 1.0)
    return np.outer(ramp, ramp).astype(np.float32)


def _check_transform(matrix: np.ndarray) -> np.ndarray:
    return finite_array(matrix, (2, 3), "frame_to_crop", "a finite (2, 3) affine matrix")
