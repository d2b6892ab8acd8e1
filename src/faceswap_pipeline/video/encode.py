"""Encode RGB frames to H.264 with the source's time stamps and a trimmed copy of its audio (PyAV).

`VideoWriter` writes to a temporary name in the output folder and renames it into place only when
the whole file is complete, so a crash or an error never leaves a half-written video at the final
path. Frame-level helpers (`resize_frame`, `side_by_side`) and a GIF writer live here too.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import cv2
import numpy as np
from PIL import Image

from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.video.probe import clock_origin_s

logger = logging.getLogger(__name__)

# A fine time base (the MPEG-TS clock): every source time stamp to within 11 µs, so a variable
# frame rate survives the round trip.
VIDEO_TIME_BASE = Fraction(1, 90_000)
DEFAULT_CRF = 20
DEFAULT_PRESET = "veryfast"
# FFmpeg's codes for BT.709 (AVColorSpace, AVColorPrimaries, AVColorTransferCharacteristic are 1)
# and limited ("tv") range.
_BT709, _LIMITED_RANGE = 1, 1
# Audio codecs that an MP4/MOV container stores as they are; anything else is re-encoded to AAC.
_MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
_MP4_FORMATS = frozenset({".mp4", ".m4v", ".mov"})
# The AAC encoder takes channels in a named order only; a source whose channels have none (an
# AVI's PCM says "2 channels") is encoded in FFmpeg's default order for its count.
_DEFAULT_LAYOUTS = {
    1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"
}  # fmt: skip
# Stream tags worth keeping on a re-encoded audio track (a film's tracks by language).
_AUDIO_TAGS = ("language", "title")


class OutputNotWritableError(FaceswapError, PermissionError):
    """The output folder cannot be created or written."""


def check_output_writable(output_path: str | os.PathLike) -> Path:
    """Make sure a file can be created in `output_path`'s folder (creating the folder if missing).

    Args:
        output_path: the file that will be written.

    Returns:
        The absolute output path.

    Raises:
        OutputNotWritableError: naming the folder and what to do.
    """
    path = Path(output_path).absolute()
    folder = path.parent
    probe = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.probe"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write the output {path}: its folder {folder} is not writable"
            f" ({error.strerror}); choose another output folder or fix its permissions"
        ) from error
    return path


def _temporary_sibling(path: Path) -> Path:
    """A hidden name beside `path` with the same suffix (so the muxer still guesses the format)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


def even_size(width: int, height: int) -> tuple[int, int]:
    """Round a frame size down to even numbers, as H.264 in yuv420p requires (minimum 2×2)."""
    return max(2, width - width % 2), max(2, height - height % 2)


def output_size(
    source_width: int, source_height: int, width: int | None = None, height: int | None = None
) -> tuple[int, int]:
    """The frame size to encode: the requested one, the other side from the aspect ratio, even.

    Args:
        source_width, source_height: the source frame size in pixels.
        width, height: the requested size; either may be None (keep the aspect ratio), both None
            keeps the source size.

    Returns:
        (width, height), both even and at least 2.
    """
    if source_width <= 0 or source_height <= 0:
        raise ValueError(f"source size must be positive, got {source_width}x{source_height}")
    for name, value in (("width", width), ("height", height)):
        if value is not None and value < 2:
            raise ValueError(f"output {name} must be at least 2 pixels, got {value}")
    if width is None and height is None:
        width, height = source_width, source_height
    elif width is None:
        width = round(source_width * height / source_height)
    elif height is None:
        height = round(source_height * width / source_width)
    return even_size(int(width), int(height))


def resize_frame(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGB frame to exactly `width`×`height` (area filter when shrinking).

    Args:
        rgb: (H, W, 3) uint8 RGB.
        width, height: the target size in pixels.

    Returns:
        (height, width, 3) uint8 RGB, contiguous; `rgb` itself when the size already matches.
    """
    _check_rgb(rgb, "rgb")
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    shrinking = width * height < rgb.shape[0] * rgb.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=interpolation))


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Put two RGB frames of the same size next to each other (original | swapped).

    Args:
        left, right: (H, W, 3) uint8 RGB of equal shape.

    Returns:
        (H, 2W, 3) uint8 RGB.
    """
    _check_rgb(left, "left")
    _check_rgb(right, "right")
    if left.shape != right.shape:
        raise ValueError(
            f"side_by_side needs frames of equal shape, got {left.shape} and {right.shape}"
        )
    return np.concatenate([left, right], axis=1)


def _check_rgb(rgb: np.ndarray, name: str) -> None:
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
    ):
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {got}")


class _AudioCopy:
    """Muxes one audio stream of the source for [start_s, end_s) into the output, interleaved with
    the video.

    Packets are copied without re-encoding when the output container can hold the codec; a packet is
    kept when its middle lies in the span, so each end is within half a packet (~12 ms for AAC at
    44.1 kHz) of the requested time. Otherwise the audio is decoded and re-encoded to AAC (in a
    channel order and sample rate AAC takes; its language and title kept).
    """

    def __init__(  # noqa: PLR0913  # the span and clock of the writer it serves
        self,
        source: Path,
        stream_index: int,
        output: av.container.OutputContainer,
        output_suffix: str,
        start_s: float | None,
        end_s: float | None,
        origin_s: float,
    ) -> None:
        self._input = av.open(str(source))
        self._source_stream = self._input.streams.audio[stream_index]
        self._start_s = start_s
        self._end_s = end_s
        self._origin_s = origin_s
        # Source times count from the file's start, as `iter_frames` gives the video's.
        self._clock_origin_s = clock_origin_s(self._input)
        context = self._source_stream.codec_context
        self._copy = output_suffix.lower() not in _MP4_FORMATS or context.name in _MP4_AUDIO_CODECS
        if self._copy:
            self.stream = output.add_stream_from_template(self._source_stream)
        else:
            layout, rate = _aac_layout(context.layout), _aac_rate(context.sample_rate)
            logger.info(
                "re-encoding %s audio of %s to AAC (%s, %d Hz) for the output container",
                context.name,
                source,
                layout,
                rate,
            )
            # PyAV's encoder converts each decoded frame to the stream's layout, rate and format.
            self.stream = output.add_stream("aac", rate=rate)
            self.stream.layout = layout
        for tag in _AUDIO_TAGS:
            if tag in self._source_stream.metadata:
                self.stream.metadata[tag] = self._source_stream.metadata[tag]
        self._output = output
        self._packets: Iterator[av.Packet] = self._input.demux(self._source_stream)
        self._pending: av.Packet | None = None
        self._done = False
        self.packets_written = 0

    def _in_span(self, start: float, duration: float) -> tuple[bool, bool]:
        """(keep, past_end) for a packet or frame starting at `start` lasting `duration` seconds."""
        middle = start + duration / 2
        past_end = self._end_s is not None and middle >= self._end_s
        # With no start, from the file's start with the one packet before it that decoding the
        # first needs (the codec's priming one). A file cut without re-encoding holds a second or
        # so more before its start, which its edit list hides: left out.
        first = self._start_s if self._start_s is not None else -duration
        before_start = middle < first
        return (not past_end and not before_start), past_end

    def mux_until(self, time_s: float | None) -> None:
        """Mux source packets that start before `time_s` (source seconds); None: all that remain."""
        while not self._done:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None or packet.pts is None:
                if packet is None:
                    self._done = True
                    self._flush_encoder()
                continue
            start = float(packet.pts * packet.time_base) - self._clock_origin_s
            if time_s is not None and start >= time_s:
                self._pending = packet
                return
            duration = float((packet.duration or 0) * packet.time_base)
            keep, past_end = self._in_span(start, duration)
            if past_end:
                self._done = True
                self._flush_encoder()
                return
            if keep:
                self._write(packet)

    def _write(self, packet: av.Packet) -> None:
        shift = round((self._origin_s + self._clock_origin_s) / packet.time_base)
        if self._copy:
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self.stream
            self._output.mux(packet)
            self.packets_written += 1
            return
        for frame in packet.decode():
            frame.pts = frame.pts - shift if frame.pts is not None else None
            for encoded in self.stream.encode(frame):
                self._output.mux(encoded)
                self.packets_written += 1

    def _flush_encoder(self) -> None:
        if not self._copy:
            for encoded in self.stream.encode(None):
                self._output.mux(encoded)
        self.close_source()

    def close_source(self) -> None:
        """Close the source file (done at the end of the span; again on an abort, harmlessly)."""
        self._input.close()


class _OutputWriter:
    """`with writer:` opens it, closes it (the file appears) when the block succeeds, and aborts it
    (nothing is written) when the block raises."""

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> Path:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoWriter(_OutputWriter):
    """Writes RGB frames as H.264 (libx264, yuv420p) with given time stamps, plus the source's
    audio.

    Use as a context manager; the file appears at `output_path` only when the block ends without an
    error (it is written to a hidden temporary name beside it and renamed). On an error the
    temporary file is removed and nothing exists at `output_path`.

    Args:
        output_path: the final file (its suffix picks the container, e.g. `.mp4`).
        width, height: the frame size in pixels; even (yuv420p).
        frame_rate: the nominal frame rate, a hint for the encoder's rate control; the real timing
            comes from each frame's time stamp, so a variable frame rate is kept.
        audio_source: a media file whose audio streams are copied (each as a track of the
            output); None (or a file without audio) writes no audio stream.
        start_s, end_s: the span of the source (seconds, source clock) that is being converted:
            audio outside it is left out. None: from the beginning / to the end.
        metadata: container tags, e.g. {"comment": "synthetic ...", "description": ...}.
        crf, preset: libx264 quality and speed.
    """

    def __init__(  # noqa: PLR0913  # the writer's encoding options, all keyword
        self,
        output_path: str | os.PathLike,
        *,
        width: int,
        height: int,
        frame_rate: float | Fraction = 30,
        audio_source: str | os.PathLike | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
        metadata: Mapping[str, str] | None = None,
        crf: int = DEFAULT_CRF,
        preset: str = DEFAULT_PRESET,
    ) -> None:
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs an even frame size, got {width}x{height}")
        if not frame_rate or frame_rate <= 0 or not math.isfinite(frame_rate):
            raise ValueError(f"frame_rate must be a positive number, got {frame_rate!r}")
        if start_s is not None and end_s is not None and end_s <= start_s:
            raise ValueError(f"end_s ({end_s}) must be after start_s ({start_s})")
        self.output_path = check_output_writable(output_path)
        self.width, self.height = width, height
        self._frame_rate = Fraction(frame_rate).limit_denominator(100_000)
        self._audio_source = Path(audio_source) if audio_source is not None else None
        self._start_s, self._end_s = start_s, end_s
        # Output time zero is the start of the converted span, so a trimmed clip starts at 0.
        self._origin_s = start_s or 0.0
        self._metadata = dict(metadata or {})
        self._crf, self._preset = crf, preset
        self._temporary_path = _temporary_sibling(self.output_path)
        self._container: av.container.OutputContainer | None = None
        self._video_stream: av.VideoStream | None = None
        self._audio_tracks: list[_AudioCopy] = []
        self._last_pts: int | None = None
        self.frames_written = 0

    def open(self) -> None:
        """Create the temporary file and its streams."""
        container = av.open(str(self._temporary_path), mode="w")
        self._container = container
        try:
            for key, value in self._metadata.items():
                container.metadata[key] = str(value)
            stream = container.add_stream("libx264", rate=self._frame_rate)
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = VIDEO_TIME_BASE
            stream.codec_context.time_base = VIDEO_TIME_BASE
            stream.options = {"crf": str(self._crf), "preset": self._preset}
            # Tagged BT.709 (matrix, primaries, transfer; limited range), as the frames are
            # converted in `write`: untagged, players read an HD video's colours as BT.709 while
            # FFmpeg's default conversion is BT.601, which shifted them (a red of 200, 60, 30
            # showed as 210, 71, 26).
            context = stream.codec_context
            context.colorspace = context.color_primaries = context.color_trc = _BT709
            context.color_range = _LIMITED_RANGE
            self._video_stream = stream
            # Every audio track (a film's languages, a commentary), as players offer them; each
            # kept as it opens, so an abort closes those opened before a failing one.
            tracks = _audio_stream_count(self._audio_source) if self._audio_source else 0
            for index in range(tracks):
                self._audio_tracks.append(
                    _AudioCopy(
                        self._audio_source,
                        index,
                        container,
                        self.output_path.suffix,
                        self._start_s,
                        self._end_s,
                        self._origin_s,
                    )
                )
        except BaseException:
            self.abort()
            raise

    def write(self, rgb: np.ndarray, time_s: float) -> None:
        """Encode one frame shown at `time_s` (seconds on the source's clock).

        Args:
            rgb: (height, width, 3) uint8 RGB.
            time_s: the frame's presentation time; strictly increasing from frame to frame.
        """
        if self._container is None or self._video_stream is None:
            raise RuntimeError("VideoWriter is not open: use it as a context manager")
        _check_rgb(rgb, "frame")
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the writer was opened for "
                f"{self.width}x{self.height}"
            )
        pts = round((time_s - self._origin_s) / VIDEO_TIME_BASE)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(
                f"frame time stamps must increase: {time_s:.6f} s comes after "
                f"{float(self._last_pts * VIDEO_TIME_BASE) + self._origin_s:.6f} s"
            )
        self._last_pts = pts
        for track in self._audio_tracks:
            track.mux_until(time_s)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
            format="yuv420p", dst_colorspace="itu709", dst_color_range=_LIMITED_RANGE
        )
        frame.colorspace = frame.color_primaries = frame.color_trc = _BT709
        frame.color_range = _LIMITED_RANGE
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        for packet in self._video_stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> Path:
        """Flush the encoder, finish the audio, close the file and rename it into place.

        Returns:
            The final output path.
        """
        if self._container is None or self._video_stream is None:
            raise RuntimeError("VideoWriter is not open")
        try:
            if self.frames_written == 0:
                raise ValueError(f"no frames were written to {self.output_path}")
            for packet in self._video_stream.encode(None):
                self._container.mux(packet)
            for track in self._audio_tracks:
                # The rest of the span: up to end_s, or to the end of the source when none.
                track.mux_until(None)
            self._container.close()
            self._container = None
            os.replace(self._temporary_path, self.output_path)
        except BaseException:
            self.abort()
            raise
        # Debug: the file is often a work file the caller moves into place, and says so itself.
        logger.debug("wrote %d frames to %s", self.frames_written, self.output_path)
        return self.output_path

    def abort(self) -> None:
        """Close and delete the temporary file; nothing is left at the output path."""
        for track in self._audio_tracks:
            track.close_source()
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, OSError, ValueError):
                logger.debug("closing the aborted output %s failed", self._temporary_path)
            self._container = None
        self._temporary_path.unlink(missing_ok=True)


def _audio_stream_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return len(container.streams.audio)


def _aac_layout(layout: av.AudioLayout) -> str:
    """The channel layout to encode `layout`'s channels as AAC: its own when it names an order."""
    if layout.name != f"{layout.nb_channels} channels":
        return layout.name
    return _DEFAULT_LAYOUTS.get(layout.nb_channels, "stereo")


def _aac_rate(rate: int) -> int:
    """The lowest AAC sample rate (Hz) at or above `rate`, so the whole band is kept; AAC's highest
    (96 kHz) for a higher one."""
    rates = sorted(av.codec.Codec("aac", "w").audio_rates)
    return next((aac_rate for aac_rate in rates if aac_rate >= rate), rates[-1])


class GifWriter(_OutputWriter):
    """Writes RGB frames to an animated GIF at a reduced frame rate and width, atomically.

    Frames are quantised to a palette as they arrive (a GIF holds at most 256 colours per frame), so
    only the small paletted frames are kept until `close`.

    Args:
        output_path: the final `.gif` file.
        fps: frames per second of the GIF (frames arriving faster are dropped).
        max_width: frames wider than this are shrunk, keeping the aspect ratio.
    """

    def __init__(
        self, output_path: str | os.PathLike, *, fps: float = 10.0, max_width: int = 480
    ) -> None:
        if fps <= 0 or max_width < 2:
            raise ValueError(f"GIF fps must be > 0 and max_width >= 2, got {fps} and {max_width}")
        self.output_path = check_output_writable(output_path)
        self._interval_s = 1.0 / fps
        self._max_width = max_width
        self._frames: list[Image.Image] = []
        self._durations_ms: list[int] = []
        self._next_time_s: float | None = None
        self._last_time_s: float | None = None

    def open(self) -> None:
        """Nothing to open: the frames are kept in memory until `close` writes the GIF."""

    def abort(self) -> None:
        """Forget the frames kept so far; no file is written."""
        self._frames.clear()
        self._durations_ms.clear()

    def write(self, rgb: np.ndarray, time_s: float) -> None:
        """Add a frame shown at `time_s` seconds; kept when at least 1/fps after the last kept one.

        Args:
            rgb: (H, W, 3) uint8 RGB.
        """
        _check_rgb(rgb, "frame")
        if self._next_time_s is not None and time_s < self._next_time_s:
            return
        if self._last_time_s is not None:
            self._durations_ms.append(max(20, round((time_s - self._last_time_s) * 1000)))
        height, width = rgb.shape[:2]
        if width > self._max_width:
            rgb = resize_frame(
                rgb, self._max_width, max(1, round(height * self._max_width / width))
            )
        self._frames.append(
            Image.fromarray(rgb).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        )
        self._last_time_s = time_s
        self._next_time_s = time_s + self._interval_s * 0.999

    def close(self) -> Path:
        """Write the GIF to a temporary name and rename it into place.

        Returns:
            The final output path.
        """
        if not self._frames:
            raise ValueError(f"no frames were written to {self.output_path}")
        self._durations_ms.append(round(self._interval_s * 1000))
        temporary_path = _temporary_sibling(self.output_path)
        try:
            self._frames[0].save(
                temporary_path,
                format="GIF",
                save_all=True,
                append_images=self._frames[1:],
                duration=self._durations_ms,
                loop=0,
                disposal=1,
            )
            os.replace(temporary_path, self.output_path)
        finally:
            temporary_path.unlink(missing_ok=True)
        self._frames.clear()
        return self.output_path
