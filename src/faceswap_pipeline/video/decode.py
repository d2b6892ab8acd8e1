"""Decode a video as a stream of RGB frames with their real time stamps (PyAV; no frames on disk).

Sampling at a lower rate, and a start/end window, happen while decoding, so a long video never sits
in memory: one frame at a time. Frames come as a player shows them: a phone's clip, stored sideways
with a display matrix, is turned upright here, its HDR light (HLG, PQ) mapped to SDR
(``video.hdr``), a camcorder's non-square pixels stretched to square ones and its interlaced
fields woven into whole frames, so every stage sees (and the conversion writes) the picture the
way it was filmed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from faceswap_pipeline.video.hdr import hdr_to_sdr, hdr_transfer
from faceswap_pipeline.video.probe import clock_origin_s, display_rotation, open_video, shown_width

logger = logging.getLogger(__name__)

# MPEG transport and program streams (a broadcast recording, a camcorder's .MTS, a DVD's .VOB) have
# no index: FFmpeg's seek in them lands seconds after its target, or nowhere when the video has
# few keyframes. They are read from the start, the frames before the window dropped.
_UNSEEKABLE_FORMATS = frozenset({"mpegts", "mpeg"})


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame.

    Attributes:
        index: the frame's position in the stream (0-based, counting every decoded frame, sampled or
            not), stable across runs with different sampling.
        time_s: presentation time in seconds from the file's start as players count it
            (``probe.clock_origin_s``), from the stream's time stamps (variable rate kept).
        rgb: ``(H, W, 3)`` uint8 RGB, C-contiguous, as a player shows it: upright (the stream's
            display rotation applied), SDR (HDR mapped by ``video.hdr``), square pixels, whole
            frames (interlaced ones deinterlaced).
    """

    index: int
    time_s: float
    rgb: np.ndarray


@dataclass
class DecodeReport:
    """Filled in while decoding: what was read and whether the stream ended early."""

    frames_decoded: int = 0
    frames_yielded: int = 0
    error: str | None = None
    damaged: bool = field(default=False)


def upright(rgb: np.ndarray, rotation_deg: int) -> np.ndarray:
    """Turn a decoded ``(H, W, 3)`` picture ``rotation_deg`` clockwise (0, 90, 180 or 270), as a
    player shows it; a view, not a copy."""
    return np.rot90(rgb, k=-(rotation_deg // 90)) if rotation_deg else rgb


def _sdr_rgb(frame: av.VideoFrame) -> np.ndarray:
    """The frame as ``(H, W, 3)`` uint8 RGB; HDR (a phone's HLG, PQ) mapped to SDR."""
    transfer = hdr_transfer(frame)
    return hdr_to_sdr(frame, transfer) if transfer else frame.to_ndarray(format="rgb24")


def _square_pixels(rgb: np.ndarray, width: int | None) -> np.ndarray:
    """Stretch a picture of non-square pixels to ``width`` (``probe.shown_width``), as a player
    does; ``rgb`` itself when its pixels are square (``width`` None)."""
    if width is None:
        return rgb
    # Imported here: OpenCV only for the rare video of non-square pixels.
    from faceswap_pipeline.video.encode import resize_frame

    return resize_frame(rgb, width, rgb.shape[0])


class _Deinterlacer:
    """FFmpeg's bwdif filter for one stream: each interlaced frame (two fields filmed 1/50 or
    1/60 s apart, which comb every moving edge) becomes one whole frame at the same time stamp,
    from its fields and its neighbours'; a progressive frame passes unchanged. It holds a frame
    back (it looks at the next one), so `push(None)` at the end gives the last."""

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        self._time_base = stream.time_base
        self._graph = av.filter.Graph()
        source = self._graph.add_buffer(template=stream)
        bwdif = self._graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
        sink = self._graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        self._graph.configure()

    def push(self, frame: av.VideoFrame | None) -> Iterator[av.VideoFrame]:
        """Feed a decoded frame (None: the end) and yield the frames it lets out."""
        self._graph.vpush(frame)
        while True:
            try:
                woven = self._graph.vpull()
            except (av.BlockingIOError, av.EOFError):
                return
            # bwdif halves the time base (it can send a frame per field): back to the stream's.
            if woven.pts is not None and woven.time_base != self._time_base:
                woven.pts = round(woven.pts * woven.time_base / self._time_base)
                woven.time_base = self._time_base
            yield woven


def _progressive(
    frames: Iterator[av.VideoFrame], stream: av.video.stream.VideoStream
) -> Iterator[av.VideoFrame]:
    """`frames` with interlaced ones (a camcorder's 1080i, DV, a TV recording) deinterlaced as a
    player does; the filter is built at the first interlaced frame, so progressive video never
    passes through it."""
    deinterlacer = None
    for frame in frames:
        if deinterlacer is None and not frame.interlaced_frame:
            yield frame
            continue
        deinterlacer = deinterlacer or _Deinterlacer(stream)
        yield from deinterlacer.push(frame)
    if deinterlacer is not None:
        yield from deinterlacer.push(None)


class _ShownPackets:
    """A stream's packets, counting those its container hides (``hidden``): a file cut without
    re-encoding (``ffmpeg -ss ... -c copy``, a section yt-dlp downloads) starts at the keyframe
    before its cut, with an edit list that hides the frames before it. The decoder decodes them
    (the frames after need them) and shows none; the container's frame count lists them."""

    def __init__(self, packets: Iterator[av.Packet]):
        self._packets = packets
        self.hidden = 0

    def __iter__(self) -> Iterator[av.Packet]:
        for packet in self._packets:
            self.hidden += packet.is_discard
            yield packet


def _validate_window(start_s: float | None, end_s: float | None, sample_fps: float | None) -> None:
    if start_s is not None and (not math.isfinite(start_s) or start_s < 0):
        raise ValueError(f"start_s must be a time >= 0 in seconds, got {start_s}")
    if end_s is not None and (not math.isfinite(end_s) or end_s <= 0):
        raise ValueError(f"end_s must be a time > 0 in seconds, got {end_s}")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s ({end_s}) must be after start_s ({start_s})")
    if sample_fps is not None and (not math.isfinite(sample_fps) or sample_fps <= 0):
        raise ValueError(f"sample_fps must be > 0 frames per second, got {sample_fps}")


def iter_frames(  # noqa: PLR0915  # one generator: the container must stay open while frames are yielded
    path: str | Path,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    sample_fps: float | None = None,
    report: DecodeReport | None = None,
    thread_type: str = "AUTO",
) -> Iterator[VideoFrame]:
    """Yield a video's frames in order, optionally within ``[start_s, end_s)`` and sampled.

    Args:
        path: a local video file.
        start_s: first time to keep, seconds from the file's start (``None``: from the start).
            Seeks to the keyframe before (an MPEG-TS or -PS: reads from the start instead).
        end_s: stop before this time, seconds from the file's start (``None``: to the end).
        sample_fps: keep about this many frames per second of video time, chosen by time stamp, so
            variable-rate video is sampled evenly (``None``: every frame).
        report: filled in with counts, and with the error when the stream is damaged: decoding then
            stops at the last good frame instead of raising, and a warning names the file.
        thread_type: PyAV's codec threading (``"AUTO"`` decodes with frame and slice threads).

    Yields:
        ``VideoFrame`` objects; ``rgb`` is ``(H, W, 3)`` uint8 RGB, upright (``probe_video``'s
        ``rotation_deg`` applied; ``H, W`` its ``height, width``), interlaced frames
        deinterlaced.

    Raises:
        FileNotFoundError, NotAVideoError, ValueError (a bad window or rate).
    """
    _validate_window(start_s, end_s, sample_fps)
    path = Path(path)
    report = report if report is not None else DecodeReport()
    with open_video(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = thread_type
        square_width = shown_width(stream)
        time_base = float(stream.time_base)
        # Times, and the window, count from the file's start (an MPEG-TS may start an hour in).
        origin_s = clock_origin_s(container)
        first_pts = stream.start_time or 0
        seeked = bool(start_s) and container.format.name not in _UNSEEKABLE_FORMATS
        if seeked:
            # Seek to the keyframe at or before start_s; frames before start_s are decoded and
            # dropped.
            container.seek(
                int((start_s + origin_s) / time_base), stream=stream, backward=True, any_frame=False
            )
        next_sample_time = start_s or 0.0
        sample_interval = 1.0 / sample_fps if sample_fps else 0.0
        packets = _ShownPackets(container.demux(stream))
        frames = _progressive((frame for packet in packets for frame in packet.decode()), stream)
        index = -1
        last_index_by_time = None
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.error.FFmpegError as error:
                report.error = f"{type(error).__name__}: {error}"
                report.damaged = True
                logger.warning(
                    "%s is damaged after %d frames (%s); using the frames decoded so far",
                    path.name,
                    report.frames_decoded,
                    error,
                )
                break
            report.frames_decoded += 1
            pts = frame.pts if frame.pts is not None else frame.dts
            time_s = (
                float(pts * time_base) - origin_s
                if pts is not None
                else report.frames_decoded / float(stream.guessed_rate or 25)
            )
            # The stream index follows from the time stamp when seeking (frames before the seek
            # point were never decoded); without a seek it is the decode count.
            if seeked:
                rate = float(stream.guessed_rate or stream.average_rate or 25)
                index = round((time_s + origin_s - first_pts * time_base) * rate)
                if last_index_by_time is not None and index <= last_index_by_time:
                    index = last_index_by_time + 1
                last_index_by_time = index
            else:
                index += 1
            if start_s is not None and time_s < start_s - 1e-6:
                continue
            if end_s is not None and time_s >= end_s - 1e-6:
                break
            if sample_interval:
                if time_s + 1e-6 < next_sample_time:
                    continue
                # Advance the sampling clock by whole intervals so a gap does not cause a burst.
                next_sample_time += sample_interval * max(
                    1, math.floor((time_s - next_sample_time) / sample_interval) + 1
                )
            rgb = upright(_square_pixels(_sdr_rgb(frame), square_width), display_rotation(frame))
            report.frames_yielded += 1
            yield VideoFrame(index=index, time_s=time_s, rgb=np.ascontiguousarray(rgb))
        # A file cut short with its index intact decodes without an error but stops early: compare
        # the frames decoded with the frames the container's index lists (whole-file reads only),
        # less those an edit list hides.
        listed = (stream.frames or 0) - packets.hidden
        if (
            not report.damaged
            and not start_s
            and end_s is None
            and 0 < report.frames_decoded < listed
        ):
            report.damaged = True
            report.error = f"decoded {report.frames_decoded} of the {listed} frames its index lists"
            logger.warning(
                "%s is truncated: %s; using the frames decoded so far", path.name, report.error
            )
