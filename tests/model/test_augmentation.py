"""faceit's augmentation in torch: identity at strength 0, reproducible with a seed, within its
ranges."""

from __future__ import annotations

import math

import pytest
import torch

from faceswap_pipeline.model import (
    AugmentationConfig,
    augment_faces,
    crop_model_region,
    model_region_box,
    source_size,
)

INPUT_SIZE, COVERAGE = 64, 0.625
NOTHING = {"rotation_deg": 0.0, "zoom": 0.0, "shift": 0.0, "flip": False, "warp": 0.0}


def _faces(count: int = 16, channels: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    size = source_size(INPUT_SIZE, COVERAGE)
    # Smooth random images: a coarse noise upsampled, so that sub-pixel shifts stay small in value.
    coarse = torch.rand(count, channels, 8, 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)


def _dot_image(x: float, y: float) -> torch.Tensor:
    """A source-size image with one bright Gaussian dot at (x, y) in [-1, 1] model-region units."""
    size = source_size(INPUT_SIZE, COVERAGE)
    coords = (torch.arange(size) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    dot = torch.exp(-(((xx - x * COVERAGE) ** 2 + (yy - y * COVERAGE) ** 2) / 0.002))
    return dot.expand(1, 3, size, size).clone()


def _centroid(images: torch.Tensor) -> torch.Tensor:
    """(N, 2) intensity centroid of channel 0, in [-1, 1] output units."""
    weights = images[:, 0].clamp_min(0) ** 2
    size = images.shape[-1]
    coords = (torch.arange(size) + 0.5) / size * 2 - 1
    total = weights.sum(dim=(1, 2))
    return torch.stack(
        [(weights.sum(1) * coords).sum(1) / total, (weights.sum(2) * coords).sum(1) / total], dim=1
    )


def test_strength_zero_is_the_plain_model_region():
    faces = _faces()
    warped, target = augment_faces(faces, INPUT_SIZE, COVERAGE, AugmentationConfig(strength=0.0))
    region = crop_model_region(faces, INPUT_SIZE, COVERAGE)
    assert warped.shape == target.shape == (16, 3, INPUT_SIZE, INPUT_SIZE)
    assert torch.equal(warped, region) and torch.equal(target, region)


def test_full_coverage_at_the_input_size_returns_the_faces_unchanged():
    faces = torch.rand(2, 3, INPUT_SIZE, INPUT_SIZE)
    assert torch.allclose(crop_model_region(faces, INPUT_SIZE, 1.0), faces, atol=1e-5)


def test_model_region_is_the_centred_coverage_of_the_crop():
    assert model_region_box(256, 0.625) == (48.0, 48.0, 208.0, 208.0)
    # A crop whose centre region is white and the rest black: the model sees white only.
    crop = torch.zeros(1, 3, 256, 256)
    crop[..., 48:208, 48:208] = 1.0
    region = crop_model_region(crop, INPUT_SIZE, COVERAGE)
    assert region[..., 2:-2, 2:-2].min() > 0.99


def test_seeded_augmentation_is_reproducible():
    faces, config = _faces(), AugmentationConfig()
    first = augment_faces(faces, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(7))
    again = augment_faces(faces, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(7))
    other = augment_faces(faces, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(8))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.allclose(first[0], other[0])


def test_flip_mirrors_about_half_of_the_faces():
    faces = _faces(count=64)
    config = AugmentationConfig(**{**NOTHING, "flip": True})
    _, target = augment_faces(faces, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(1))
    region = crop_model_region(faces, INPUT_SIZE, COVERAGE)
    same = (target - region).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (target - region.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert bool((same | mirrored).all())
    assert 16 <= int(mirrored.sum()) <= 48


def test_rotation_stays_within_ten_degrees_and_uses_the_range():
    dots = _dot_image(0.6, 0.0).expand(200, -1, -1, -1)
    config = AugmentationConfig(**{**NOTHING, "rotation_deg": 10.0})
    _, target = augment_faces(dots, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(2))
    centre = _centroid(target)
    angles = torch.rad2deg(torch.atan2(centre[:, 1], centre[:, 0]))
    radius = centre.norm(dim=1)
    assert angles.abs().max() <= 10.5
    assert angles.abs().max() >= 8.0  # the range is used, not only its middle
    assert torch.allclose(radius, torch.full_like(radius, 0.6), atol=0.02)  # rotation only


def test_zoom_and_shift_stay_within_five_percent():
    dots = _dot_image(0.0, 0.0).expand(200, -1, -1, -1)
    config = AugmentationConfig(**{**NOTHING, "shift": 0.05})
    _, target = augment_faces(dots, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(3))
    # A shift of 5% of the region's side is 0.1 in [-1, 1] units, either way on each axis.
    offsets = _centroid(target).abs()
    assert offsets.max() <= 0.1 + 0.01 and offsets.max() >= 0.08

    dots = _dot_image(0.8, 0.0).expand(200, -1, -1, -1)
    config = AugmentationConfig(**{**NOTHING, "zoom": 0.05})
    _, target = augment_faces(dots, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(4))
    scale = _centroid(target)[:, 0] / 0.8
    assert scale.min() >= 1 / 1.05 - 0.01 and scale.max() <= 1 / 0.95 + 0.01
    assert scale.max() - scale.min() >= 0.07


def test_the_random_warp_is_off_before_warp_from_step_and_as_configured_from_it():
    config = AugmentationConfig(warp=0.7, warp_from_step=400)
    assert config.at_step(0).warp == config.at_step(399).warp == 0.0
    assert config.at_step(0).rotation_deg == config.rotation_deg  # the rest as configured
    assert config.at_step(400) == config.at_step(5000) == config
    assert AugmentationConfig(warp=1.0).at_step(0).warp == 1.0  # 0: from the first step
    only_warp = AugmentationConfig(**{**NOTHING, "warp": 1.0, "warp_from_step": 400})
    faces = _faces(count=4)
    warped, target = augment_faces(faces, INPUT_SIZE, COVERAGE, only_warp.at_step(10))
    assert torch.equal(warped, target[:, :3])
    warped, target = augment_faces(faces, INPUT_SIZE, COVERAGE, only_warp.at_step(400))
    assert not torch.equal(warped, target[:, :3])


def test_random_warp_distorts_the_input_only_and_gently():
    faces = _faces(count=32)
    config = AugmentationConfig(**{**NOTHING, "warp": 1.0})
    warped, target = augment_faces(
        faces, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(5)
    )
    assert torch.equal(
        target, crop_model_region(faces, INPUT_SIZE, COVERAGE)
    )  # the target is undistorted
    assert bool(
        ((warped - target).abs().mean(dim=(1, 2, 3)) > 1e-3).all()
    )  # every input is distorted
    # ...by a jitter of a few pixels (faceit: 5 px on a 160 px region, 2 px at 64 px), not a new
    # image.
    dots = _dot_image(0.3, -0.2).expand(200, -1, -1, -1)
    warped, target = augment_faces(
        dots, INPUT_SIZE, COVERAGE, config, torch.Generator().manual_seed(5)
    )
    moved_px = (_centroid(warped) - _centroid(target)).norm(dim=1) * INPUT_SIZE / 2
    assert 0.5 < moved_px.median() < 4.0


def test_extra_channels_follow_the_transform_into_the_target():
    faces = _faces(channels=4)
    faces[:, 3] = faces[
        :, 0
    ]  # a weight map equal to the red channel must stay equal after the transform
    warped, target = augment_faces(
        faces, INPUT_SIZE, COVERAGE, AugmentationConfig(), torch.Generator().manual_seed(6)
    )
    assert warped.shape[1] == 3 and target.shape[1] == 4
    assert torch.allclose(target[:, 3], target[:, 0])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="float tensor"):
        augment_faces(
            torch.zeros(2, 3, 102, 102, dtype=torch.uint8),
            INPUT_SIZE,
            COVERAGE,
            AugmentationConfig(),
        )
    with pytest.raises(ValueError, match="RGB in channels 0-2"):
        augment_faces(torch.zeros(2, 1, 102, 102), INPUT_SIZE, COVERAGE, AugmentationConfig())
    with pytest.raises(
        ValueError, match=r"rotation_deg\n  Input should be greater than or equal to 0"
    ):
        AugmentationConfig(rotation_deg=-1)
    with pytest.raises(ValueError, match="frozen"):
        AugmentationConfig().strength = 2.0


def test_source_size_makes_the_model_region_the_input_size():
    assert source_size(64, 0.625) == 102
    assert math.isclose(source_size(128, 0.625) * 0.625, 128, abs_tol=1)
