"""Clips derived from the first frames of `single_d18.mp4` for the evaluation tests: re-encoded as
is, blurred, or shifted by known pixels, with the project's own H.264 writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.encode import VideoWriter

CLIP = "single_d18.mp4"
CLIP_FRAMES = 36
CLIP_END_S = CLIP_FRAMES / 30.0 - 0.01  # single_d18 is 30 fps: the first 36 frames
SHIFT_PX = (12.0, 5.0)


def write_derived_clip(
    source: Path, output: Path, transform: Callable[[np.ndarray], np.ndarray]
) -> Path:
    """Write the first `CLIP_FRAMES` frames of `source`, each passed through `transform`, as
    H.264."""
    frames = list(iter_frames(source, end_s=CLIP_END_S))
    height, width = frames[0].rgb.shape[:2]
    with VideoWriter(
        output, width=width, height=height, frame_rate=30, crf=14, preset="veryfast"
    ) as writer:
        for frame in frames:
            writer.write(transform(frame.rgb), frame.time_s)
    return output


def shift(rgb: np.ndarray, dx: float = SHIFT_PX[0], dy: float = SHIFT_PX[1]) -> np.ndarray:
    """`(H, W, 3)` uint8 moved right by `dx` and down by `dy` pixels (edges replicated)."""
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    size = (rgb.shape[1], rgb.shape[0])
    return cv2.warpAffine(rgb, matrix, size, borderMode=cv2.BORDER_REPLICATE)
