"""What the model sees of an aligned face, and faceit's training augmentation, on whole batches in
torch.

An aligned crop (face_extraction's 256 px output, with margin) is first resized to `source_size` so
that its centred model region (`coverage` of its side) is about `input_size` pixels: every later
resampling is then close to 1:1 and needs no anti-aliasing. Training samples that region through a
random similarity transform (rotation, zoom, shift, flip) and, for the model's input only, through a
jittered grid (faceit's random warp) that the model must learn to undo. Everything runs on the
batch's device with `affine_grid`/`grid_sample`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor
from torch.nn import functional as F

# Defined with the other training settings (light, Pydantic only); imported here as augment_faces'.
from faceswap_pipeline.model.settings import AugmentationConfig

# faceit's random_warp moved a 5×5 grid over the 160 px region by N(0, 5 px): 5 / 80 in [-1, 1]
# units.
_FACEIT_WARP_STD = 5.0 / 80.0


def source_size(input_size: int, coverage: float) -> int:
    """Side, in pixels, to resize aligned crops to so that their model region is `input_size` px."""
    return int(round(input_size / coverage))


def _check_faces(faces: Tensor, name: str = "faces") -> None:
    if faces.ndim != 4 or faces.shape[-1] != faces.shape[-2] or not faces.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor (N, C, S, S) of square images, got "
            f"{tuple(faces.shape)} {faces.dtype}"
        )


def resize_faces(faces: Tensor, size: int) -> Tensor:
    """Resize faces to `size` × `size` (bilinear, anti-aliased when shrinking).

    Args:
        faces: float `(N, C, H, W)`, any channels and range; non-square faces are stretched.
        size: the new side in pixels.

    Returns:
        float `(N, C, size, size)`; `faces` itself when already that size.
    """
    if faces.ndim != 4 or not faces.is_floating_point():
        raise ValueError(
            f"faces must be a float tensor (N, C, H, W), got {tuple(faces.shape)} {faces.dtype}"
        )
    if faces.shape[-2:] == (size, size):
        return faces
    return F.interpolate(
        faces, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )


def _affine_grid(faces: Tensor, theta: Tensor, output_size: int) -> Tensor:
    return F.affine_grid(
        theta, [faces.shape[0], faces.shape[1], output_size, output_size], align_corners=False
    )


def _sample(faces: Tensor, grid: Tensor) -> Tensor:
    return F.grid_sample(faces, grid, mode="bilinear", padding_mode="border", align_corners=False)


@lru_cache(maxsize=16)
def _bicubic_weights(points: int, size: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """`(size, points)`: bicubic upsampling of `points` samples to `size` (align_corners) as a
    matrix.

    PyTorch's bicubic upsampling is separable, so upsampling a `(points, points)` grid is
    `W @ grid @ W.T`: the same values as `F.interpolate(..., mode="bicubic", align_corners=True)` up
    to float rounding, at a fraction of its cost on small grids (it was a third of the
    augmentation's time on a CPU).
    """
    basis = torch.eye(points, device=device, dtype=torch.float32)[:, None, :, None]
    columns = F.interpolate(
        basis.expand(points, 1, points, points),
        size=(size, size),
        mode="bicubic",
        align_corners=True,
    )
    return columns[:, 0, :, 0].T.contiguous().to(dtype)


def crop_model_region(faces: Tensor, input_size: int, coverage: float) -> Tensor:
    """The centred region of aligned faces that a swap model sees, at its input size.

    Args:
        faces: RGB (or RGB + extra channels) float `(N, C, S, S)` aligned crops, values in [0, 1].
        input_size: the model's input side (`ModelConfig.input_size`).
        coverage: fraction of the crop's side, centred, that the model sees
            (`ModelConfig.coverage`).

    Returns:
        float `(N, C, input_size, input_size)`: the region from `model_region_box`, resized.
    """
    _check_faces(faces)
    faces = resize_faces(faces, source_size(input_size, coverage))
    theta = torch.zeros(faces.shape[0], 2, 3, device=faces.device, dtype=faces.dtype)
    theta[:, 0, 0] = coverage
    theta[:, 1, 1] = coverage
    return _sample(faces, _affine_grid(faces, theta, input_size))


def model_region_box(crop_size: int, coverage: float) -> tuple[float, float, float, float]:
    """The model region in aligned-crop pixels, `(x0, y0, x1, y1)`, for pasting a swap back."""
    margin = crop_size * (1.0 - coverage) / 2.0
    return (margin, margin, crop_size - margin, crop_size - margin)


def augment_faces(
    faces: Tensor,
    input_size: int,
    coverage: float,
    config: AugmentationConfig,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """faceit's training augmentation on a batch: a random similarity transform, then a random warp.

    The transform (rotation, zoom, shift, flip) applies to input and target alike; the warp only to
    the input, so the model learns to produce an undistorted face from a distorted one.

    Args:
        faces: float `(N, C, S, S)` aligned crops, RGB in channels 0-2 in [0, 1]; extra channels
            (e.g. a loss-weight map) follow the same transform and are returned in the target only.
            Best at S = `source_size(input_size, coverage)` (any S works; it is resized).
        input_size: the model's input side in pixels.
        coverage: fraction of the crop's side, centred, that the model sees.
        config: the augmentation ranges; `strength=0` returns `crop_model_region` twice.
        generator: a torch generator on `faces.device` for reproducible batches; the global one if
            None.

    Returns:
        `(warped, target)`: warped RGB `(N, 3, input_size, input_size)` for the model's input and
        the target `(N, C, input_size, input_size)`, both float in the input's range.
    """
    _check_faces(faces)
    if faces.shape[1] < 3:
        raise ValueError(f"faces need RGB in channels 0-2, got {faces.shape[1]} channels")
    faces = resize_faces(faces, source_size(input_size, coverage))
    count, device, dtype = faces.shape[0], faces.device, faces.dtype
    strength = config.strength

    def uniform(limit: float) -> Tensor:
        values = torch.rand(count, device=device, generator=generator, dtype=torch.float32)
        return ((values * 2.0 - 1.0) * limit * strength).to(dtype)

    angle = uniform(math.radians(config.rotation_deg))
    scale = 1.0 + uniform(config.zoom)
    shift_x, shift_y = uniform(config.shift) * 2.0, uniform(config.shift) * 2.0
    flip_draw = torch.rand(count, device=device, generator=generator) < 0.5
    mirror = torch.where(flip_draw & (config.flip and strength > 0), -1.0, 1.0).to(
        device=device, dtype=dtype
    )

    # theta maps output coordinates to source coordinates: coverage · (R(angle) · diag(mirror, 1) /
    # scale · p + shift)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = (
        torch.stack(
            [
                torch.stack([cos * mirror, -sin, shift_x], dim=1),
                torch.stack([sin * mirror, cos, shift_y], dim=1),
            ],
            dim=1,
        )
        * coverage
    )
    grid = _affine_grid(faces, theta, input_size)
    target = _sample(faces, grid)

    warp_std = _FACEIT_WARP_STD * config.warp * strength
    if warp_std > 0:
        control = torch.randn(
            count, 2, config.warp_grid, config.warp_grid, device=device, generator=generator
        ).to(dtype) * (warp_std * coverage)
        weights = _bicubic_weights(config.warp_grid, input_size, device, dtype)
        # (N, 2, g, g) control points -> (N, S, S, 2) offsets, upsampled bicubically.
        offsets = torch.einsum("yi,ncij,xj->nyxc", weights, control, weights)
        warped = _sample(faces[:, :3], grid + offsets)
    else:
        warped = target[:, :3]
    return warped, target
