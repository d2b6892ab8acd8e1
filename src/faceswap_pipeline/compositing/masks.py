"""Face masks: the convex hull of the 68 facial landmarks, eroded and feathered, that hull cut to a
swapped face's own jaw line, and the mouth's mask (the source's own mouth kept)."""

from __future__ import annotations

import cv2
import numpy as np

from faceswap_pipeline.arrays import finite_array

# Defaults, as fractions of the face's size (the square root of the hull's area), so a mask looks
# the same on a 100-pixel and a 600-pixel face.
DEFAULT_EROSION = 0.03
DEFAULT_FEATHER = 0.08
# The jaw line in dlib's 68-point (iBUG 300-W) layout: ear to ear along the chin.
JAW_POINTS = slice(0, 17)
# How far a swapped face's jaw point may pull the mask inwards, as a fraction of the face's size:
# a narrower face's jaw lies ~0.1 inside a wider one's; landmarks found on a poor model output may
# be far off, and must not cut the face away.
MAX_JAW_SHIFT = 0.15
# The outer lip line in the same layout (48-59; 60-67 are the inner one, the opening).
MOUTH_POINTS = slice(48, 60)
# The mouth's mask reaches this far past the outer lip line, and fades over this width beyond it
# (fractions of the face's size): the lips' edge and the skin just around them come from the
# same picture, so no drawn lip line lies beside the source's.
DEFAULT_MOUTH_GROW = 0.03
DEFAULT_MOUTH_FEATHER = 0.06


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
    size: float | None = None,
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
        size: the face size in pixels the fractions are of; None: these landmarks' (`face_size`).

    Returns:
        (height, width) float32 in [0, 1]; 1 inside the face, 0 outside.
    """
    points = _check_landmarks(landmarks68)
    if erosion < 0 or feather < 0:
        raise ValueError(f"erosion and feather must be >= 0, got {erosion} and {feather}")
    size = face_size(points) if size is None else size
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    feather_px = feather * size
    # Shrunk by the erosion plus half the feather, so after blurring the mask is 0 at the hull's
    # edge.
    soft = _soft_hull(hull, shape, -(erosion * size + feather_px / 2), feather_px)
    if feather_px >= 1:
        # The blur's tail must not leak past the hull.
        hull_mask = np.zeros(soft.shape, np.uint8)
        cv2.fillConvexPoly(hull_mask, hull, 1)
        soft *= hull_mask
    return np.clip(soft, 0.0, 1.0)


def jaw_fitted_mask(
    landmarks68: np.ndarray,
    swapped_landmarks68: np.ndarray,
    shape: tuple[int, int],
    *,
    erosion: float = DEFAULT_EROSION,
    feather: float = DEFAULT_FEATHER,
    max_jaw_shift: float = MAX_JAW_SHIFT,
) -> np.ndarray:
    """The source face's mask (`landmark_hull_mask`), cut along the swapped face's jaw line where it
    lies inside the source's.

    A decoder draws its own person's face shape and, around it, that person's background: where the
    target's face is narrower than the source's, the source's hull would paste a strip of the
    target's background along the jaw. Cut there, the source's own cheek shows instead. Each jaw
    point moves at most `max_jaw_shift` of the face's size, and outward moves change nothing (the
    mask is the smaller of the two hulls), so a wrong landmark costs at most a thin strip.

    Args:
        landmarks68: (68, 2) the source face's landmarks, pixels of the image the mask is for.
        swapped_landmarks68: (68, 2) the landmarks found on the swapped face, the same pixels.
        shape: (height, width) of that image.
        erosion, feather: as `landmark_hull_mask`, for both hulls.
        max_jaw_shift: the largest move of a jaw point, a fraction of the source face's size.

    Returns:
        (height, width) float32 in [0, 1], never above the source's own mask.
    """
    points = _check_landmarks(landmarks68)
    swapped = _check_landmarks(swapped_landmarks68)
    if max_jaw_shift < 0:
        raise ValueError(f"max_jaw_shift must be >= 0, got {max_jaw_shift}")
    shift = swapped[JAW_POINTS] - points[JAW_POINTS]
    length = np.linalg.norm(shift, axis=1, keepdims=True)
    size = face_size(points)
    shift *= np.minimum(1.0, max_jaw_shift * size / np.maximum(length, 1e-9))
    fitted = points.astype(np.float64)
    fitted[JAW_POINTS] += shift
    # Both edges eroded and feathered by the same pixels: the source face's.
    source_mask = landmark_hull_mask(points, shape, erosion=erosion, feather=feather, size=size)
    fitted_mask = landmark_hull_mask(fitted, shape, erosion=erosion, feather=feather, size=size)
    return np.minimum(source_mask, fitted_mask)


def mouth_mask(
    landmarks68: np.ndarray,
    shape: tuple[int, int],
    *,
    grow: float = DEFAULT_MOUTH_GROW,
    feather: float = DEFAULT_MOUTH_FEATHER,
    size: float | None = None,
) -> np.ndarray:
    """A soft mask of the mouth: the hull of the outer lip line, grown by `grow`, its edge fading
    outwards over `feather` (1 on the lips and between them).

    Args:
        landmarks68: (68, 2) float x, y in the pixels of the image the mask is for.
        shape: (height, width) of that image.
        grow, feather: fractions of the face size (>= 0).
        size: the face size in pixels the fractions are of; None: these landmarks' (`face_size`).

    Returns:
        (height, width) float32 in [0, 1].
    """
    points = _check_landmarks(landmarks68)
    if grow < 0 or feather < 0:
        raise ValueError(f"grow and feather must be >= 0, got {grow} and {feather}")
    size = face_size(points) if size is None else size
    hull = cv2.convexHull(np.round(points[MOUTH_POINTS]).astype(np.int32))
    feather_px = feather * size
    # Grown by half the feather more, so that after blurring the lips themselves stay at 1.
    soft = _soft_hull(hull, shape, grow * size + feather_px / 2, feather_px)
    return np.clip(soft, 0.0, 1.0)


def _soft_hull(
    hull: np.ndarray, shape: tuple[int, int], offset_px: float, feather_px: float
) -> np.ndarray:
    """The filled `hull` (cv2 int32 points) in an image of `shape` (height, width), its edge moved
    out by `offset_px` (in when negative), blurred over `feather_px`: float32 in [0, 1]."""
    height, width = int(shape[0]), int(shape[1])
    if height <= 0 or width <= 0:
        raise ValueError(f"mask shape must be positive (height, width), got {shape}")
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    radius = int(round(abs(offset_px)))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel) if offset_px > 0 else cv2.erode(mask, kernel)
    soft = mask.astype(np.float32) / 255.0
    if feather_px >= 1:
        sigma = feather_px / 4
        kernel_size = 2 * int(np.ceil(feather_px / 2)) + 1
        soft = cv2.GaussianBlur(soft, (kernel_size, kernel_size), sigmaX=sigma, sigmaY=sigma)
    return soft


def _check_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    return finite_array(landmarks68, (68, 2), "landmarks68", "68 finite (x, y) points")
