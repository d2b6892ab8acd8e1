"""Checking the arrays the library takes (RGB images, landmarks, affine matrices) in one way, so
that every bad input fails with the same kind of message: what was expected, and what came."""

from __future__ import annotations

import numpy as np


def describe_array(value) -> str:
    """An array's dtype and shape (or anything else's type), for error messages."""
    return f"{getattr(value, 'dtype', type(value))} {getattr(value, 'shape', '')}".rstrip()


def is_rgb_image(value) -> bool:
    """Whether `value` is an ``(H, W, 3)`` uint8 array."""
    return (
        isinstance(value, np.ndarray)
        and value.dtype == np.uint8
        and value.ndim == 3
        and value.shape[2] == 3
    )


def require_rgb_image(value, expected: str, error: type[Exception] = ValueError) -> np.ndarray:
    """`value` when it is an ``(H, W, 3)`` uint8 array.

    Raises:
        error: ``<expected>, got <dtype> <shape>`` otherwise.
    """
    if not is_rgb_image(value):
        raise error(f"{expected}, got {describe_array(value)}")
    return value


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
