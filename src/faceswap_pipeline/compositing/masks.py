"""Face masks: the convex hull of the 68 facial landmarks, eroded and feathered."""

from __future__ import annotations

import cv2
import numpy as np

from faceswap_pipeline.arrays import finite_array

# Defaults, as fractions of the face's size (the square root of the hull's area), so a mask looks
# the same on a 100-pixel and a 600-pixel face.
DEFAULT_EROSION = 0.03
DEFAULT_FEATHER = 0.08


def face_size(landmarks68: np.ndarray) -> float:
    """The face's size in pixels: the square root of the landmark hull's area."""
    points = _check_landmarks(landmarks68)
    hull = cv2.convexHull(points.astype(np.float32))
    return float(np.sqrt(max(cv2.contourArea(hull), 1.0)))


def landmark_hull_mask(
    landmarks68: np.ndarray,
    shape: tuple[int, int],
    *,
    erosion: float = DEFAULT_EROSION,
    feather: float = DEFAULT_FEATHER,
) -> np.ndarray:
    """A soft mask of the face: the hull of its landmarks, shrunk by `erosion`, blurred by
    `feather`.

    The feathering happens inside the eroded hull (the blurred edge is shifted inwards), so the mask
    is
    exactly 0 outside the hull: pixels outside the face are never touched.

    Args:
        landmarks68: (68, 2) float x, y in the pixel coordinates of the image the mask is for
            (points may lie outside it).
        shape: (height, width) of that image.
        erosion: how far to shrink the hull, as a fraction of the face size (>= 0).
        feather: the width of the soft edge, as a fraction of the face size (>= 0; 0 = a hard edge).

    Returns:
        (height, width) float32 in [0, 1]; 1 inside the face, 0 outside.
    """
    points = _check_landmarks(landmarks68)
    if erosion < 0 or feather < 0:
        raise ValueError(f"erosion and feather must be >= 0, got {erosion} and {feather}")
    height, width = int(shape[0]), int(shape[1])
    if height <= 0 or width <= 0:
        raise ValueError(f"mask shape must be positive (height, width), got {shape}")
    size = face_size(points)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    feather_px = feather * size
    # Shrink by the erosion plus half the feather, so after blurring the mask is 0 at the hull's
    # edge.
    erode_px = int(round(erosion * size + feather_px / 2))
    if erode_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        mask = cv2.erode(mask, kernel)
    soft = mask.astype(np.float32) / 255.0
    if feather_px >= 1:
        sigma = feather_px / 4
        kernel_size = 2 * int(np.ceil(feather_px / 2)) + 1
        soft = cv2.GaussianBlur(soft, (kernel_size, kernel_size), sigmaX=sigma, sigmaY=sigma)
        # The blur's tail must not leak past the hull.
        hull_mask = np.zeros((height, width), np.uint8)
        cv2.fillConvexPoly(hull_mask, hull, 1)
        soft *= hull_mask
    return np.clip(soft, 0.0, 1.0)


def _check_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    return finite_array(landmarks68, (68, 2), "landmarks68", "68 finite (x, y) points")
