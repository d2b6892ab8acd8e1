"""Turn a configured source (a yt-dlp URL, a direct http(s) link, or a local path) into a local
video file.

Downloads go through yt-dlp's Python API with options built from an allow-list: nothing from
configuration can make yt-dlp run a command (no exec post-processors, external downloaders,
post-processor arguments, netrc commands or plugins). Every result is checked with PyAV before it is
accepted, because yt-dlp "downloads" a text file named ``.mp4`` without complaint.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlparse

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from faceswap_pipeline.atomic_files import TEMP_PREFIX
from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.safe_names import safe_stem, short_hash
from faceswap_pipeline.video.probe import (
    VIDEO_SUFFIXES,
    NotAVideoError,
    VideoInfo,
    open_video,
    probe_video,
)

logger = logging.getLogger(__name__)

_URL_SCHEMES = ("http", "https")

# How often a section's download says how much has come (ffmpeg reports nothing until it ends).
SECTION_PROGRESS_EVERY_S = 10.0


class SourceError(FaceswapError, RuntimeError):
    """A source could not be turned into a video; the message names the person, the source and what
    to do.

    ``network`` is true when the server could not be reached or stopped answering (no network, a
    firewall, a stall), so that the caller can add how to do without it.
    """

    def __init__(self, message: str, *, network: bool = False):
        super().__init__(message)
        self.network = network


def seconds_of(value: Any) -> Any:
    """A time given as seconds (``83.5``) or as a player shows it (``"1:23.5"``, ``"01:02:03"``,
    as copied from YouTube), in seconds; anything not a string as it is (the field checks it).

    Raises:
        ValueError: a string that is neither.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if not re.fullmatch(r"\d+(:[0-5]?\d){1,2}(\.\d+)?", text):
        raise ValueError(
            f"{value!r} is not a time: give seconds (83.5) or a time as players show it"
            " (1:23.5, 1:02:03)"
        )
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


# Seconds of a video, also given as a player shows them ("1:23"): a parameter's type.
Seconds = Annotated[float, BeforeValidator(seconds_of)]


class VideoSource(BaseModel):
    """One configured source of video for a person.

    Attributes:
        url: a URL yt-dlp understands (YouTube, 1,000+ sites, or a direct link to a video file).
        path: a local video file (instead of ``url``).
        start: first second to use (face extraction honours it); ``None`` = from the start.
            A URL's video is downloaded from there only (``section``). Seconds, or a time as a
            player shows it (``"1:23.5"``, ``"1:02:03"``).
        end: last second to use; ``None`` = to the end.
        fps: frames per second that face extraction samples; ``None`` = every frame.
        sha256: the expected checksum: a file with it already in the folder is used without
            fetching, and a download that does not match is refused.
        title: a human title; yt-dlp's title (or the file name) when not set.
    """

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    path: str | None = None
    start: Seconds | None = Field(default=None, ge=0)
    end: Seconds | None = Field(default=None, gt=0)
    fps: float | None = Field(default=None, gt=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    title: str | None = None

    @model_validator(mode="after")
    def _check(self) -> VideoSource:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of `url` or `path`")
        if self.url is not None and urlparse(self.url).scheme not in _URL_SCHEMES:
            raise ValueError(
                f"url {self.url!r} must start with http:// or https:// (use `path` for local files)"
            )
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        for name in ("start", "end", "fps"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        return self

    @property
    def location(self) -> str:
        """The URL or the path, as configured."""
        return self.url if self.url is not None else str(self.path)

    @property
    def section(self) -> tuple[float, float | None] | None:
        """The seconds of a URL's video to download, ``(start, end)`` (``end`` ``None``: to its
        end), when only part of it is used; ``None``: all of it.

        Only what face extraction reads is downloaded: a minute of an hour's interview costs a
        minute's download. Not with a ``sha256``: that is the whole file's checksum (a cut section
        never matches it, and offline the whole file copied into the folder is found by it).
        """
        if self.url is None or self.sha256 is not None:
            return None
        if not self.start and self.end is None:
            return None
        return (self.start or 0.0, self.end)

    def fetched_file(
        self, files: dict[str, Path]
    ) -> tuple[str, tuple[float, float | None] | None] | None:
        """The name in ``files`` (a raw folder's ``{name: path}``) of this URL source's download,
        and the seconds it holds, or ``None``: its ``section``'s file first, then the whole
        video's (downloaded before sections were, or where one could not be cut: the seconds
        asked for are taken out of it). Matched by stem: a download's suffix is its container's.
        """
        by_stem = {Path(name).stem: name for name in files}
        held = [self.section, None] if self.section is not None else [None]
        for section in held:
            name = by_stem.get(Path(self.file_name(section=section)).stem)
            if name is not None:
                return name, section
        return None

    def file_name(
        self, suffix: str = ".mp4", section: tuple[float, float | None] | None = None
    ) -> str:
        """The name this source gets in the raw video folder: a readable stem plus a hash of the
        location, and the seconds it holds when it is a ``section`` of the video
        (``<stem>-<hash>-120s-180s.mp4``; ``-120s-end``: to the video's end).

        Made from the configured location only (never from a downloaded title), so the same source
        always maps to the same file and nothing it says can steer where the file goes. A YouTube
        watch page's stem is its video's id (``watch?v=<id>``), which says which video it is.
        """
        if self.url is None:
            stem = Path(str(self.path)).stem
        else:
            address = urlparse(self.url)
            stem = Path(address.path).stem
            if stem == "watch":
                stem = parse_qs(address.query).get("v", [stem])[0]
        held = ""
        if section is not None:
            start, end = section
            held = f"-{_seconds(start)}s-" + ("end" if end is None else f"{_seconds(end)}s")
        return f"{safe_stem(stem, fallback='video')}-{short_hash(self.location)}{held}{suffix}"


def _seconds(value: float) -> str:
    """``120.0`` → ``120``, ``12.5`` → ``12.5``: seconds as a file name shows them."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _span(section: tuple[float, float | None]) -> str:
    """``10–12``, ``300–end``: a section's seconds as the log says them."""
    start, end = section
    return f"{_seconds(start)}–{'end' if end is None else _seconds(end)}"


class DownloadOptions(BaseModel):
    """The download settings a user may change; everything else yt-dlp gets is fixed here."""

    model_config = ConfigDict(extra="forbid")

    max_height: int = Field(default=720, ge=144, le=4320)
    retries: int = Field(default=3, ge=0, le=10)
    socket_timeout_s: float = Field(default=20.0, gt=0, le=300)
    retry_backoff_s: float = Field(default=1.0, ge=0, le=60)
    # A browser's cookies (cookies.txt, Netscape format) for sites that want a signed-in visitor:
    # YouTube from a server's address ("confirm you're not a bot"), age-restricted or members'
    # videos.
    cookies_file: str | None = None

    @field_validator("cookies_file")
    @classmethod
    def _cookies_file_is_a_file(cls, cookies_file: str | None) -> str | None:
        if cookies_file is not None and not Path(cookies_file).expanduser().is_file():
            raise ValueError(
                f"{cookies_file} is not a file; export the cookies of a browser signed in to the"
                " site into a cookies.txt (Netscape format) and give its path"
            )
        return cookies_file


@dataclass(frozen=True)
class FetchedVideo:
    """A source made local: ``path`` is a staged file (to be moved into the folder) or one already
    there.

    ``section``: the source video's seconds the file holds, ``(start, end)`` (``end`` ``None``: to
    its end), its first frame being the video's at ``start``; ``None``: the whole video.
    """

    source: VideoSource
    file_name: str
    path: Path
    title: str
    sha256: str
    info: VideoInfo
    reused: bool
    section: tuple[float, float | None] | None = None


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def ytdlp_options(
    options: DownloadOptions,
    output_template: str,
    progress_hook,
    cookies: Path | None = None,
    match_filter=None,
    section: tuple[float, float | None] | None = None,
) -> dict:
    """The complete yt-dlp option dict: an allow-list, nothing passed through from configuration.

    The best video merged with the best audio (the ffmpeg binary for merging is imageio-ffmpeg's),
    of the largest resolution at or below ``max_height`` as "720p" counts it: by the shorter side,
    so a vertical phone video comes at 720×1280 (a height cap took its 360×640), a landscape one at
    1280×720; the smallest above it when there is none. Of an HDR video, its SDR rendition where the
    site offers one at that size and frame rate.
    ``cookies``: a cookies.txt yt-dlp reads and, when it closes, writes back (give it a copy).
    ``match_filter``: called with each video's information before its download; it may raise
    (``_refuse_before_download``).
    ``section``: only these seconds, ``(start, end)`` (``end`` ``None``: to the end), cut by ffmpeg
    as it downloads without re-encoding (from the keyframe before ``start``, with an edit list
    that hides what comes before it: the file's first frame, at 0 s, is the video's at
    ``start``); run it inside ``_cutting_a_section``.
    """
    import imageio_ffmpeg
    from yt_dlp.utils import download_range_func

    ranges = None
    if section is not None:
        start, end = section
        ranges = download_range_func(None, [(start, math.inf if end is None else end)])
    return {
        **({"cookiefile": str(cookies)} if cookies is not None else {}),
        **({"match_filter": match_filter} if match_filter is not None else {}),
        **({"download_ranges": ranges} if ranges is not None else {}),
        "format": "bv*+ba/b",
        # yt-dlp's `res` is a format's shorter side. Of an HDR video (a phone's, uploaded as
        # filmed), the site's SDR rendition at the same size and rate: the site's own tone mapping,
        # what most viewers saw, and 8 bits to decode (yt-dlp prefers HDR by default).
        "format_sort": [f"res:{options.max_height}", "fps", "hdr:sdr"],
        "merge_output_format": "mp4",
        "outtmpl": {"default": output_template},
        "ffmpeg_location": imageio_ffmpeg.get_ffmpeg_exe(),
        "noplaylist": True,
        # Retrying is done by `download_url`, whole attempts at a time, so the count is exactly
        # `retries + 1` attempts, each bounded by the socket timeout.
        "retries": 0,
        "fragment_retries": 0,
        "extractor_retries": 0,
        "socket_timeout": options.socket_timeout_s,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "progress_hooks": [progress_hook],
        "restrictfilenames": True,
        "overwrites": True,
        "continuedl": False,
        "cachedir": False,
        "js_runtimes": javascript_runtimes(),
        "logger": _YtDlpLogger(),
    }


def javascript_runtimes() -> dict[str, dict[str, str]]:
    """yt-dlp's ``js_runtimes`` option: the deno that solves YouTube's JavaScript challenges.

    The ``deno`` wheel (yt-dlp's ``deno`` extra) is named by its path, so it is found however the
    project was installed (a virtual environment run without activating it, ``pip install --user``
    or ``--target``); without the wheel, a deno on ``PATH``, as yt-dlp looks by default.
    """
    try:
        from deno import find_deno_bin

        return {"deno": {"path": find_deno_bin()}}
    except (ImportError, FileNotFoundError):
        return {"deno": {}}


class _YtDlpLogger:
    """Routes yt-dlp's messages to logging instead of stdout."""

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        # yt-dlp's note that a page is read by its generic extractor (any site it has no extractor
        # of its own for: a page with a <video>, a DASH or HLS manifest) is how it works, not a
        # problem the user could act on.
        if "Falling back on generic information extractor" in message:
            logger.debug("yt-dlp: %s", message)
            return
        logger.warning("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)


class _ProgressLogger:
    """Logs download progress every 10% (a progress bar that works in logs and terminals alike).

    A site that serves picture and sound apart (YouTube above 360p, DASH and HLS streams) is
    downloaded as two parts, merged after: each part is named and counted from 0 % again.
    """

    def __init__(self, label: str):
        self._label = label
        self._next_percent = 0

    def __call__(self, status: dict) -> None:
        label = self._label + _part_of(status.get("info_dict") or {})
        if status.get("status") == "downloading":
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            done = status.get("downloaded_bytes") or 0
            if total:
                percent = min(100.0, 100 * done / total)
                if percent >= self._next_percent:
                    speed = status.get("speed") or 0
                    logger.info(
                        "%s: %3.0f%% of %.1f MB (%.1f MB/s)",
                        label,
                        percent,
                        total / 1e6,
                        speed / 1e6,
                    )
                    self._next_percent = 10 * (int(percent) // 10 + 1)
        elif status.get("status") == "finished":
            # A stream of fragments (DASH, HLS) has no total, only what came.
            size = status.get("total_bytes") or status.get("downloaded_bytes") or 0
            logger.info("%s: downloaded %.1f MB", label, size / 1e6)
            self._next_percent = 0


def _part_of(format_info: dict) -> str:
    """`` (picture)`` or `` (sound)`` for a format that holds only that; ``""`` for one whole."""
    # yt-dlp says "none" for a codec a format lacks (None: not known, as for a direct link).
    if format_info.get("vcodec") == "none":
        return " (sound)"
    if format_info.get("acodec") == "none":
        return " (picture)"
    return ""


def explain_download_error(
    error: Exception, cookies_file: str | None = None
) -> tuple[str, bool, bool]:
    """A user-facing reason for a yt-dlp failure, whether retrying could help, and whether the
    network (not the server's answer) failed.

    ``cookies_file``: the ``download.cookies_file`` the download had, if any (a site that still
    wants a signed-in visitor is then told to export them again).
    """
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import UnsupportedError

    inner = getattr(error, "exc_info", None)
    cause = (
        inner[1] if inner and len(inner) > 1 and inner[1] is not None else error.__cause__ or error
    )
    if isinstance(cause, HTTPError):
        status = cause.status
        transient = status >= 500 or status == 429
        if status in (401, 403):
            return (
                f"the server answered HTTP {status} (not allowed); check the URL, or, if the"
                f" video needs a signed-in visitor, {_cookies_hint(cookies_file)}",
                False,
                False,
            )
        return f"the server answered HTTP {status}; check the URL", transient, False
    if isinstance(cause, TransportError):
        return (
            f"the server could not be reached ({cause}); check the URL and the network",
            True,
            True,
        )
    if isinstance(cause, UnsupportedError):
        return (
            "the page holds no video yt-dlp can download; give a video page or a direct video link",
            False,
            False,
        )
    text = str(error).removeprefix("ERROR: ")
    if (advised := _with_the_projects_advice(text, cookies_file)) is not None:
        return advised, False, False
    transient = any(
        word in text.lower() for word in ("timed out", "timeout", "connection", "temporarily")
    )
    return text, transient, transient


def _with_the_projects_advice(text: str, cookies_file: str | None) -> str | None:
    """yt-dlp's message with its advice for its own command line replaced by the project's, or
    None when it gives none."""
    # A site that wants a signed-in visitor (YouTube's "Sign in to confirm you're not a bot" or
    # "... your age"): yt-dlp names its command-line flags; the project's answer is a setting.
    said, cookie_advice, _ = text.partition(" Use --cookies")
    if cookie_advice:
        return f"{said.rstrip()} The site wants a signed-in visitor: {_cookies_hint(cookies_file)}"
    # An extractor that no longer understands its site (YouTube changes every few weeks): yt-dlp
    # asks for a bug report and `yt-dlp -U`, which does not update a pip-installed yt-dlp.
    said, *report_advice = re.split(r"[;.]?\s*please report this issue on", text, flags=re.I)
    if report_advice:
        from yt_dlp.version import __version__ as ytdlp_version

        return (
            f"{said}; the site may have changed since yt-dlp {ytdlp_version}: update it"
            ' (.venv/bin/pip install -U "yt-dlp[default,deno]") and run again'
        )
    return None


def _cookies_hint(cookies_file: str | None) -> str:
    """What to do for a site that wants a signed-in visitor, with or without cookies given."""
    if cookies_file is not None:
        return (
            f"the cookies in {cookies_file} (download.cookies_file) did not sign in: export them"
            " again from a browser signed in to the site (they expire, and end when it signs out)"
        )
    return (
        "export the cookies of a browser signed in to the site into a cookies.txt (Netscape"
        " format) and set download.cookies_file to it (conf/local/parameters_ingestion.yml)"
    )


def download_url(
    source: VideoSource, staging_dir: Path, options: DownloadOptions, *, person: str
) -> tuple[Path, str, tuple[float, float | None] | None]:
    """Download one URL with yt-dlp into ``staging_dir``: only ``source.section`` when it has one.

    Retries a bounded number of times (``options.retries``, with backoff) when the failure may be
    transient (refused or timed-out connection, HTTP 5xx); a 404 or a page without video fails at
    once. A section that cannot be cut as it downloads (a format ffmpeg cannot seek in, a server
    that does not serve parts of a file) is downloaded whole instead, which the log says.

    Returns:
        The downloaded file, its title, and the section it holds (``None``: the whole video).

    Raises:
        SourceError: naming the person and the URL.
    """
    import yt_dlp
    import yt_dlp.globals

    # Plugins are code loaded from the user's config folders: never.
    yt_dlp.globals.plugin_dirs.value = []
    # yt-dlp writes its cookie jar back to the file when it closes: it gets a copy, the user's
    # file stays as exported.
    cookies = None
    if options.cookies_file is not None:
        cookies = staging_dir / "cookies.txt"
        shutil.copyfile(Path(options.cookies_file).expanduser(), cookies)
    try:
        section = source.section
        if section is not None:
            try:
                path, title = _download_with_retries(
                    source, staging_dir, options, cookies, person=person, section=section
                )
                return path, title, section
            except _SectionNotCut as error:
                logger.info(
                    "%s: %s: could not download only seconds %s (%s); downloading the whole"
                    " video, those seconds are read out of it",
                    person,
                    source.url,
                    _span(section),
                    error,
                )
                for left in staging_dir.iterdir():  # the attempt's file, not the cookies
                    if left != cookies and left.is_file():
                        left.unlink()
        path, title = _download_with_retries(source, staging_dir, options, cookies, person=person)
        return path, title, None
    finally:
        # A copy of the user's sign-in is never left behind, whatever the download did (a killed
        # run's is swept with its work folder by the next run).
        if cookies is not None:
            cookies.unlink(missing_ok=True)


class _SectionNotCut(Exception):
    """A section of a video could not be downloaded on its own; the message says why."""


@contextlib.contextmanager
def _cutting_a_section(label: str, staging_dir: Path):
    """Around a section's download: let yt-dlp see the ffmpeg that cuts it, and log how much has
    come every ``SECTION_PROGRESS_EVERY_S``.

    yt-dlp asks whether ffmpeg is there with a check that looks on ``PATH`` only, whatever
    ``ffmpeg_location`` says ("You have requested downloading the video partially, but ffmpeg is
    not installed"); imageio-ffmpeg's binary is not on ``PATH``. yt-dlp's own command line sets
    this context variable from ``--ffmpeg-location`` for that check; a yt-dlp without it makes
    the section fall back to a whole download. ffmpeg reports no progress to yt-dlp until it ends:
    the size of the file it writes (``download.<ext>.part``) says it.
    """
    import imageio_ffmpeg
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    done = threading.Event()

    def report() -> None:
        said = 0
        while not done.wait(SECTION_PROGRESS_EVERY_S):
            size = sum(part.stat().st_size for part in staging_dir.glob("download*.part"))
            if size > said and size >= 100_000:  # not ffmpeg's header alone
                logger.info("%s: %.1f MB so far", label, size / 1e6)
                said = size

    reporter = threading.Thread(target=report, name="section-progress", daemon=True)
    reporter.start()
    location = getattr(FFmpegPostProcessor, "_ffmpeg_location", None)
    token = location.set(imageio_ffmpeg.get_ffmpeg_exe()) if location is not None else None
    try:
        yield
    finally:
        if token is not None:
            location.reset(token)
        done.set()
        reporter.join()


def _download_with_retries(
    source: VideoSource,
    staging_dir: Path,
    options: DownloadOptions,
    cookies: Path | None,
    *,
    person: str,
    section: tuple[float, float | None] | None = None,
) -> tuple[Path, str]:
    """``download_url``'s attempts, with the cookies file yt-dlp may read and write.

    Raises:
        _SectionNotCut: ``section`` could not be downloaded on its own.
        SourceError: the download failed.
    """
    import yt_dlp

    label = f"{person}: {source.url}" + (f" (seconds {_span(section)})" if section else "")
    template = str(staging_dir / "download.%(ext)s")
    attempts = options.retries + 1
    for attempt in range(1, attempts + 1):
        ydl_options = ytdlp_options(
            options,
            template,
            _ProgressLogger(label),
            cookies,
            _refuse_before_download(source, person),
            section,
        )
        try:
            with (
                _cutting_a_section(label, staging_dir) if section else contextlib.nullcontext(),
                yt_dlp.YoutubeDL(ydl_options) as ydl,
            ):
                info = ydl.extract_info(source.url, download=True)
        except yt_dlp.utils.DownloadError as error:
            if section is not None and "partially" in str(error):
                # "This format cannot be partially downloaded", or no ffmpeg found for it.
                raise _SectionNotCut(_ytdlp_sentence(error)) from error
            reason, transient, network = explain_download_error(error, options.cookies_file)
            if transient and attempt < attempts:
                logger.warning(
                    "%s: attempt %d/%d failed (%s); retrying", label, attempt, attempts, reason
                )
                time.sleep(options.retry_backoff_s * attempt)
                continue
            suffix = f" after {attempt} attempts" if attempt > 1 else ""
            raise SourceError(
                f"{person}: could not download {source.url}{suffix}: {reason}", network=network
            ) from error
        requested = (info or {}).get("requested_downloads") or []
        path = (
            Path(requested[0]["filepath"]) if requested and requested[0].get("filepath") else None
        )
        if path is None or not path.is_file():
            raise SourceError(
                f"{person}: yt-dlp reported {source.url} as downloaded but wrote no file"
            )
        if section is not None:
            _check_section_has_frames(path)
        return path, str(info.get("title") or Path(urlparse(source.url).path).stem)
    raise AssertionError("unreachable")  # pragma: no cover


def _ytdlp_sentence(error: Exception) -> str:
    """yt-dlp's message without its ``ERROR:`` prefix and ``. Aborting`` tail."""
    text = str(error).removeprefix("ERROR: ").strip()
    return text.removesuffix(". Aborting").removesuffix(".")


def _check_section_has_frames(path: Path) -> None:
    """Raise ``_SectionNotCut`` when the cut file holds no picture.

    ffmpeg seeks in a file on a server by asking for parts of it; a server that answers with the
    whole file from its start, over and over, leaves ffmpeg an empty video, which yt-dlp reports
    as downloaded. Read to the first shown picture only: ``fetch_source`` probes the file whole.
    """
    import av

    try:
        with open_video(path) as container:
            for packet in container.demux(container.streams.video[0]):
                if packet.pts is not None and not packet.is_discard:
                    return
    except (NotAVideoError, FileNotFoundError, av.error.FFmpegError):
        pass
    raise _SectionNotCut("the server sent no part of the video ffmpeg could cut")


def _refuse_before_download(source: VideoSource, person: str):
    """yt-dlp's ``match_filter`` for one source: it refuses, before their download, a live stream,
    the first video of a playlist, and a video that ends before the source's ``start``.

    A URL of several videos (a YouTube playlist or channel, a page of clips, or a page that leads
    to one) would be downloaded whole, each video over the last, into the one file a source makes;
    a live stream would be downloaded for as long as it lasts; a ``start`` past the video's end
    would leave nothing to use. (A site that does not say how long its video is has it checked
    after the download, by ingestion.)
    """
    url = source.url

    def refuse(info: dict, *, incomplete: bool) -> None:
        if info.get("is_live") or info.get("live_status") == "is_live":
            raise SourceError(
                f"{person}: {url} is a live stream, which would be downloaded for as long as it"
                " lasts; give a recorded video (a stream's recording once it has ended)"
            )
        if info.get("playlist_index") is None and info.get("n_entries") is None:
            duration = info.get("duration")
            if source.start is not None and duration and source.start >= duration:
                raise StartPastTheEndError(person, source, duration)
            return None
        count = info.get("n_entries")
        playlist = info.get("playlist_webpage_url") or url
        led_to = f" at {playlist}" if playlist != url else ""  # where a page led
        raise SourceError(
            f"{person}: {url} holds {count or 'several'} videos (a playlist, a channel or a page"
            f" of clips{led_to}), not one; give each video as its own source"
            " (`- url: ...` under sources)"
        )

    return refuse


class StartPastTheEndError(SourceError):
    """A source's ``start`` lies at or past its video's end (``start``, ``location``,
    ``duration_s`` say which), so nothing of it is left to use."""

    def __init__(self, person: str, source: VideoSource, duration_s: float):
        self.person, self.source, self.duration_s = person, source, duration_s
        self.start, self.location = source.start, source.location
        super().__init__(
            f"{person}: start {source.start}s of {source.location} is past its end "
            f"({duration_s:.1f}s); fix `start`"
        )

    def __reduce__(self) -> tuple[type, tuple[str, VideoSource, float]]:
        return type(self), (self.person, self.source, self.duration_s)


def stage_local_file(source: VideoSource, staging_dir: Path, *, person: str) -> Path:
    """Hard-link (or copy) a local source into ``staging_dir`` so that moving it never moves the
    original."""
    original = Path(str(source.path)).expanduser()
    if not original.is_file():
        raise SourceError(
            f"{person}: local source {source.path} does not exist; fix the path in"
            " parameters_ingestion.yml"
        )
    staged = staging_dir / f"local{original.suffix.lower() or '.mp4'}"
    try:
        staged.hardlink_to(original)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(original, staged)
    return staged


def fetch_source(
    source: VideoSource,
    existing: dict[str, Path],
    existing_checksums: dict[str, str],
    options: DownloadOptions,
    *,
    person: str,
    staging_root: Path,
) -> FetchedVideo:
    """Make one source local, reusing a file already in the person's folder when it is the same.

    Reuse rules: a file with the configured ``sha256`` (whatever its name); a local source whose
    checksum matches a file there; a URL whose file name (made from the URL, and the seconds of a
    ``section``) is there, or the whole video's. Otherwise the source is fetched into a fresh
    staging folder (a URL's ``section`` only, when it has one), checked to be a video, and its
    checksum compared.

    Args:
        source: the configured source.
        existing: ``{file name: path}`` already in ``data/01_raw/videos/<person>/``.
        existing_checksums: ``{file name: sha256}`` of those files (filled lazily by the caller's
            cache).
        options: download settings.
        person: the person's namespace, for messages.
        staging_root: the folder a fetched file is made in, beside its final place (same file
            system, so placing it is a rename); each fetch gets its own hidden subfolder there.

    Raises:
        SourceError: one sentence naming the person, the source and what to do.
    """

    def reuse(
        name: str,
        found_by: str = "checksum matches",
        section: tuple[float, float | None] | None = None,
    ) -> FetchedVideo:
        path = existing[name]
        info = _probe_or_fail(path, source, person=person)
        logger.info(
            "%s: %s already fetched as %s (%s); not fetching again",
            person,
            source.location,
            name,
            found_by,
        )
        title = source.title or Path(name).stem
        checksum = existing_checksums[name]
        return FetchedVideo(source, name, path, title, checksum, info, True, section)

    found = _already_there(source, existing, existing_checksums)
    if found is not None:
        return reuse(*found)

    staging_root.mkdir(parents=True, exist_ok=True)
    staging_dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}fetch-", dir=staging_root))
    section = None
    try:
        if source.url is not None:
            staged, title, section = download_url(source, staging_dir, options, person=person)
        else:
            staged = stage_local_file(source, staging_dir, person=person)
            title = Path(str(source.path)).stem
        info = _probe_or_fail(staged, source, person=person)
        if staged.suffix.lower() not in VIDEO_SUFFIXES:  # a video, but the raw folder would hide it
            raise SourceError(
                f"{person}: {source.location} is a video named {staged.suffix}, which the pipeline"
                " does not list as one; rename it to its container's usual suffix (one of"
                f" {' '.join(VIDEO_SUFFIXES)})"
            )
        checksum = sha256_of(staged)
        if source.sha256 is not None and checksum != source.sha256.lower():
            raise SourceError(
                f"{person}: {source.location} has sha256 {checksum}, not the configured"
                f" {source.sha256}; the file changed upstream: check it and update `sha256`"
            )
    except BaseException:
        shutil.rmtree(staging_dir, ignore_errors=True)
        raise
    for name in existing:  # a local file already copied in under its own name
        if existing_checksums[name] == checksum:
            shutil.rmtree(staging_dir, ignore_errors=True)
            return reuse(name, section=section)
    name = source.file_name(staged.suffix.lower() or ".mp4", section)
    logger.info(
        "%s: fetched %s (%.1f MB) as %s", person, source.location, staged.stat().st_size / 1e6, name
    )
    return FetchedVideo(source, name, staged, source.title or title, checksum, info, False, section)


def _already_there(
    source: VideoSource, existing: dict[str, Path], existing_checksums: dict[str, str]
) -> tuple[str, str, tuple[float, float | None] | None] | None:
    """The file of ``existing`` a source needs no fetch for: ``(name, how it was found, the
    section it holds)``, or ``None``.

    A file with the configured ``sha256``, whatever its name; else, for a URL, the file named
    after it (``VideoSource.fetched_file``), whatever its container.
    """
    if source.sha256 is not None:
        for name in existing:
            if existing_checksums[name] == source.sha256.lower():
                return name, "checksum matches", None
        return None
    if source.url is None:
        return None
    found = source.fetched_file(existing)
    return None if found is None else (found[0], "same URL", found[1])


def _probe_or_fail(path: Path, source: VideoSource, *, person: str) -> VideoInfo:
    try:
        return probe_video(path)
    except NotAVideoError as error:
        # Named by the source the user wrote: `path` is the staged copy, which they never saw.
        raise SourceError(f"{person}: {source.location} {error.detail}") from error
    except FileNotFoundError as error:
        raise SourceError(
            f"{person}: {source.location} is not a playable video ({error}); point the source at a"
            " video"
        ) from error
