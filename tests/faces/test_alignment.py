"""The alignment maths on its own: Umeyama recovers a known similarity; the inverse maps back."""

from __future__ import annotations

import numpy as np
import pytest

from faceswap_pipeline.faces.alignment import (
    alignment_matrix,
    canonical_landmarks5,
    invert_affine,
    transform_points,
    umeyama,
    warp_face,
)


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    angle = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([scale * rotation, [[tx], [ty]]])


@pytest.mark.parametrize(
    ("scale", "angle", "tx", "ty"),
    [(1.0, 0.0, 0.0, 0.0), (0.37, 23.0, -40.0, 12.5), (2.5, -170.0, 300.0, 7.0)],
)
def test_umeyama_recovers_a_known_similarity(scale, angle, tx, ty):
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 500, size=(5, 2))
    truth = _similarity(scale, angle, tx, ty)
    estimate = umeyama(source, transform_points(source, truth))
    np.testing.assert_allclose(estimate, truth, atol=1e-9)


def test_umeyama_is_least_squares_under_noise_and_never_reflects():
    rng = np.random.default_rng(1)
    source = rng.uniform(0, 100, size=(68, 2))
    truth = _similarity(1.7, 40.0, 5.0, -3.0)
    noisy = transform_points(source, truth) + rng.normal(0, 0.5, size=source.shape)
    estimate = umeyama(source, noisy)
    np.testing.assert_allclose(estimate[:, :2], truth[:, :2], atol=0.01)
    np.testing.assert_allclose(estimate[:, 2], truth[:, 2], atol=0.5)
    # A mirrored point set is fitted by a rotation (det > 0), not by a reflection.
    mirrored = source * [-1, 1]
    assert np.linalg.det(umeyama(source, mirrored)[:, :2]) > 0


def test_inverse_maps_back():
    matrix = _similarity(0.8, 15.0, 20.0, -10.0)
    points = np.array([[0.0, 0.0], [100.0, 50.0], [-3.0, 7.5]])
    np.testing.assert_allclose(
        transform_points(transform_points(points, matrix), invert_affine(matrix)), points, atol=1e-9
    )


def test_alignment_puts_the_landmarks_on_the_template_and_the_crop_has_the_right_size():
    template = canonical_landmarks5(256, 0.2)
    frame_landmarks = transform_points(template, _similarity(1.9, -12.0, 140.0, 60.0))
    matrix = alignment_matrix(frame_landmarks, 256, 0.2)
    np.testing.assert_allclose(transform_points(frame_landmarks, matrix), template, atol=1e-6)
    crop = warp_face(np.zeros((480, 640, 3), np.uint8), matrix, 256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8


def test_template_margin_shrinks_the_face_towards_the_centre():
    tight, loose = canonical_landmarks5(256, 0.0), canonical_landmarks5(256, 0.5)
    eye_gap = lambda points: points[1, 0] - points[0, 0]  # noqa: E731
    assert eye_gap(loose) < eye_gap(tight)
    assert np.all((loose > 0) & (loose < 256))


def test_bad_inputs_fail_clearly():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        umeyama(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="coincide"):
        umeyama(np.ones((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="landmarks5"):
        alignment_matrix(np.zeros((68, 2)))
    with pytest.raises(ValueError, match="uint8"):
        warp_face(np.zeros((10, 10, 3), np.float32), np.eye(2, 3))
    with pytest.raises(ValueError, match="margin"):
        canonical_landmarks5(256, -1.0)
