"""Face quality measures used to reject crops: sharpness (variance of the Laplacian) and size."""

from __future__ import annotations

import cv2
import numpy as np


def grey_laplacian(image: np.ndarray) -> np.ndarray:
    """The Laplacian of the grey image: ``(H, W)`` float64 (sharpness's raw material).

    Args:
        image: ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            "the Laplacian takes an (H, W, 3) or (H, W) uint8 image, got "
            f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
        )
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.Laplacian(grey, cv2.CV_64F)


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
    laplacian = grey_laplacian(image)
    if mask is None:
        return float(laplacian.var())
    if mask.shape != laplacian.shape:
        raise ValueError(f"mask must be {laplacian.shape} like the image, got {mask.shape}")
    selected = laplacian[mask.astype(bool)]
    return float(selected.var()) if selected.size else float("nan")


def face_size(box: np.ndarray) -> float:
    """A face's size in frame pixels: the shorter side of its ``x0, y0, x1, y1`` box."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64).reshape(4)
    return float(min(x1 - x0, y1 - y0))
