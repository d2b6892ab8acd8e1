"""Sources of video: yt-dlp downloads, direct links and local files, made into local, checked
files."""

from faceswap_pipeline.sources.fetch import (
    DownloadOptions,
    FetchedVideo,
    Seconds,
    SourceError,
    StartPastTheEndError,
    VideoSource,
    fetch_source,
    sha256_of,
)
from faceswap_pipeline.sources.resolve import names_a_url, resolve_video

__all__ = [
    "DownloadOptions",
    "FetchedVideo",
    "Seconds",
    "SourceError",
    "StartPastTheEndError",
    "VideoSource",
    "fetch_source",
    "names_a_url",
    "resolve_video",
    "sha256_of",
]
