"""Clips in the containers and audio people's videos come in besides an MP4 with one AAC track,
from the shared clips: an AVI of Motion JPEG and PCM (a camera's or an old editor's export), a
Matroska of several audio tracks (a film's languages), PCM at a studio's sample rate, and a TV
recording's MPEG-TS, whose clock starts an hour in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from faceswap_pipeline.video.decode import iter_frames


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream to write: its codec, sample rate (Hz), channel layout and language tag."""

    codec: str
    rate: int
    layout: str = "stereo"
    language: str | None = None


def write_clip_with_audio(  # noqa: PLR0913  # the clip's video, its tracks and its clock
    source: Path,
    output: Path,
    end_s: float,
    tracks: Sequence[AudioTrack],
    video_codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    clock_start_s: int = 0,
) -> Path:
    """Write `source`'s frames before `end_s` (at its frame rate) and its first audio track's sound
    of that span once per entry of `tracks`, each converted to that track's codec, rate and
    layout; the container is `output`'s suffix (.avi, .mkv, .mov, .ts). `clock_start_s`: every
    time stamp that many seconds later, as a broadcast recording's MPEG-TS starts anywhere on its
    clock (`.ts` only: other muxers move the start back to 0)."""
    frames = list(iter_frames(source, end_s=end_s))
    with av.open(str(source)) as audio_input:
        rate = Fraction(audio_input.streams.video[0].average_rate).limit_denominator(1000)
        sound = [frame for frame in audio_input.decode(audio=0) if frame.time < end_s]
    height, width = frames[0].rgb.shape[:2]
    # mpegts_copyts: the time stamps as given, not moved to start at the muxer's own delay.
    options = {"mpegts_copyts": "1"} if clock_start_s else {}
    with av.open(str(output), mode="w", options=options) as container:
        video = container.add_stream(video_codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        streams = []
        for track in tracks:
            stream = container.add_stream(track.codec, rate=track.rate)
            stream.layout = track.layout
            if track.language:
                stream.metadata["language"] = track.language
            streams.append(stream)
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame.rgb, format="rgb24")
            # One tick of 1 / rate each: a constant rate, as AVI needs.
            picture.pts, picture.time_base = index + round(clock_start_s * rate), 1 / rate
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        for stream in streams:
            samples = 0
            for frame in sound:
                # A fresh copy of each decoded frame: PyAV converts it to the stream's format.
                copy = av.AudioFrame.from_ndarray(
                    frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name
                )
                copy.sample_rate = frame.sample_rate
                copy.pts = samples + clock_start_s * frame.sample_rate
                copy.time_base = Fraction(1, frame.sample_rate)
                samples += frame.samples
                for packet in stream.encode(copy):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    return output


def write_broadcast_recording(source: Path, output: Path) -> Path:
    """`source`'s first 4 s as a TV recording stores them: MPEG-TS (`output` ends in .ts) with MP2
    audio at 48 kHz, its clock starting an hour in."""
    return write_clip_with_audio(
        source, output, 4.0, [AudioTrack("mp2", 48000)], clock_start_s=3600
    )


def audio_rms(path: Path, stream_index: int = 0) -> float:
    """Root mean square of every sample of `path`'s audio stream `stream_index` (full scale 1)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[stream_index]
        resampler = av.AudioResampler(format="flt", layout="mono")
        samples = [
            converted.to_ndarray().ravel()
            for frame in container.decode(stream)
            for converted in resampler.resample(frame)
        ]
    return float(np.sqrt(np.mean(np.concatenate(samples) ** 2)))
