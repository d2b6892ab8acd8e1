"""The detail a perfect swap onto the target would keep, stood in for by the target's own faces
(`detail.target_own_detail`), each source face against the target's faces whose mouths open the
most alike."""

from __future__ import annotations

import cv2
import numpy as np

from faceswap_pipeline.compositing.masks import face_size
from faceswap_pipeline.evaluation.detail import inner_face_detail, mouth_opening, target_own_detail
from faceswap_pipeline.evaluation.validation_swaps import (
    HeldOutFace,
    perfect_model_detail,
    pick_held_out_faces,
)
from tests.helpers.faces import face_items


def _faces(clip_faces, count: int = 8) -> list[HeldOutFace]:
    return pick_held_out_faces(face_items(clip_faces, "a", count), count)


def _with_mouth(face: HeldOutFace, opening: float, blur_px: float = 0.0) -> HeldOutFace:
    """The face with its inner lower lip (landmarks 65-67) put `opening` of the face's size below
    the inner upper lip (61-63), the picture blurred by `blur_px`."""
    points = face.landmarks68.astype(np.float64).copy()
    points[[67, 66, 65]] = points[[61, 62, 63]] + (0.0, opening * face_size(points))
    crop = cv2.GaussianBlur(face.crop, (0, 0), blur_px) if blur_px else face.crop
    return HeldOutFace(crop, points)


def _own(source: list[HeldOutFace], target: list[HeldOutFace], size: int = 64) -> float:
    return target_own_detail(
        np.array([inner_face_detail(face.crop, face.landmarks68) for face in source]),
        np.array([mouth_opening(face.landmarks68) for face in source]),
        perfect_model_detail(target, size, 0.625),
        np.array([mouth_opening(face.landmarks68) for face in target]),
        matched=3,
    )


def test_mouth_opening_measures_the_gap_between_the_inner_lips(clip_faces):
    face = _faces(clip_faces, 1)[0]
    assert mouth_opening(_with_mouth(face, 0.0).landmarks68) == 0.0
    assert abs(mouth_opening(_with_mouth(face, 0.15).landmarks68) - 0.15) < 1e-6


def test_a_perfect_model_keeps_less_the_smaller_it_draws(clip_faces):
    faces = [_with_mouth(face, 0.0) for face in _faces(clip_faces)]
    real = np.array([inner_face_detail(face.crop, face.landmarks68) for face in faces])
    kept = {size: np.median(perfect_model_detail(faces, size, 0.625) / real) for size in (64, 160)}
    assert 0.3 < kept[64] < 0.8 < kept[160] < 1.2
    no_landmarks = HeldOutFace(faces[0].crop, None)
    assert np.isnan(perfect_model_detail([no_landmarks], 64, 0.625)[0])


def test_a_plainer_target_keeps_less_and_the_mouth_picks_the_faces(clip_faces):
    faces = _faces(clip_faces)
    sharp = [_with_mouth(face, 0.0) for face in faces]
    blurred = [_with_mouth(face, 0.0, blur_px=2.0) for face in faces]
    onto_own = _own(sharp, sharp)
    # The same man as target, blurred: a perfect swap onto him keeps less than one onto himself,
    # a perfect swap from him onto the sharp faces more than all of his own.
    assert _own(sharp, blurred) < 0.6 * onto_own
    assert _own(blurred, sharp) > 1.0

    # The target's open-mouthed faces sharp, his shut-mouthed ones blurred: an open-mouthed source
    # face is measured against the sharp ones, a shut-mouthed one against the blurred ones.
    target = [_with_mouth(face, 0.15) for face in faces] + blurred
    opened = _own([_with_mouth(face, 0.15) for face in faces], target)
    shut = _own(sharp, target)
    assert opened > 1.5 * shut
    assert shut == _own(sharp, blurred)


def test_no_measurable_face_gives_nan():
    assert np.isnan(target_own_detail(np.ones(3), np.zeros(3), np.zeros(0), np.zeros(0)))
    assert np.isnan(target_own_detail(np.full(2, np.nan), np.zeros(2), np.ones(4), np.zeros(4)))
