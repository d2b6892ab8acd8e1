"""Does the swapped face look like the target? dlib descriptor distances to both people's identity
centres.

A person's identity centre is the mean of their descriptors (``{person}_identity``). Distances to it
are read against the person's own spread: the mean distance of their own faces to their centre
(0.2–0.3 for one person in one clip), while two different people's centres lie ~0.8 apart. A blurred
face that resembles nobody lies ~0.6 from both centres, so "nearer the target than the source" alone
says little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IdentityScores:
    """Identity of swapped faces against the target's and the source's identity centres.

    Attributes:
        distance_to_target: ``(N,)`` float64, each face's L2 distance to the target's centre.
        distance_to_source: ``(N,)`` float64, the same to the source person's centre.
        share_closer_to_target: fraction of faces nearer the target than the source, in [0, 1].
        mean_distance_to_target, mean_distance_to_source: the means of the two distances.
        target_spread: the mean distance of the target's own faces to their centre: what a real face
            of the target scores.
        margin: mean of ``distance_to_source - distance_to_target``: how much nearer the target the
            swapped faces are (> 0: nearer the target).

    Every summary is NaN when N is 0 (``target_spread`` excepted).
    """

    distance_to_target: np.ndarray
    distance_to_source: np.ndarray
    share_closer_to_target: float
    mean_distance_to_target: float
    mean_distance_to_source: float
    target_spread: float
    margin: float


def _references(references: np.ndarray, name: str) -> np.ndarray:
    references = np.asarray(references, dtype=np.float64)
    if references.ndim != 2 or references.shape[1] != 128 or len(references) == 0:
        raise ValueError(
            f"{name} must be (R, 128) dlib descriptors with R >= 1, got shape {references.shape}; "
            "run face_extraction to get each person's identity table"
        )
    return references


def identity_centre(references: np.ndarray) -> np.ndarray:
    """A person's identity centre: the mean of their ``(R, 128)`` descriptors, ``(128,)``
    float64."""
    return _references(references, "references").mean(axis=0)


def identity_spread(references: np.ndarray) -> float:
    """The mean L2 distance of a person's ``(R, 128)`` descriptors to their centre (>= 0)."""
    references = _references(references, "references")
    return float(np.linalg.norm(references - references.mean(axis=0), axis=1).mean())


def distances_to_centre(descriptors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """L2 distances of ``(N, 128)`` descriptors to a ``(128,)`` identity centre, ``(N,)``
    float64."""
    descriptors = np.asarray(descriptors, dtype=np.float64)
    if descriptors.size == 0:
        descriptors = descriptors.reshape(0, 128)
    if descriptors.ndim != 2 or descriptors.shape[1] != 128:
        raise ValueError(
            f"descriptors must be (N, 128) dlib descriptors, got shape {descriptors.shape}"
        )
    return np.linalg.norm(
        descriptors - np.asarray(centre, dtype=np.float64).reshape(1, 128), axis=1
    )


def identity_scores(
    descriptors: np.ndarray, target_references: np.ndarray, source_references: np.ndarray
) -> IdentityScores:
    """Score swapped faces by who they resemble more: the target person or the source person.

    Args:
        descriptors: ``(N, 128)`` dlib descriptors of swapped faces (N may be 0).
        target_references: ``(R, 128)`` descriptors of the person swapped in
            (``{target}_identity``).
        source_references: ``(S, 128)`` descriptors of the person swapped out.

    Returns:
        The per-face distances to both centres and their summary.
    """
    target = _references(target_references, "target_references")
    source = _references(source_references, "source_references")
    to_target = distances_to_centre(descriptors, target.mean(axis=0))
    to_source = distances_to_centre(descriptors, source.mean(axis=0))
    spread = identity_spread(target)
    if len(to_target) == 0:
        nan = float("nan")
        return IdentityScores(to_target, to_source, nan, nan, nan, spread, nan)
    return IdentityScores(
        distance_to_target=to_target,
        distance_to_source=to_source,
        share_closer_to_target=float(np.mean(to_target < to_source)),
        mean_distance_to_target=float(to_target.mean()),
        mean_distance_to_source=float(to_source.mean()),
        target_spread=spread,
        margin=float(np.mean(to_source - to_target)),
    )
