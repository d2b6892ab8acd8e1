"""Colour transfer: make the swapped face's colours match the original face region they replace.

Every method has the same signature, `transfer(source, target, mask) -> source recoloured`; pick one
by name with `get_colour_transfer`. Statistics are taken only where `mask > 0.5`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

ColourTransfer = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
DEFAULT_COLOUR_TRANSFER = "reinhard_lab"
# Fewer masked pixels than this carry no reliable statistics: the source is returned unchanged.
_MIN_PIXELS = 16
# The most `reinhard_lab` widens a channel's spread. Lighting changes contrast by less; a larger
# ratio comes from what one face has and the other has not (glasses' coloured reflections, an open
# mouth where the drawn one is closed, a pale face under warm light): widened 2-4x, the drawn face's
# slight blues became purple eyes and mouths (d12→d18, b channel 1.8-3.9x). Narrowing is not capped.
MAX_SPREAD_GAIN = 1.5


def reinhard_lab(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the mean and standard deviation of each LAB channel (Reinhard et al. 2001), widening
    a channel's spread by at most `MAX_SPREAD_GAIN`.

    Args:
        source: (H, W, 3) uint8 RGB, the image to recolour (the swapped face).
        target: (H, W, 3) uint8 RGB, the image whose colours to match (the original frame region).
        mask: (H, W) float or bool; statistics come from the pixels where mask > 0.5 in both images.

    Returns:
        (H, W, 3) uint8 RGB: `source` recoloured (every pixel is transformed; blending decides which
        are used).
    """
    selected = _check(source, target, mask)
    if selected is None:
        return source.copy()
    source_lab = cv2.cvtColor(source, cv2.COLOR_RGB2LAB)
    target_lab = cv2.cvtColor(target, cv2.COLOR_RGB2LAB)
    # OpenCV's masked statistics and per-channel affine map: one pass each over the 8-bit images.
    selected_u8 = selected.view(np.uint8)
    source_mean, source_std = (v.ravel() for v in cv2.meanStdDev(source_lab, mask=selected_u8))
    target_mean, target_std = (v.ravel() for v in cv2.meanStdDev(target_lab, mask=selected_u8))
    # A flat source channel has no spread to scale: only shift it.
    scale = np.where(source_std > 1e-3, target_std / np.maximum(source_std, 1e-3), 1.0)
    scale = np.minimum(scale, MAX_SPREAD_GAIN)
    # new = (old - source_mean) * scale + target_mean, rounded and saturated to 0..255.
    affine = np.zeros((3, 4))
    affine[np.arange(3), np.arange(3)] = scale
    affine[:, 3] = target_mean - source_mean * scale
    return cv2.cvtColor(cv2.transform(source_lab, affine), cv2.COLOR_LAB2RGB)


def histogram_match(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match each RGB channel's histogram (the cumulative distribution) to the target's.

    Args and Returns: as `reinhard_lab`.
    """
    selected = _check(source, target, mask)
    if selected is None:
        return source.copy()
    levels = np.arange(256, dtype=np.float64)
    recoloured = np.empty_like(source)
    for channel in range(3):
        source_cdf = _cdf(source[..., channel][selected])
        target_cdf = _cdf(target[..., channel][selected])
        # For each source level, the target level at the same cumulative fraction.
        lookup = np.interp(source_cdf, target_cdf, levels)
        recoloured[..., channel] = np.round(lookup).astype(np.uint8)[source[..., channel]]
    return recoloured


def no_transfer(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Leave the colours as the model made them (a copy of `source`)."""
    _check(source, target, mask)
    return source.copy()


COLOUR_TRANSFERS: dict[str, ColourTransfer] = {
    "reinhard_lab": reinhard_lab,
    "histogram": histogram_match,
    "none": no_transfer,
}


def get_colour_transfer(name: str) -> ColourTransfer:
    """The colour transfer called `name` (one of `COLOUR_TRANSFERS`)."""
    try:
        return COLOUR_TRANSFERS[name]
    except KeyError:
        raise ValueError(
            f"unknown colour transfer {name!r}; choose one of {sorted(COLOUR_TRANSFERS)}"
        ) from None


def _cdf(values: np.ndarray) -> np.ndarray:
    counts = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    cdf = np.cumsum(counts)
    return cdf / cdf[-1]


def _check(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    for name, image in (("source", source), ("target", target)):
        if (
            not isinstance(image, np.ndarray)
            or image.dtype != np.uint8
            or image.ndim != 3
            or image.shape[2] != 3
        ):
            got = (
                f"{image.dtype} {image.shape}"
                if isinstance(image, np.ndarray)
                else type(image).__name__
            )
            raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {got}")
    if source.shape != target.shape or np.shape(mask) != source.shape[:2]:
        raise ValueError(
            f"source {source.shape}, target {target.shape} and mask {np.shape(mask)} must share"
            " (H, W)"
        )
    selected = np.asarray(mask) > 0.5
    return selected if int(selected.sum()) >= _MIN_PIXELS else None
