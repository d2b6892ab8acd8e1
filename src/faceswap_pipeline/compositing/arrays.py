"""Checking the small arrays that compositing takes (landmarks, affine matrices) in one way."""

from __future__ import annotations

import numpy as np


def finite_array(value, shape: tuple[int, ...], name: str, what: str) -> np.ndarray:
    """`value` as a float64 array of `shape` (a flat array of the same size is reshaped).

    Raises:
        ValueError: ``<name> must be <what>, got shape ...`` when the shape differs or a value is
            not finite.
    """
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1 and array.size == int(np.prod(shape)):
        array = array.reshape(shape)
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be {what}, got shape {array.shape}")
    return array
