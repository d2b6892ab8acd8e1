"""Temporal smoothing of landmarks: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012).

A low-pass filter whose cut-off rises with speed: a still face is smoothed hard (no jitter), a
moving one lightly (little lag). Causal, so it runs on a stream with no look-ahead.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_MIN_CUTOFF_HZ = 0.7
DEFAULT_BETA = 3.0
DEFAULT_DERIVATIVE_CUTOFF_HZ = 1.0


def _alpha(cutoff_hz: float, dt_s: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """Smooths a fixed-shape array of coordinates over time.

    Args:
        min_cutoff_hz: cut-off frequency for a still signal (lower: smoother, more lag when it
            starts).
        beta: how fast the cut-off rises with speed, in Hz per (scale per second): with `scale` the
            face's size, a face moving half its size per second gets a cut-off `beta / 2` Hz higher.
        derivative_cutoff_hz: cut-off of the speed estimate itself.
    """

    def __init__(
        self,
        min_cutoff_hz: float = DEFAULT_MIN_CUTOFF_HZ,
        beta: float = DEFAULT_BETA,
        derivative_cutoff_hz: float = DEFAULT_DERIVATIVE_CUTOFF_HZ,
    ) -> None:
        if min_cutoff_hz <= 0 or derivative_cutoff_hz <= 0 or beta < 0:
            raise ValueError(
                "smoothing needs min_cutoff_hz > 0, derivative_cutoff_hz > 0 and beta >= 0, got "
                f"{min_cutoff_hz}, {derivative_cutoff_hz} and {beta}"
            )
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.derivative_cutoff_hz = derivative_cutoff_hz
        self._previous: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time_s: float | None = None

    def __call__(self, values: np.ndarray, time_s: float, scale: float = 1.0) -> np.ndarray:
        """Filter one sample.

        Args:
            values: float array, the same shape every call (e.g. (73, 2) landmark pixels).
            time_s: the sample's time in seconds, increasing.
            scale: the signal's size (e.g. the face's size in pixels), so that `beta` means the same
                for small and large faces (> 0).

        Returns:
            The smoothed values, float64, same shape.
        """
        values = np.asarray(values, dtype=np.float64)
        if self._previous is None or self._time_s is None or time_s <= self._time_s:
            self._previous, self._speed, self._time_s = values, np.zeros_like(values), time_s
            return values
        if values.shape != self._previous.shape:
            raise ValueError(f"OneEuroFilter got shape {values.shape} after {self._previous.shape}")
        dt_s = time_s - self._time_s
        speed = (values - self._previous) / dt_s
        self._speed = self._speed + _alpha(self.derivative_cutoff_hz, dt_s) * (speed - self._speed)
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self._speed) / max(scale, 1e-6)
        tau = 1.0 / (2.0 * np.pi * cutoff)
        alpha = 1.0 / (1.0 + tau / dt_s)
        smoothed = self._previous + alpha * (values - self._previous)
        self._previous, self._time_s = smoothed, time_s
        return smoothed
