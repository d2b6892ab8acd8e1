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
from faceswap_pipeline.sources.resolve import missing_local_video, names_a_url, resolve_video

__all__ = [
    "DownloadOptions",
    "FetchedVideo",
    "Seconds",
    "SourceError",
    "StartPastTheEndError",
    "VideoSource",
    "fetch_source",
    "missing_local_video",
    "names_a_url",
    "resolve_video",
    "sha256_of",
]
