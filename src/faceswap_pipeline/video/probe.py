"""Facts about a video file, read with PyAV by demuxing (no decoding): size, codecs, rates,
duration."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.video.hdr import hdr_transfer

logger = logging.getLogger(__name__)

# The containers a person's videos come in: phones and downloads (MP4, MOV, WebM, MKV), cameras
# and editors (AVI, MXF, DV, MPEG-TS as .ts, .mts, .m2ts), TV and DVD (.ts, .mpg, .vob), and older
# ones (FLV, WMV, 3GP, OGV), and an animated GIF (a meme). What a raw video folder lists, and so
# what a local source may be.
VIDEO_SUFFIXES = (
    *(".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mxf", ".dv"),
    *(".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".vob", ".flv", ".wmv", ".3gp", ".ogv", ".gif"),
)

# A stream is flagged variable-frame-rate when its frame intervals spread by more than this
# fraction, or when its frames fill the container's duration at a rate this far from the nominal one
# (a late start, dropped or duplicated frames: multi_hamilton.mp4 has 275 frames at 29.97 fps in 10
# s).
_VFR_TOLERANCE = 0.02


class NotAVideoError(FaceswapError, ValueError):
    """The file is not a readable video (not a media file, or no video stream).

    Attributes:
        path: the file that was opened.
        detail: what is wrong with it and what to do, without the path (``"is empty (0 bytes);
            fetch it again ..."``): for a caller that names the file its own way, as the fetch
            names a source by its configured location, not by the staged copy it opened.
    """

    def __init__(self, path: str | Path, detail: str) -> None:
        super().__init__(f"{path} {detail}")
        self.path = Path(path)
        self.detail = detail

    def __reduce__(self) -> tuple:  # pickled whole across processes (Dask workers)
        return type(self), (self.path, self.detail)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds.

    Attributes:
        duration_s: the container's duration in seconds (the longest stream).
        frame_count: video packets with a time stamp that are shown (one per frame for the codecs
            we read).
        avg_fps: frame_count / duration_s.
        nominal_fps: the rate the stream declares (PyAV's ``guessed_rate``).
        variable_frame_rate: frame intervals irregular, or avg_fps away from nominal_fps.
        width, height: frame size in pixels as a player shows it: square pixels
            (``shown_width``), after ``rotation_deg``.
        video_codec: e.g. ``"h264"``.
        audio_codec: e.g. ``"aac"``; ``None`` when the file has no audio stream.
        first_frame_time_s: when the first frame is shown, seconds from the file's start as
            players count it (``clock_origin_s``; not always 0: a video may start after its audio).
        rotation_deg: clockwise turn a player gives the stored pictures (0, 90, 180 or 270): a
            phone filmed upright stores them sideways and says 90 or 270 in its display matrix.
            ``iter_frames`` yields frames turned this way.
        hdr: ``"hlg"`` or ``"pq"`` for HDR video (a phone's default); ``iter_frames`` yields it as
            SDR (``video.hdr``). None: SDR.
        pixel_aspect: a stored pixel's width over its height (1: square; a camcorder's
            1440×1080 HDV: 4/3); ``iter_frames`` yields square pixels.
        interlaced: the pictures are stored as two fields filmed apart (a camcorder's 1080i,
            DV, a TV recording); ``iter_frames`` yields them deinterlaced.
    """

    duration_s: float
    frame_count: int
    avg_fps: float
    nominal_fps: float
    variable_frame_rate: bool
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    first_frame_time_s: float
    rotation_deg: int = 0
    hdr: str | None = None
    pixel_aspect: float = 1.0
    interlaced: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def clock_origin_s(container: av.container.InputContainer) -> float:
    """The time stamp (seconds) players count a file's position from: its container's start, the
    earliest first time stamp of its streams. A broadcast recording or a camcorder's MPEG-TS
    starts anywhere on its 33-bit clock (an hour in, say) where an MP4 starts at 0. 0 when the
    start is unknown or negative (an audio encoder's priming, which players hide)."""
    if container.start_time is None:
        return 0.0
    return max(0.0, float(container.start_time) / av.time_base)


def open_video(path: str | Path) -> av.container.InputContainer:
    """Open a video file with PyAV, refusing what is not one, with a message that names the file.

    Returns:
        The open container (use it in a ``with`` block); it has at least one video stream.

    Raises:
        FileNotFoundError: the path does not exist.
        NotAVideoError: an empty file, not a media file PyAV can open, a still image, or no video
            stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    if path.stat().st_size == 0:
        raise NotAVideoError(path, "is empty (0 bytes); fetch it again or point at a video file")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        # FFmpeg's own words, without the path it repeats ("Invalid data found when processing
        # input").
        raise NotAVideoError(
            path,
            f"is not a video file PyAV can read ({error.strerror or error}); a truncated download,"
            " or not a video; check the source",
        ) from error
    # FFmpeg opens a photo as a one-frame "video" (image2, png_pipe, ...): a user mistake, not a
    # clip.
    format_name = container.format.name
    if format_name == "image2" or format_name.endswith("_pipe"):
        container.close()
        raise NotAVideoError(
            path,
            f"is a still image ({format_name}), not a video; give a video file (photos of a"
            " person go in reference_photos)",
        )
    if not container.streams.video:
        container.close()
        raise NotAVideoError(
            path, "has no video stream (audio only or an image?); give a video file"
        )
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's facts by demuxing its packets.

    Args:
        path: a local video file.

    Returns:
        Its ``VideoInfo``.

    Raises:
        FileNotFoundError: the path does not exist.
        NotAVideoError: the file is not a media file PyAV can open, or has no video stream or
            frames.
    """
    path = Path(path)
    with open_video(path) as container:
        stream = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        pts: list[int] = []
        try:
            for packet in container.demux(stream):
                # A file cut without re-encoding (`ffmpeg -ss ... -c copy`, a downloaded section)
                # starts at the keyframe before the cut, with an edit list that hides the frames
                # before it: players, and the decoder, never show those.
                if packet.pts is not None and not packet.is_discard:
                    pts.append(packet.pts)
        except av.error.FFmpegError as error:
            logger.warning(
                "%s: demuxing stopped early (%s); the file may be truncated", path, error
            )
        if not pts:
            raise NotAVideoError(path, "has a video stream but no frames; the file may be damaged")
        time_base = float(stream.time_base)
        times = np.sort(np.asarray(pts, dtype=np.float64)) * time_base - clock_origin_s(container)
        if container.duration is not None:
            duration_s = float(container.duration) / av.time_base
        else:  # raw streams without a container duration: the frames' span plus one interval
            duration_s = float(times[-1] - times[0]) + (
                float(np.median(np.diff(times))) if len(times) > 1 else 0.0
            )
        nominal_fps = float(stream.guessed_rate or stream.average_rate or 0.0)
        frame_count = len(times)
        avg_fps = frame_count / duration_s if duration_s > 0 else nominal_fps
        intervals = np.diff(times)
        irregular = bool(
            len(intervals) > 1
            and (intervals.max() - intervals.min()) > _VFR_TOLERANCE * 5 * np.median(intervals)
        )
        off_nominal = bool(
            nominal_fps > 0 and abs(avg_fps - nominal_fps) > _VFR_TOLERANCE * nominal_fps
        )
        picture = picture_facts(path)
        # As stored, but with square pixels; a picture stored sideways is shown turned.
        width = shown_width(stream) or stream.codec_context.width
        height = stream.codec_context.height
        if picture.rotation_deg in (90, 270):
            width, height = height, width
        return VideoInfo(
            duration_s=round(duration_s, 6),
            frame_count=frame_count,
            avg_fps=round(avg_fps, 4),
            nominal_fps=round(nominal_fps, 4),
            variable_frame_rate=irregular or off_nominal,
            width=int(width),
            height=int(height),
            video_codec=stream.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            first_frame_time_s=round(float(times[0]), 6),
            rotation_deg=picture.rotation_deg,
            hdr=picture.hdr,
            pixel_aspect=picture.pixel_aspect,
            interlaced=picture.interlaced,
        )


def display_rotation(frame: av.VideoFrame) -> int:
    """The clockwise turn (0, 90, 180 or 270 degrees) a player gives this decoded picture.

    FFmpeg attaches the stream's display matrix to every frame; PyAV reads it as a
    counter-clockwise angle in [-180, 180]. Mirroring in the matrix (rare in video) is not applied.
    """
    return round(-frame.rotation / 90) % 4 * 90


@dataclass(frozen=True)
class PictureFacts:
    """How a video's pictures are stored, from its stream and first frame (``VideoInfo`` carries
    these too).

    Attributes:
        rotation_deg: the clockwise turn a player gives them (``display_rotation``).
        hdr: ``"hlg"`` or ``"pq"`` for HDR video (a phone's default), read as SDR
            (``video.hdr``); None for SDR.
        pixel_aspect: the sample aspect ratio, a pixel's width over its height (1: square);
            read stretched to square pixels (``shown_width``).
        interlaced: stored as two fields (the first frame says so); read deinterlaced.
    """

    rotation_deg: int = 0
    hdr: str | None = None
    pixel_aspect: float = 1.0
    interlaced: bool = False


def shown_width(stream: av.video.stream.VideoStream) -> int | None:
    """The width a player shows the stream's pictures at: coded width × sample aspect ratio, for
    non-square pixels (an HDV or AVCHD camcorder's 1440×1080 shown 1920 wide, a DVD's 720×480);
    None when the pixels are square (or say nothing)."""
    ratio = stream.sample_aspect_ratio
    if not ratio or ratio == 1:
        return None
    return round(stream.codec_context.width * ratio)


def picture_facts(path: str | Path) -> PictureFacts:
    """A video's ``PictureFacts``, from the first frame that decodes.

    The defaults (upright, SDR, square, progressive) when no frame decodes or the file is not a
    video: reading it is where that is reported.
    """
    try:
        with open_video(path) as container:
            stream = container.streams.video[0]
            ratio = float(stream.sample_aspect_ratio or 1)
            for frame in container.decode(stream):
                return PictureFacts(
                    display_rotation(frame), hdr_transfer(frame), ratio, frame.interlaced_frame
                )
    except (NotAVideoError, av.error.FFmpegError):
        pass
    return PictureFacts()
