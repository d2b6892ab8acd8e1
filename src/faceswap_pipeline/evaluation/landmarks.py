"""Is the source's expression kept, and are the landmarks steady? 68-point errors normalised by the
eyes.

Errors are divided by the inter-ocular distance (outer eye corners, iBUG 300-W points 36 and 45),
the usual normalisation of 300-W and of the DeepFaceLab paper's landmark figure, so they do not
depend on the face's size in the frame.
"""

from __future__ import annotations

import numpy as np

# iBUG 300-W 68-point layout (0-based): the outer corners of the two eyes.
OUTER_EYE_CORNERS = (36, 45)


def _landmark_array(landmarks: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[-2:] != (68, 2):
        raise ValueError(f"{name} must be (..., 68, 2) landmark points, got shape {points.shape}")
    return points


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """The distance between the outer eye corners.

    Args:
        landmarks: ``(..., 68, 2)`` points (pixels).

    Returns:
        ``(...)`` float64 pixels.
    """
    points = _landmark_array(landmarks, "landmarks")
    left, right = OUTER_EYE_CORNERS
    return np.linalg.norm(points[..., left, :] - points[..., right, :], axis=-1)


def landmark_error(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean point-to-point distance between two sets of landmarks, in units of the reference's eye
    distance.

    Args:
        predicted: ``(N, 68, 2)`` (or ``(68, 2)``) points of the swapped face, frame pixels.
        reference: the same shape: the source face in the same frames.

    Returns:
        ``(N,)`` (or a 0-d array) float64; 0 = the same landmarks; NaN where either input is NaN or
        the reference's eyes coincide.
    """
    predicted = _landmark_array(predicted, "predicted")
    reference = _landmark_array(reference, "reference")
    if predicted.shape != reference.shape:
        raise ValueError(
            f"predicted and reference landmarks differ in shape: {predicted.shape} vs"
            f" {reference.shape}"
        )
    distances = np.linalg.norm(predicted - reference, axis=-1).mean(axis=-1)
    eyes = inter_ocular_distance(reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eyes > 0, distances / eyes, np.nan)


def landmark_jitter(landmarks: np.ndarray) -> np.ndarray:
    """How much landmarks shake from frame to frame: the size of their second difference over time.

    Steady motion (a head turning) has a small second difference; jitter (points jumping back and
    forth between frames) a large one. Each value is the mean over the 68 points of
    ``|p[t+1] - 2 p[t] + p[t-1]|``, divided by the inter-ocular distance at ``t``.

    Args:
        landmarks: ``(T, 68, 2)`` points of one face over consecutive frames; a frame without a face
            is all NaN.

    Returns:
        ``(T,)`` float64: NaN at the ends and wherever a neighbour is missing.
    """
    points = _landmark_array(landmarks, "landmarks")
    if points.ndim != 3:
        raise ValueError(f"landmarks must be (T, 68, 2) over time, got shape {points.shape}")
    jitter = np.full(len(points), np.nan)
    if len(points) < 3:
        return jitter
    second_difference = points[2:] - 2.0 * points[1:-1] + points[:-2]
    eyes = inter_ocular_distance(points[1:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        jitter[1:-1] = np.linalg.norm(second_difference, axis=-1).mean(axis=-1) / np.where(
            eyes > 0, eyes, np.nan
        )
    return jitter
