"""Derived clips of `single_d18.mp4` for the evaluation tests: re-encoded as is, and shifted by known pixels.

Made once per session in a temporary folder with the project's own H.264 writer (nothing is copied
into the project). Also the dlib identity references of two real people.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.encode import VideoWriter

CLIP = "single_d18.mp4"
CLIP_FRAMES = 36
CLIP_END_S = CLIP_FRAMES / 30.0 - 0.01  # single_d18 is 30 fps: the first 36 frames
SHIFT_PX = (12.0, 5.0)


def write_derived_clip(source: Path, output: Path, transform: Callable[[np.ndarray], np.ndarray]) -> Path:
    """Write the first `CLIP_FRAMES` frames of `source`, each passed through `transform`, as H.264."""
    frames = list(iter_frames(source, end_s=CLIP_END_S))
    height, width = frames[0].rgb.shape[:2]
    with VideoWriter(output, width=width, height=height, frame_rate=30, crf=14, preset="veryfast") as writer:
        for frame in frames:
            writer.write(transform(frame.rgb), frame.time_s)
    return output


def shift(rgb: np.ndarray, dx: float = SHIFT_PX[0], dy: float = SHIFT_PX[1]) -> np.ndarray:
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(rgb, matrix, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="session")
def d18(shared_videos: Path) -> Path:
    return shared_videos / CLIP


@pytest.fixture(scope="session")
def unswapped_clip(d18: Path, tmp_path_factory) -> Path:
    """The first frames of single_d18 re-encoded unchanged: what a conversion that swapped nothing writes."""
    return write_derived_clip(d18, tmp_path_factory.mktemp("evaluation") / "unswapped.mp4", lambda rgb: rgb)


@pytest.fixture(scope="session")
def blurred_clip(d18: Path, tmp_path_factory) -> Path:
    """The same frames blurred (Gaussian, sigma 4 px): what a swap that outputs a featureless oval looks
    like to the detail measure."""
    return write_derived_clip(
        d18, tmp_path_factory.mktemp("evaluation") / "blurred.mp4",
        lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 4.0),
    )


@pytest.fixture(scope="session")
def shifted_clip(d18: Path, tmp_path_factory) -> Path:
    """The same frames moved right and down by `SHIFT_PX`."""
    return write_derived_clip(d18, tmp_path_factory.mktemp("evaluation") / "shifted.mp4", shift)


def descriptors_of(video: Path, start_s: float, count: int) -> np.ndarray:
    """dlib descriptors of the largest face in `count` frames of `video` from `start_s`, 1 s apart."""
    detector = RetinaFaceDetector(det_size=320)
    descriptors = []
    for frame in iter_frames(video, start_s=start_s, sample_fps=1.0):
        found = detector.detect([frame.rgb])[0]
        if len(found):
            descriptors.append(face_descriptor(frame.rgb, landmarks68(frame.rgb, found.boxes[0])))
        if len(descriptors) == count:
            break
    return np.stack(descriptors)


@pytest.fixture(scope="session")
def identities(shared_videos: Path) -> dict[str, np.ndarray]:
    """References of the man in single_d18 (from later frames than the test clip) and of person B (d9)."""
    return {
        "d18": descriptors_of(shared_videos / CLIP, start_s=3.0, count=3),
        "d9": descriptors_of(shared_videos / "person_b_d9.mp4", start_s=1.0, count=3),
    }
