"""Does the swapped face look like the target? dlib descriptor distances to both people's references."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceswap_pipeline.faces.identity import descriptor_distances


@dataclass(frozen=True)
class IdentityScores:
    """Identity of swapped faces against the target's and the source's reference descriptors.

    Attributes:
        distance_to_target: ``(N,)`` float64, each face's L2 distance to its nearest target reference.
        distance_to_source: ``(N,)`` float64, the same to the source person's references.
        share_closer_to_target: fraction of faces nearer the target than the source, in [0, 1]
            (NaN when N is 0).
        mean_distance_to_target, mean_distance_to_source: the means of the two distances.
    """

    distance_to_target: np.ndarray
    distance_to_source: np.ndarray
    share_closer_to_target: float
    mean_distance_to_target: float
    mean_distance_to_source: float


def _references(references: np.ndarray, name: str) -> np.ndarray:
    references = np.asarray(references, dtype=np.float64)
    if references.ndim != 2 or references.shape[1] != 128 or len(references) == 0:
        raise ValueError(
            f"{name} must be (R, 128) dlib descriptors with R >= 1, got shape {references.shape}; "
            "run face_extraction to get each person's identity table"
        )
    return references


def identity_scores(
    descriptors: np.ndarray, target_references: np.ndarray, source_references: np.ndarray
) -> IdentityScores:
    """Score swapped faces by who they resemble more: the target person or the source person.

    Args:
        descriptors: ``(N, 128)`` dlib descriptors of swapped faces (N may be 0).
        target_references: ``(R, 128)`` descriptors of the person swapped in (``{target}.identity``).
        source_references: ``(S, 128)`` descriptors of the person swapped out.

    Returns:
        The per-face distances (nearest reference, L2) and their summary.
    """
    descriptors = np.asarray(descriptors, dtype=np.float64)
    if descriptors.size == 0:
        descriptors = descriptors.reshape(0, 128)
    if descriptors.ndim != 2 or descriptors.shape[1] != 128:
        raise ValueError(f"descriptors must be (N, 128) dlib descriptors, got shape {descriptors.shape}")
    to_target = descriptor_distances(descriptors, _references(target_references, "target_references"))
    to_source = descriptor_distances(descriptors, _references(source_references, "source_references"))
    if len(descriptors) == 0:
        return IdentityScores(to_target, to_source, float("nan"), float("nan"), float("nan"))
    return IdentityScores(
        distance_to_target=to_target,
        distance_to_source=to_source,
        share_closer_to_target=float(np.mean(to_target < to_source)),
        mean_distance_to_target=float(to_target.mean()),
        mean_distance_to_source=float(to_source.mean()),
    )
