"""Masks, colour transfer, blending, warping back and the label, on a real face photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from faceswap_pipeline.compositing import (
    BLENDERS,
    draw_label,
    face_region,
    get_blender,
    get_colour_transfer,
    jaw_fitted_mask,
    landmark_hull_mask,
    mouth_mask,
    warp_crop_to_region,
)
from faceswap_pipeline.compositing.colour import MAX_SPREAD_GAIN, histogram_match, reinhard_lab


def _ellipse_landmarks(centre=(120.0, 110.0), radii=(50.0, 65.0)) -> np.ndarray:
    """68 points on an ellipse: a stand-in face outline with a known hull."""
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    return np.stack(
        [centre[0] + radii[0] * np.cos(angles), centre[1] + radii[1] * np.sin(angles)], axis=1
    )


@pytest.fixture(scope="module")
def photo(shared_photos: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(shared_photos / "obama.jpg").convert("RGB"))
    return np.ascontiguousarray(cv2.resize(rgb, (240, 240)))


def test_mask_is_zero_outside_the_hull_and_one_in_its_middle():
    landmarks = _ellipse_landmarks()
    mask = landmark_hull_mask(landmarks, (240, 240), erosion=0.05, feather=0.1)
    assert mask.dtype == np.float32 and mask.shape == (240, 240)
    hull = np.zeros((240, 240), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
    assert mask[hull == 0].max() == 0.0
    assert mask[110, 120] == pytest.approx(1.0)
    # Feathered: there are soft values, and erosion pulls the edge inwards.
    assert ((mask > 0.05) & (mask < 0.95)).any()
    assert (mask > 0).sum() < hull.sum()
    hard = landmark_hull_mask(landmarks, (240, 240), erosion=0.0, feather=0.0)
    assert set(np.unique(hard)) <= {0.0, 1.0}


def _on_ellipse(angle_deg: float, fraction: float, centre=(120.0, 110.0), radii=(50.0, 65.0)):
    """(row, col) of the point at `fraction` of the radius in the direction `angle_deg`."""
    angle = np.radians(angle_deg)
    x = centre[0] + fraction * radii[0] * np.cos(angle)
    y = centre[1] + fraction * radii[1] * np.sin(angle)
    return int(round(y)), int(round(x))


def test_mask_cut_to_the_swapped_jaw_only_where_that_lies_inside():
    source = _ellipse_landmarks()
    centre = source.mean(axis=0)
    # Points 0-16 are the jaw line in the 68-point layout: on this ellipse, angles 0-86 degrees.
    inward = source.copy()
    inward[:17] += (centre - source[:17]) * 0.12  # ~7 px towards the middle
    hard = {"erosion": 0.0, "feather": 0.0}
    cut = jaw_fitted_mask(source, inward, (240, 240), **hard)
    whole = landmark_hull_mask(source, (240, 240), **hard)
    assert whole[_on_ellipse(40, 0.95)] == 1 and cut[_on_ellipse(40, 0.95)] == 0
    assert cut[_on_ellipse(40, 0.8)] == 1
    assert np.array_equal(cut[:, :100], whole[:, :100])  # the side away from the jaw is whole
    # A jaw drawn wider changes nothing; the result is never above the source's own mask.
    outward = source.copy()
    outward[:17] -= (centre - source[:17]) * 0.12
    assert np.array_equal(
        jaw_fitted_mask(source, outward, (240, 240)), landmark_hull_mask(source, (240, 240))
    )
    assert (
        jaw_fitted_mask(source, inward, (240, 240)) <= landmark_hull_mask(source, (240, 240))
    ).all()
    # Landmarks found far off (a poor model's output) move the jaw by at most 0.15 of the face's
    # size (~15 px here): the face is not cut away.
    wild = source.copy()
    wild[:17] = centre
    clamped = jaw_fitted_mask(source, wild, (240, 240), **hard)
    assert clamped[_on_ellipse(40, 0.95)] == 0 and clamped[_on_ellipse(40, 0.6)] == 1


def test_the_mouth_mask_covers_the_lips_and_fades_outwards():
    landmarks = _ellipse_landmarks()
    # Points 48-59 are the outer lip line: a 32 x 14 px mouth centred at (120, 150).
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    landmarks[48:60] = np.stack([120 + 16 * np.cos(angles), 150 + 7 * np.sin(angles)], axis=1)
    mask = mouth_mask(landmarks, (240, 240))
    assert mask.dtype == np.float32 and mask.shape == (240, 240)
    # Whole between the lips and on their line (the right corner at x 136), none at the eyes or
    # the cheeks.
    assert mask[150, 120] == pytest.approx(1.0) and mask[150, 136] == pytest.approx(1.0)
    assert mask[100, 120] == 0.0 and mask[150, 80] == 0.0 and mask[150, 160] == 0.0
    # Past the corner it fades to 0 within ~0.1 of the face's size (~100 px here).
    beyond = mask[150, 136:160]
    assert ((beyond > 0.05) & (beyond < 0.95)).any()
    assert (np.diff(beyond) <= 1e-6).all()
    with pytest.raises(ValueError, match="grow and feather"):
        mouth_mask(landmarks, (240, 240), grow=-0.1)


def test_mask_rejects_bad_landmarks():
    with pytest.raises(ValueError, match="68"):
        landmark_hull_mask(np.zeros((5, 2)), (10, 10))


@pytest.mark.parametrize("method", ["reinhard_lab", "histogram"])
def test_colour_transfer_moves_the_statistics_towards_the_target(photo: np.ndarray, method: str):
    # The target is the same face tinted warm and darker; the source the original colours.
    target = np.clip(photo.astype(np.float32) * [1.1, 0.8, 0.6], 0, 255).astype(np.uint8)
    mask = landmark_hull_mask(_ellipse_landmarks(), photo.shape[:2], feather=0.0)
    inside = mask > 0.5
    recoloured = get_colour_transfer(method)(photo, target, mask)
    before = np.abs(photo[inside].mean(0) - target[inside].mean(0)).sum()
    after = np.abs(recoloured[inside].astype(np.float32).mean(0) - target[inside].mean(0)).sum()
    assert after < 0.25 * before
    assert recoloured.shape == photo.shape and recoloured.dtype == np.uint8


def test_reinhard_widens_a_channel_spread_at_most_by_its_cap(photo: np.ndarray):
    # The drawn face is a washed-out copy (a quarter of the colour spread around its mean): matching
    # the photo's spread would widen each channel 4x and blow its slight tints up into colours (the
    # purple eyes and mouths of a pale target's face pasted under warm light). The mean is matched.
    mean = photo.reshape(-1, 3).mean(0)
    washed_out = np.clip(mean + (photo - mean) * 0.25, 0, 255).astype(np.uint8)
    mask = landmark_hull_mask(_ellipse_landmarks(), photo.shape[:2], feather=0.0)
    inside = mask > 0.5

    def lab_spread(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[inside].astype(np.float64).std(0)

    recoloured = reinhard_lab(washed_out, photo, mask)
    gain = lab_spread(recoloured) / lab_spread(washed_out)
    assert (gain <= MAX_SPREAD_GAIN * 1.05).all() and (gain >= MAX_SPREAD_GAIN * 0.9).all(), gain
    lab_mean = cv2.cvtColor(recoloured, cv2.COLOR_RGB2LAB)[inside].mean(0)
    target_mean = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB)[inside].mean(0)
    assert np.abs(lab_mean - target_mean).max() < 3
    # Narrowing is not capped: the photo matched to its washed-out copy takes its spread.
    narrowed = lab_spread(reinhard_lab(photo, washed_out, mask)) / lab_spread(photo)
    assert (narrowed < 0.3).all(), narrowed


def test_histogram_match_reproduces_the_target_distribution():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 128, (64, 64, 3), dtype=np.uint8)
    target = rng.integers(128, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.ones((64, 64), np.float32)
    matched = histogram_match(source, target, mask)
    assert abs(float(matched.mean()) - float(target.mean())) < 3
    # Reinhard matches mean and spread of L, a, b.
    lab = cv2.cvtColor(reinhard_lab(source, target, mask), cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(0)
    target_lab = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(0)
    np.testing.assert_allclose(lab, target_lab, atol=3)


def test_unknown_methods_are_named():
    with pytest.raises(ValueError, match="histogram"):
        get_colour_transfer("magic")
    with pytest.raises(ValueError, match="seamless"):
        get_blender("magic")


@pytest.mark.parametrize("method", sorted(BLENDERS))
def test_blend_changes_pixels_inside_the_mask_only(photo: np.ndarray, method: str):
    face = np.ascontiguousarray(photo[:, ::-1])  # a different image with the same statistics
    mask = landmark_hull_mask(_ellipse_landmarks(), photo.shape[:2])
    blended = get_blender(method)(face, photo, mask)
    outside = mask == 0
    np.testing.assert_array_equal(blended[outside], photo[outside])
    core = mask > 0.99
    changed = np.abs(blended[core].astype(int) - photo[core].astype(int)).sum(axis=1) > 6
    assert changed.mean() > 0.5


def test_warp_back_inverts_the_alignment(photo: np.ndarray):
    # An alignment: rotate by 10°, scale 0.8, about the frame's face, into a 128-pixel crop.
    frame_to_crop = cv2.getRotationMatrix2D((120, 110), 10, 0.8)
    frame_to_crop[:, 2] += np.array([64, 64]) - np.array([120, 110])
    crop = cv2.warpAffine(photo, frame_to_crop, (128, 128), flags=cv2.INTER_LINEAR)
    region = face_region(frame_to_crop, 128, photo.shape[:2])
    face, coverage = warp_crop_to_region(crop, frame_to_crop, region)
    x0, y0, x1, y1 = region
    assert face.shape == (y1 - y0, x1 - x0, 3) and coverage.shape == face.shape[:2]
    full = coverage > 0.999
    error = np.abs(face[full].astype(int) - photo[y0:y1, x0:x1][full].astype(int)).mean()
    assert error < 8  # a bilinear and a bicubic resampling of a downscaled crop
    assert coverage.min() == 0.0  # the crop's corners leave part of the region uncovered


def test_label_is_visible_and_small(photo: np.ndarray):
    labelled = draw_label(photo)
    changed = np.any(labelled != photo, axis=2)
    assert 0 < changed.mean() < 0.1
    ys, xs = np.nonzero(changed)
    assert ys.min() > photo.shape[0] / 2 and xs.min() > photo.shape[1] / 3  # bottom-right corner
