"""The one video a stage works on: a configured local path or URL, else a person's first video."""

from __future__ import annotations

from pathlib import Path

from faceswap_pipeline.errors import BadInputError, MissingInputError
from faceswap_pipeline.sources.fetch import DownloadOptions, SourceError, VideoSource, fetch_source


def names_a_url(video: str) -> bool:
    """Whether a configured video (`conversion.video`) is a URL rather than a local path."""
    return "://" in video


def missing_local_video(video: str | None, parameter: str = "conversion.video") -> str | None:
    """Why the local video `parameter` names cannot be read, or None (a URL, none, or a file)."""
    if video is None or names_a_url(video) or Path(video).expanduser().is_file():
        return None
    return f"{parameter} {video} does not exist; give a video file or an http(s) URL"


def resolve_video(
    video: str | None,
    raw_videos: dict[str, Path],
    staging: Path,
    *,
    person: str,
    parameter: str = "conversion.video",
    fetched: dict[str, Path] | None = None,
    download: DownloadOptions | None = None,
    seconds: tuple[float | None, float | None] = (None, None),
) -> tuple[Path, str, float]:
    """The local video to work on, how to name it, and the second of the video it starts at.

    Args:
        video: a local path or an http(s) URL; None takes the first (by name) of `raw_videos`.
        raw_videos: `{name: path}` of the person's raw videos (the ingestion's output).
        staging: the folder a URL is downloaded into (the caller removes it afterwards).
        person: the person whose raw videos these are, for messages (`person_a`).
        parameter: the parameter that named `video`, for messages.
        fetched: `{name: path}` of the videos URLs were fetched into already (the conversion's
            `conversion_raw_videos`): a URL found there is not downloaded again.
        download: how a URL not fetched yet is downloaded (ingestion's `download` parameters:
            its cookies too); None: the defaults.
        seconds: `(start, end)` of the video the stage works on (`None`: from its start, to its
            end): a URL's video is fetched for those only (`VideoSource.section`).

    Returns:
        `(path, name, starts_at_s)`: the local file; the raw video's name, the path or the URL as
        given; and the video's second the file starts at (a section of a URL's video: its
        start; else 0): a second of the video is that second less `starts_at_s` in the file.

    Raises:
        BadInputError: no video given and the person has no raw videos.
        MissingInputError: a local path that is not a file.
        SourceError: a URL that could not be fetched (`network` tells whether to retry offline).
    """
    if video is None:
        if not raw_videos:
            raise BadInputError(
                f"{parameter} is not set and {person} has no raw videos: set "
                f"{parameter} to a file or URL, or run the ingestion pipeline"
            )
        name = sorted(raw_videos)[0]
        return Path(raw_videos[name]), name, 0.0
    if not names_a_url(video):
        missing = missing_local_video(video, parameter)
        if missing is not None:
            raise MissingInputError(missing)
        return Path(video).expanduser(), video, 0.0
    source = VideoSource(url=video, start=seconds[0], end=seconds[1])
    found = source.fetched_file(fetched or {})
    if found is not None:
        name, section = found
        return Path(fetched[name]), video, section[0] if section else 0.0
    try:
        fetched_now = fetch_source(
            source,
            {},
            {},
            download or DownloadOptions(),
            person=parameter.partition(".")[0],
            staging_root=staging,
        )
    except SourceError as error:
        hint = f"; to work offline, set {parameter} to a local video file" if error.network else ""
        raise SourceError(f"{parameter}: {error}{hint}", network=error.network) from error
    # Under the name ingestion would give it (the progress lines name the file), not yt-dlp's
    # `download.mp4`.
    named = fetched_now.path.rename(fetched_now.path.with_name(fetched_now.file_name))
    section = fetched_now.section
    return named, video, section[0] if section else 0.0
