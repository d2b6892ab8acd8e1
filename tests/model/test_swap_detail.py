"""benchmarks/swap_detail.py's row of the people's own faces: the detail a perfect model keeps,
per direction, a swap's against the target's faces whose mouths open the most alike."""

from __future__ import annotations

import sys

import cv2
import numpy as np

from faceswap_pipeline.compositing.masks import face_size
from faceswap_pipeline.evaluation.validation_swaps import HeldOutFace
from tests.helpers import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from swap_detail import mouth_opening, own_faces_row  # noqa: E402


def _faces(clip_faces, count: int = 8) -> list[HeldOutFace]:
    crops, alignments = clip_faces["a"]
    return [
        HeldOutFace(crops[row.face_id], np.asarray(row.landmarks68_crop).reshape(68, 2))
        for row in alignments.head(count).itertuples()
    ]


def _with_mouth(face: HeldOutFace, opening: float, blur_px: float = 0.0) -> HeldOutFace:
    """The face with its inner lower lip (landmarks 65-67) put `opening` of the face's size below
    the inner upper lip (61-63), the picture blurred by `blur_px`."""
    points = face.landmarks68.astype(np.float64).copy()
    points[[67, 66, 65]] = points[[61, 62, 63]] + (0.0, opening * face_size(points))
    crop = cv2.GaussianBlur(face.crop, (0, 0), blur_px) if blur_px else face.crop
    return HeldOutFace(crop, points)


def test_mouth_opening_measures_the_gap_between_the_inner_lips(clip_faces):
    face = _faces(clip_faces, 1)[0]
    assert mouth_opening(_with_mouth(face, 0.0).landmarks68) == 0.0
    assert abs(mouth_opening(_with_mouth(face, 0.15).landmarks68) - 0.15) < 1e-6


def test_a_swap_is_measured_against_the_target_s_own_detail_with_the_same_mouth(clip_faces):
    faces = _faces(clip_faces)
    # The same man as target, blurred: a perfect swap onto him keeps less than his own faces do,
    # a perfect swap from him onto the sharp faces more than all of his own.
    blurred = [_with_mouth(face, 0.0, blur_px=2.0) for face in faces]
    sharp = [_with_mouth(face, 0.0) for face in faces]
    row = own_faces_row({"a": sharp, "b": blurred}, {"a": sharp, "b": blurred}, 64, 0.625, 3)
    assert row["A→B"] < 0.6 * row["A→A"]
    assert row["B→A"] > 1.0
    assert 0.0 < row["A→A"] < 1.0 and 0.0 < row["B→B"] < 1.0

    # The target's open-mouthed faces sharp and closed-mouthed ones blurred: an open-mouthed source
    # face is measured against the sharp ones, a closed-mouthed one against the blurred ones.
    target = [_with_mouth(face, 0.15) for face in faces] + blurred
    opened = own_faces_row(
        {"a": [_with_mouth(face, 0.15) for face in faces], "b": blurred},
        {"a": sharp, "b": target},
        64,
        0.625,
        3,
    )
    closed = own_faces_row({"a": sharp, "b": blurred}, {"a": sharp, "b": target}, 64, 0.625, 3)
    assert opened["A→B"] > 1.5 * closed["A→B"]
    assert abs(closed["A→B"] - row["A→B"]) < 1e-6
