"""Reconstruction losses: L1 plus SSIM (Wang et al. 2004), optionally weighted towards eyes and
mouth."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

# 68-point (iBUG 300-W) landmark indices of the regions a viewer judges a face by.
_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_MOUTH = slice(48, 68)


def _gaussian_kernel(size: int, sigma: float, device, dtype) -> Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2.0
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def ssim_map(x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-pixel SSIM of two image batches (Gaussian window, Wang et al. 2004 constants).

    Args:
        x, y: float `(N, C, H, W)` in [0, 1], same shape; H, W >= `window_size`.
        window_size, sigma: the Gaussian window.

    Returns:
        float `(N, C, H', W')` with H' = H - window_size + 1 (valid convolution), values in [-1, 1].
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(
            f"ssim needs two (N, C, H, W) batches of one shape, got {tuple(x.shape)} and"
            f" {tuple(y.shape)}"
        )
    if min(x.shape[-2:]) < window_size:
        raise ValueError(
            f"images must be at least {window_size} px for SSIM, got {tuple(x.shape[-2:])}"
        )
    # Statistics in float32 even under bf16 autocast: the variance terms cancel badly in low
    # precision (bf16 blurs gave variances below -c2, so an infinite loss, on the hires model at
    # step 0). `.float()` alone is not enough: autocast would cast the blur's convolutions back to
    # bf16.
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _ssim_map_float32(x.float(), y.float(), window_size, sigma)


def _ssim_map_float32(x: Tensor, y: Tensor, window_size: int, sigma: float) -> Tensor:
    channels = x.shape[1]
    # The five local statistics in one separable blur (two 1-D passes): ~5x faster than 2-D windows.
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    kernel = _gaussian_kernel(window_size, sigma, x.device, x.dtype)
    groups = stacked.shape[1]
    blurred = F.conv2d(stacked, kernel.view(1, 1, -1, 1).expand(groups, 1, -1, 1), groups=groups)
    blurred = F.conv2d(blurred, kernel.view(1, 1, 1, -1).expand(groups, 1, 1, -1), groups=groups)
    mu_x, mu_y, xx, yy, xy = blurred.split(channels, dim=1)
    sigma_x = xx - mu_x**2
    sigma_y = yy - mu_y**2
    sigma_xy = xy - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2)
    )


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Mean SSIM per image: float `(N,)`, 1 = identical (inputs as in `ssim_map`)."""
    return ssim_map(x, y).mean(dim=(1, 2, 3))


def image_gradients(images: Tensor) -> tuple[Tensor, Tensor]:
    """Differences to the next pixel across and down: `(N, C, H, W-1)` and `(N, C, H-1, W)`."""
    return images[..., :, 1:] - images[..., :, :-1], images[..., 1:, :] - images[..., :-1, :]


def gradient_loss(prediction: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Mean L1 between the image gradients of `prediction` and `target`, weighted per pixel.

    A blur loses its edges, so it costs here what L1 and SSIM, which a blur satisfies on flat
    skin, barely charge (the "anti-blur" term of DeepFaceLab's and others' recipes).

    Args:
        prediction, target: float `(N, C, H, W)`.
        weights: float `(N, 1, H, W)`, mean 1.
    """
    across, down = image_gradients(prediction)
    across_wanted, down_wanted = image_gradients(target)
    # Each difference is weighted by the pixel it ends on.
    across_term = ((across - across_wanted).abs() * weights[..., :, 1:]).mean()
    down_term = ((down - down_wanted).abs() * weights[..., 1:, :]).mean()
    return (across_term + down_term) / 2


def reconstruction_loss(
    prediction: Tensor,
    target: Tensor,
    weight_map: Tensor | None = None,
    ssim_weight: float = 0.5,
    gradient_weight: float = 0.0,
) -> Tensor:
    """L1 plus a structural term: `(1 - ssim_weight) · L1 + ssim_weight · (1 - SSIM) / 2`, plus
    `gradient_weight · gradient_loss` when it is above 0.

    Args:
        prediction, target: RGB float `(N, 3, H, W)` in [0, 1].
        weight_map: optional float `(N, 1, H, W)` per-pixel weights (e.g. `landmark_weight_map`),
            applied to every term and normalised by its mean, so the loss keeps its scale.
        ssim_weight: share of the SSIM term, in [0, 1].
        gradient_weight: weight of the image-gradient term (`gradient_loss`), >= 0.

    Returns:
        A scalar tensor (float32).
    """
    if not 0.0 <= ssim_weight <= 1.0:
        raise ValueError(f"ssim_weight must be in [0, 1], got {ssim_weight}")
    if gradient_weight < 0:
        raise ValueError(f"gradient_weight must be >= 0, got {gradient_weight}")
    prediction, target = prediction.float(), target.float()
    l1 = (prediction - target).abs()
    if weight_map is None:
        weights = torch.ones_like(l1[:, :1])
    else:
        weights = weight_map.float() / weight_map.float().mean(
            dim=(1, 2, 3), keepdim=True
        ).clamp_min(1e-6)
    l1_term = (l1 * weights).mean()
    edges = (
        gradient_weight * gradient_loss(prediction, target, weights) if gradient_weight > 0 else 0.0
    )
    if ssim_weight == 0:
        return l1_term + edges
    structural = (1.0 - ssim_map(prediction, target)) / 2.0
    offset = (weights.shape[-1] - structural.shape[-1]) // 2
    cropped = weights[
        ..., offset : offset + structural.shape[-2], offset : offset + structural.shape[-1]
    ]
    structural_term = (structural * cropped).mean()
    return (1.0 - ssim_weight) * l1_term + ssim_weight * structural_term + edges


def landmark_region_mask(landmarks68: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    """A mask of the eyes and mouth from 68 landmarks: each region's convex hull, enlarged 1.5×
    about its centre so that lids, lashes and lip edges count too.

    Args:
        landmarks68: float `(68, 2)` (or 136 flat) x, y points in aligned-crop pixels.
        size: side of the mask in pixels.
        scale: factor from landmark pixels to mask pixels (mask side / crop side).

    Returns:
        float32 `(size, size)` with 1 inside the eyes and mouth, 0 elsewhere.
    """
    points = np.asarray(landmarks68, dtype=np.float32).reshape(-1, 2)
    if points.shape != (68, 2):
        raise ValueError(
            f"landmarks68 must hold 68 (x, y) points, got shape {np.shape(landmarks68)}"
        )
    mask = np.zeros((size, size), dtype=np.uint8)
    if not np.isfinite(points).all():
        return mask.astype(np.float32)
    points = points * scale
    for region in (_LEFT_EYE, _RIGHT_EYE, _MOUTH):
        region_points = points[region]
        centre = region_points.mean(axis=0)
        enlarged = centre + (region_points - centre) * 1.5
        # cv2 draws with fixed-point coordinates: 4 fractional bits keep sub-pixel placement.
        hull = cv2.convexHull(np.round(enlarged * 16).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(np.float32)
