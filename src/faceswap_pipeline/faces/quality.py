"""Face quality measures: sharpness (the Laplacian, raw or as a share of the contrast), size."""

from __future__ import annotations

import cv2
import numpy as np


def _grey(image: np.ndarray) -> np.ndarray:
    """The grey ``(H, W)`` uint8 picture of an ``(H, W, 3)`` uint8 RGB (or grey) image."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            "the Laplacian takes an (H, W, 3) or (H, W) uint8 image, got "
            f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
        )
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def grey_laplacian(image: np.ndarray) -> np.ndarray:
    """The Laplacian of the grey image: ``(H, W)`` float64 (sharpness's raw material).

    Args:
        image: ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey).
    """
    return cv2.Laplacian(_grey(image), cv2.CV_64F)


def _selected(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The values where `mask` is set (all of them without one)."""
    if mask is None:
        return values.ravel()
    if mask.shape != values.shape:
        raise ValueError(f"mask must be {values.shape} like the image, got {mask.shape}")
    return values[mask.astype(bool)]


def laplacian_variance(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sharpness: the variance of the Laplacian of the grey image (Pech-Pacheco et al. 2000).

    Measure it on aligned crops of one size, so that values compare across faces (a blurred or
    up-scaled face scores low; a sharp 256 px face scores in the hundreds).

    Args:
        image: ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey).
        mask: optional ``(H, W)`` bool: only these pixels' Laplacian counts (NaN when none is set).

    Returns:
        The variance, >= 0.
    """
    selected = _selected(grey_laplacian(image), mask)
    return float(selected.var()) if selected.size else float("nan")


def laplacian_share(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sharpness whatever the contrast: the variance of the grey image's Laplacian over the variance
    of the grey image itself, the share of the picture's contrast that lies in its finest structure.

    Scaling the grey levels about their mean (lighter make-up, flatter light, a colour transfer that
    widens or narrows the spread) scales both variances alike and leaves the share as it was; a
    blur takes far more from the Laplacian's than from the picture's. So two sharp faces of one
    size score alike however much contrast each has (`laplacian_variance` on the shared clips'
    faces at 40 px: d6 4.3x d18; this share: 1.3x), and a blurred one scores low beside either.

    Args:
        image: ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey).
        mask: optional ``(H, W)`` bool: only these pixels count.

    Returns:
        The share, >= 0: 0 for a flat region (no contrast: no detail), NaN when the mask selects
        nothing.
    """
    grey = _grey(image)
    laplacian = _selected(cv2.Laplacian(grey, cv2.CV_64F), mask)
    if not laplacian.size:
        return float("nan")
    contrast = _selected(grey.astype(np.float64), mask).var()
    return float(laplacian.var() / contrast) if contrast > 1e-6 else 0.0


def face_size(box: np.ndarray) -> float:
    """A face's size in frame pixels: the shorter side of its ``x0, y0, x1, y1`` box."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64).reshape(4)
    return float(min(x1 - x0, y1 - y0))
