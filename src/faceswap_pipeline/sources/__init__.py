"""Sources of video: yt-dlp downloads, direct links and local files, made into local, checked
files."""

from faceswap_pipeline.sources.fetch import (
    DownloadOptions,
    FetchedVideo,
    SourceError,
    VideoSource,
    fetch_source,
    sha256_of,
)
from faceswap_pipeline.sources.resolve import resolve_video

__all__ = [
    "DownloadOptions",
    "FetchedVideo",
    "SourceError",
    "VideoSource",
    "fetch_source",
    "resolve_video",
    "sha256_of",
]
