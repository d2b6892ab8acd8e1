"""Clips derived from the first frames of the shared clips: re-encoded as is, blurred, or shifted by
known pixels, with the project's own H.264 writer (the evaluation tests), or stored sideways as a
phone stores them (the tests of turned videos)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.encode import VIDEO_TIME_BASE, VideoWriter

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


def write_phone_clip(source: Path, output: Path, rotation_deg: int, end_s: float) -> Path:
    """Write `source`'s frames before `end_s` as a phone does: each picture stored turned
    `rotation_deg` counter-clockwise, with a display matrix that tells players to turn it back
    `rotation_deg` clockwise (0, 90, 180 or 270), the source's time stamps and the source's audio
    of that span copied.
    H.264 at crf 14, so that the clip of rotation 0 is the one to compare against."""
    frames = list(iter_frames(source, end_s=end_s))
    stored = [np.ascontiguousarray(np.rot90(frame.rgb, k=rotation_deg // 90)) for frame in frames]
    with av.open(str(source)) as audio_input, av.open(str(output), mode="w") as container:
        video = container.add_stream("libx264", rate=30)
        video.time_base = video.codec_context.time_base = VIDEO_TIME_BASE
        video.height, video.width = stored[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "14"}
        video.set_display_rotation(-rotation_deg)  # PyAV's angle is counter-clockwise
        audio = None
        if audio_input.streams.audio:
            audio = container.add_stream_from_template(audio_input.streams.audio[0])
        for frame, picture in zip(frames, stored, strict=True):
            encoded = av.VideoFrame.from_ndarray(picture, format="rgb24")
            encoded.pts, encoded.time_base = round(frame.time_s / VIDEO_TIME_BASE), VIDEO_TIME_BASE
            for packet in video.encode(encoded):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if audio is not None:
            for packet in audio_input.demux(audio_input.streams.audio[0]):
                if packet.pts is None or packet.pts * packet.time_base >= end_s:
                    continue
                packet.stream = audio
                container.mux(packet)
    return output
