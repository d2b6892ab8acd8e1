"""Face alignment: a similarity transform (Umeyama 1991) of five landmarks onto a canonical
template.

The template is the widely used ArcFace 5-point layout (Deng et al. 2019, 112 x 112 crop), shrunk
into a larger crop by a margin so that chin, cheeks and forehead stay in view for training and
masks. Matrices are 2 x 3 affine matrices in OpenCV's convention (``dst = M @ [x, y, 1]``).
"""

from __future__ import annotations

import cv2
import numpy as np

from faceswap_pipeline.arrays import require_rgb_image

# ArcFace's template in a 112 x 112 crop: eye on the image's left, eye on the right, nose tip, mouth
# corners left and right; RetinaFace returns its landmarks in the same order.
_ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def canonical_landmarks5(crop_size: int = 256, margin: float = 0.25) -> np.ndarray:
    """Where the five landmarks sit in an aligned crop.

    Args:
        crop_size: side of the square crop in pixels.
        margin: extra border on each side as a fraction of the template's face square (0: the tight
            ArcFace crop; 0.25: the face square fills 1/1.5 of the crop).

    Returns:
        ``(5, 2)`` float64 ``(x, y)`` crop pixels.
    """
    if crop_size < 16:
        raise ValueError(f"crop_size must be at least 16 pixels, got {crop_size}")
    if not 0.0 <= margin <= 2.0:
        raise ValueError(f"margin must be in [0, 2] (a fraction of the face square), got {margin}")
    unit = _ARCFACE_TEMPLATE_112 / 112.0
    return (unit + margin) / (1.0 + 2.0 * margin) * crop_size


def umeyama(
    source: np.ndarray, destination: np.ndarray, *, estimate_scale: bool = True
) -> np.ndarray:
    """The least-squares similarity transform taking ``source`` points onto ``destination`` points.

    S. Umeyama, "Least-squares estimation of transformation parameters between two point patterns",
    IEEE TPAMI 13(4), 1991: rotation from the SVD of the covariance, reflection excluded, then scale
    and translation.

    Args:
        source: ``(N, 2)`` points, N >= 2.
        destination: ``(N, 2)`` points.
        estimate_scale: ``False`` fits a rigid transform (scale 1).

    Returns:
        ``(2, 3)`` float64 matrix ``M`` with ``destination ~= M @ [source, 1]``.
    """
    source = np.asarray(source, dtype=np.float64)
    destination = np.asarray(destination, dtype=np.float64)
    if (
        source.ndim != 2
        or source.shape[1] != 2
        or source.shape != destination.shape
        or len(source) < 2
    ):
        raise ValueError(
            "umeyama() takes two (N, 2) point arrays of the same shape with N >= 2, got"
            f" {source.shape} and {destination.shape}"
        )
    source_mean, destination_mean = source.mean(axis=0), destination.mean(axis=0)
    source_centered, destination_centered = source - source_mean, destination - destination_mean
    covariance = destination_centered.T @ source_centered / len(source)
    u, singular_values, vt = np.linalg.svd(covariance)
    reflection = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflection[1, 1] = -1.0
    rotation = u @ reflection @ vt
    if estimate_scale:
        source_variance = (source_centered**2).sum() / len(source)
        if source_variance <= 0:
            raise ValueError(
                "umeyama() got source points that all coincide; no transform is defined"
            )
        scale = float(np.trace(np.diag(singular_values) @ reflection) / source_variance)
    else:
        scale = 1.0
    matrix = np.zeros((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = destination_mean - scale * rotation @ source_mean
    return matrix


def alignment_matrix(
    landmarks5: np.ndarray, crop_size: int = 256, margin: float = 0.25
) -> np.ndarray:
    """The frame -> crop similarity transform for one face.

    Args:
        landmarks5: ``(5, 2)`` ``(x, y)`` frame pixels in RetinaFace's order.
        crop_size, margin: as in ``canonical_landmarks5``.

    Returns:
        ``(2, 3)`` float64 matrix.
    """
    landmarks5 = np.asarray(landmarks5, dtype=np.float64)
    if landmarks5.shape != (5, 2):
        raise ValueError(f"landmarks5 must be (5, 2) (x, y) points, got {landmarks5.shape}")
    return umeyama(landmarks5, canonical_landmarks5(crop_size, margin))


def warp_face(image: np.ndarray, matrix: np.ndarray, crop_size: int = 256) -> np.ndarray:
    """Cut the aligned face out of a frame.

    Args:
        image: ``(H, W, 3)`` uint8 frame (RGB or BGR; the channel order is kept).
        matrix: ``(2, 3)`` frame -> crop transform.
        crop_size: side of the square crop.

    Returns:
        ``(crop_size, crop_size, 3)`` uint8; parts outside the frame (a face at its edge) are
        filled by reflecting the border so no hard black edge enters training.
    """
    require_rgb_image(image, "warp_face() takes an (H, W, 3) uint8 image")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 3):
        raise ValueError(f"matrix must be a (2, 3) affine matrix, got {matrix.shape}")
    return cv2.warpAffine(
        image,
        matrix,
        (crop_size, crop_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT101,
    )


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine matrix to ``(..., 2)`` points; returns float64 of the same
    shape."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    if points.shape[-1] != 2 or matrix.shape != (2, 3):
        raise ValueError(
            f"transform_points() takes (..., 2) points and a (2, 3) matrix, got {points.shape} and"
            f" {matrix.shape}"
        )
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a ``(2, 3)`` affine matrix (crop -> frame for an alignment matrix)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 3):
        raise ValueError(f"invert_affine() takes a (2, 3) matrix, got {matrix.shape}")
    linear_inverse = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear_inverse, -(linear_inverse @ matrix[:, 2])[:, None]])
