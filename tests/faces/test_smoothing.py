"""The One Euro filter: steadies a still face, follows a moving one."""

from __future__ import annotations

import numpy as np
import pytest

from faceswap_pipeline.faces.smoothing import OneEuroFilter


def test_jitter_on_a_still_face_is_reduced():
    rng = np.random.default_rng(0)
    smoother = OneEuroFilter()
    still = np.full((73, 2), 200.0)
    outputs = [
        smoother(still + rng.normal(0, 1.5, still.shape), i / 30, scale=200) for i in range(120)
    ]
    jitter_in = 1.5
    jitter_out = np.std(np.stack(outputs[30:]) - still)
    assert jitter_out < jitter_in / 3


def test_a_fast_move_is_followed_without_long_lag():
    smoother = OneEuroFilter()
    times = np.arange(60) / 30
    # The face moves half its size (100 px) per second for one second, then stops.
    positions = np.minimum(times, 1.0) * 100
    outputs = [
        smoother(np.array([[p, 0.0]]), t, scale=200)[0, 0]
        for p, t in zip(positions, times, strict=True)
    ]
    assert abs(outputs[29] - positions[29]) < 10  # under 5 % of a face size behind while moving
    assert outputs[-1] == pytest.approx(100, abs=3)  # and settles where the face stopped


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="min_cutoff_hz"):
        OneEuroFilter(min_cutoff_hz=0)
