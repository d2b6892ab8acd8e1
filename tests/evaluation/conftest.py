"""Derived clips of `single_d18.mp4` for the evaluation tests (tests/helpers/derived_clips.py):
re-encoded as is, blurred, and shifted by known pixels.

Made once per session in a temporary folder (nothing is copied into the project). Also the dlib
identity references of two real people.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers.derived_clips import CLIP, shift, write_derived_clip
from tests.helpers.faces import largest_face_descriptors


@pytest.fixture(scope="session")
def d18(shared_videos: Path) -> Path:
    return shared_videos / CLIP


@pytest.fixture(scope="session")
def unswapped_clip(d18: Path, tmp_path_factory) -> Path:
    """The first frames of single_d18 re-encoded unchanged: what a conversion that swapped nothing
    writes."""
    return write_derived_clip(
        d18, tmp_path_factory.mktemp("evaluation") / "unswapped.mp4", lambda rgb: rgb
    )


@pytest.fixture(scope="session")
def blurred_clip(d18: Path, tmp_path_factory) -> Path:
    """The same frames blurred (Gaussian, sigma 4 px): what a swap that outputs a featureless oval
    looks like to the detail measure."""
    return write_derived_clip(
        d18,
        tmp_path_factory.mktemp("evaluation") / "blurred.mp4",
        lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 4.0),
    )


@pytest.fixture(scope="session")
def shifted_clip(d18: Path, tmp_path_factory) -> Path:
    """The same frames moved right and down by `SHIFT_PX`."""
    return write_derived_clip(d18, tmp_path_factory.mktemp("evaluation") / "shifted.mp4", shift)


@pytest.fixture(scope="session")
def identities(shared_videos: Path) -> dict[str, np.ndarray]:
    """References of the man in single_d18 (from later frames than the test clip) and of person B
    (d9)."""
    return {
        "d18": largest_face_descriptors(shared_videos / CLIP, start_s=3.0, count=3)[1],
        "d9": largest_face_descriptors(shared_videos / "person_b_d9.mp4", start_s=1.0, count=3)[1],
    }
