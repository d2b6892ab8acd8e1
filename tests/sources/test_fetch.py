"""Fetching sources for real: yt-dlp's generic extractor against a local HTTP server, and local
files."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from deno import find_deno_bin

from faceswap_pipeline.sources import (
    DownloadOptions,
    SourceError,
    VideoSource,
    fetch_source,
    resolve_video,
)
from faceswap_pipeline.sources import fetch as fetch_module
from faceswap_pipeline.sources.fetch import explain_download_error, ytdlp_options
from faceswap_pipeline.video.decode import iter_frames
from tests.helpers.audio_tracks import audio_rms
from tests.helpers.local_servers import free_port, serve_folder
from tests.helpers.media_server import MediaServer
from tests.helpers.phone_media import write_hdr_clip

FAST = DownloadOptions(retries=1, socket_timeout_s=5, retry_backoff_s=0)


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_videos: Path):
    """A server over the shared clips (parts of them when asked, as ffmpeg seeks), a text file
    posing as .mp4, an HTML page without video and
    one with two clips (and one that leads to it)."""
    folder = tmp_path_factory.mktemp("www")
    for name in ("single_d18.mp4", "no_audio_d0.mp4", "multi_hamilton.mp4", "person_a_d6.mp4"):
        (folder / name).symlink_to(shared_videos / name)
    # d0 in another container, as sites serve `.mkv` and `.webm`.
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            str(shared_videos / "no_audio_d0.mp4"),
        ]
        + ["-c", "copy", str(folder / "d0.mkv")],
        check=True,
    )
    (folder / "notes.mp4").write_text("this is not a video\n" * 50)
    (folder / "page.html").write_text("<html><body><p>no video here</p></body></html>")
    (folder / "two_clips.html").write_text(
        "<html><body><video src='single_d18.mp4'></video>"
        "<video src='no_audio_d0.mp4'></video></body></html>"
    )
    (folder / "leads_to_two_clips.html").write_text(
        '<html><head><meta http-equiv="refresh" content="0; url=two_clips.html"></head></html>'
    )
    with MediaServer(folder) as server:
        yield server


_STAGING: list[Path] = []


@pytest.fixture(autouse=True)
def _staging_root(staging: Path):
    """Each test's fetches are made in its own work folder (the catalog's
    `{person}.fetch_staging`)."""
    _STAGING.append(staging)
    yield
    _STAGING.pop()


def _fetch(source: VideoSource, existing=None, options=FAST):
    existing = existing or {}
    checksums = {
        name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in existing.items()
    }
    return fetch_source(
        source, existing, checksums, options, person="person_a", staging_root=_STAGING[-1]
    )


@pytest.fixture(scope="module")
def streamed(tmp_path_factory, shared_videos: Path):
    """d18 as sites stream video: picture and sound as separate streams of 2 s segments, in a DASH
    manifest (`manifest.mpd`) and an HLS playlist (`master.m3u8`, its sound an alternative audio
    rendition), as YouTube and most sites serve anything above 360p; a vertical video in three
    sizes (`vertical/manifest.mpd`); a live stream's playlist (`live.m3u8`)."""

    def ffmpeg(*arguments: str) -> None:
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", *arguments], check=True
        )

    folder = tmp_path_factory.mktemp("streams")
    d18 = ("-i", str(shared_videos / "single_d18.mp4"), "-map", "0:v", "-map", "0:a", "-c", "copy")
    ffmpeg(*d18, "-f", "dash", "-seg_duration", "2", str(folder / "manifest.mpd"))
    ffmpeg(
        *d18,
        *("-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"),
        *("-var_stream_map", "v:0,agroup:sound a:0,agroup:sound,default:yes"),
        *(
            "-master_pl_name",
            "master.m3u8",
            "-hls_segment_filename",
            str(folder / "hls_%v_%03d.ts"),
        ),
        str(folder / "hls_%v.m3u8"),
    )
    # A vertical phone video (2 s of d12's middle) as a site offers it: at 360×640, 720×1280 and
    # 1080×1920, its sound apart (in a folder of its own: DASH names its segments alike).
    (folder / "vertical").mkdir()
    ffmpeg(
        *("-t", "2", "-i", str(shared_videos / "single_d12.mp4")),
        "-filter_complex",
        "[0:v]crop=288:512,split=3[a][b][c];[a]scale=360:640[small];"
        "[b]scale=720:1280[medium];[c]scale=1080:1920[large]",
        *("-map", "[small]", "-map", "[medium]", "-map", "[large]", "-map", "0:a"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", "-f", "dash"),
        *("-seg_duration", "2", "-adaptation_sets", "id=0,streams=v id=1,streams=a"),
        str(folder / "vertical" / "manifest.mpd"),
    )
    # A live stream's playlist: the same without its end (more segments would follow).
    vod = (folder / "hls_0.m3u8").read_text()
    (folder / "live.m3u8").write_text(vod.replace("#EXT-X-ENDLIST\n", ""))
    with MediaServer(folder) as server:
        yield server


def test_a_vertical_video_comes_at_720p_counted_by_its_shorter_side(streamed):
    """`max_height: 720` means 720p as sites and players say it: a phone's vertical video at
    720×1280 (a cap on the height took 360×640, half the face)."""
    fetched = _fetch(VideoSource(url=f"{streamed.url}/vertical/manifest.mpd"))
    assert (fetched.info.width, fetched.info.height) == (720, 1280)
    assert fetched.info.audio_codec == "aac"


@pytest.fixture(scope="module")
def hdr_and_sdr(tmp_path_factory, shared_videos: Path):
    """2 s of d18 as a site offers an HDR video (a phone's, uploaded as filmed): an HDR rendition
    (10-bit, PQ; declared VP9.2 as YouTube's are) and an SDR one of the same size, its sound
    apart, in a DASH manifest."""
    folder = tmp_path_factory.mktemp("hdr")
    source = shared_videos / "single_d18.mp4"
    hdr = write_hdr_clip(source, folder / "hdr.mp4", "pq", 2.0)
    subprocess.run(
        [
            *(imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-t", "2"),
            *("-i", str(source), "-i", str(hdr), "-map", "0:v", "-map", "1:v", "-map", "0:a"),
            *("-c", "copy", "-f", "dash", "-seg_duration", "2"),
            *("-adaptation_sets", "id=0,streams=0 id=1,streams=1 id=2,streams=2"),
            str(folder / "manifest.mpd"),
        ],
        check=True,
    )
    # FFmpeg leaves an HEVC rendition's codecs empty; a site names its HDR one.
    manifest = folder / "manifest.mpd"
    manifest.write_text(
        manifest.read_text().replace('codecs=""', 'codecs="vp09.02.51.10.01.09.16.09.00"')
    )
    with MediaServer(folder) as server:
        yield server


def test_an_hdr_video_comes_as_the_site_s_sdr_rendition(hdr_and_sdr):
    """yt-dlp by default takes the HDR rendition (more bits, a higher bit rate), which the
    pipeline would tone-map itself: the site's own SDR one is what viewers saw."""
    fetched = _fetch(VideoSource(url=f"{hdr_and_sdr.url}/manifest.mpd"))
    assert fetched.info.hdr is None and fetched.info.video_codec == "h264"
    assert (fetched.info.width, fetched.info.height) == (480, 480)
    assert fetched.info.audio_codec == "aac"


def test_a_live_stream_is_refused_before_its_download(streamed):
    url = f"{streamed.url}/live.m3u8"
    segments_before = streamed.requests["/hls_0_000.ts"]
    with pytest.raises(SourceError) as refused:
        _fetch(VideoSource(url=url))
    assert str(refused.value) == (
        f"person_a: {url} is a live stream, which would be downloaded for as long as it lasts;"
        " give a recorded video (a stream's recording once it has ended)"
    )
    assert streamed.requests["/hls_0_000.ts"] == segments_before


@pytest.mark.parametrize("manifest", ["manifest.mpd", "master.m3u8"])
def test_picture_and_sound_streamed_apart_are_merged_into_one_video(
    streamed, shared_videos, manifest, caplog
):
    caplog.set_level(logging.INFO, logger="faceswap_pipeline.sources.fetch")
    fetched = _fetch(VideoSource(url=f"{streamed.url}/{manifest}"))
    info = fetched.info
    assert (info.video_codec, info.audio_codec, info.frame_count) == ("h264", "aac", 216)
    assert info.duration_s == pytest.approx(7.2, abs=0.05)
    source_rms = audio_rms(shared_videos / "single_d18.mp4")
    assert audio_rms(fetched.path) == pytest.approx(source_rms, rel=0.05)
    # The log names each part as it comes, then the one video made of them, and warns of nothing.
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    url = f"{streamed.url}/{manifest}"
    assert f"person_a: {url} (picture): downloaded" in caplog.text
    assert f"person_a: {url} (sound): downloaded" in caplog.text
    assert f"person_a: fetched {url}" in caplog.text


def test_only_the_seconds_a_source_uses_are_downloaded(served, shared_videos, caplog):
    """Seconds 10–12 of d6 (33.6 s): a section of the video, its first frame d6's at 10 s, picture
    for picture (cut without re-encoding), its sound with it, named by the seconds it holds."""
    caplog.set_level(logging.INFO, logger="faceswap_pipeline.sources.fetch")
    url = f"{served.url}/person_a_d6.mp4"
    fetched = _fetch(VideoSource(url=url, start=10, end=12))
    assert fetched.section == (10.0, 12.0)
    assert fetched.file_name.startswith("person_a_d6-") and fetched.file_name.endswith(
        "-10s-12s.mp4"
    )
    # To the packet after the end, which face extraction's window leaves out.
    assert 2.0 <= fetched.info.duration_s < 2.3
    assert fetched.info.audio_codec == "aac" and fetched.info.first_frame_time_s == 0.0
    whole = shared_videos / "person_a_d6.mp4"
    assert fetched.path.stat().st_size < 0.2 * whole.stat().st_size
    original = list(iter_frames(whole, start_s=10, end_s=12))
    cut = list(iter_frames(fetched.path, end_s=2))
    assert len(cut) == len(original) == 60
    for frame, source_frame in zip(cut, original, strict=True):
        assert np.array_equal(frame.rgb, source_frame.rgb)
    assert f"person_a: {url} (seconds 10–12): downloaded" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_a_section_s_download_says_how_much_has_come(served, caplog, monkeypatch):
    """ffmpeg tells yt-dlp nothing until it ends: the size of what it writes does, as it comes
    (here every 0.3 s from a server trickling 64 KiB every 0.2 s; 10 s by default)."""
    monkeypatch.setattr(fetch_module, "SECTION_PROGRESS_EVERY_S", 0.3)
    caplog.set_level(logging.INFO, logger="faceswap_pipeline.sources.fetch")
    url = f"{served.url}/slow/person_a_d6.mp4"
    fetched = _fetch(VideoSource(url=url, start=5, end=30))
    assert fetched.section == (5.0, 30.0)
    so_far = [
        float(record.getMessage().split(": ")[-1].removesuffix(" MB so far"))
        for record in caplog.records
        if record.getMessage().endswith("MB so far")
    ]
    assert len(so_far) >= 2 and so_far == sorted(so_far), caplog.text
    assert all(f"person_a: {url} (seconds 5–30): " in m for m in caplog.messages if "so far" in m)


@pytest.mark.parametrize("manifest", ["manifest.mpd", "master.m3u8"])
def test_a_section_of_picture_and_sound_streamed_apart(streamed, shared_videos, manifest):
    fetched = _fetch(VideoSource(url=f"{streamed.url}/{manifest}", start=2, end=5))
    assert fetched.section == (2.0, 5.0)
    assert 3.0 <= fetched.info.duration_s < 3.3
    assert (fetched.info.video_codec, fetched.info.audio_codec) == ("h264", "aac")
    first = next(iter_frames(fetched.path))
    assert first.time_s == 0.0
    at_2s = next(iter_frames(shared_videos / "single_d18.mp4", start_s=2))
    assert np.array_equal(first.rgb, at_2s.rgb)


def test_a_section_to_the_end_and_one_already_fetched(served, tmp_path, caplog):
    source = VideoSource(url=f"{served.url}/single_d18.mp4", start=5)
    first = _fetch(source)
    assert first.section == (5.0, None) and first.file_name.endswith("-5s-end.mp4")
    assert first.info.duration_s == pytest.approx(7.2 - 5, abs=0.1)
    placed = tmp_path / first.file_name
    first.path.rename(placed)
    before = served.requests["/single_d18.mp4"]
    caplog.set_level(logging.INFO, logger="faceswap_pipeline.sources.fetch")
    again = _fetch(source, existing={first.file_name: placed})
    assert again.reused and again.path == placed and again.section == (5.0, None)
    assert served.requests["/single_d18.mp4"] == before
    assert f"already fetched as {first.file_name} (same URL)" in caplog.text
    # Other seconds of the same video are another file.
    assert VideoSource(url=source.url, start=4).file_name(section=(4.0, None)) != first.file_name


def test_a_whole_video_already_fetched_serves_any_of_its_seconds(served, tmp_path):
    """Downloaded whole before (before sections were, or where one could not be cut): no
    download, and face extraction takes the seconds out of it."""
    whole = _fetch(VideoSource(url=f"{served.url}/single_d18.mp4"))
    placed = tmp_path / whole.file_name
    whole.path.rename(placed)
    before = served.requests["/single_d18.mp4"]
    part = _fetch(
        VideoSource(url=f"{served.url}/single_d18.mp4", start=2, end=4),
        existing={whole.file_name: placed},
    )
    assert part.reused and part.path == placed and part.section is None
    assert served.requests["/single_d18.mp4"] == before


def test_a_server_that_cannot_send_part_of_a_file_gives_all_of_it(served, caplog):
    caplog.set_level(logging.INFO, logger="faceswap_pipeline.sources.fetch")
    url = f"{served.url}/noseek/person_a_d6.mp4"
    fetched = _fetch(VideoSource(url=url, start=10, end=12))
    assert fetched.section is None and fetched.info.frame_count == 1008
    assert not fetched.file_name.endswith("s.mp4")
    assert (
        f"person_a: {url}: could not download only seconds 10–12 (the server sent no part of the"
        " video ffmpeg could cut); downloading the whole video, those seconds are read out of it"
    ) in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_a_start_past_the_video_s_end_is_refused_before_its_download(streamed):
    url = f"{streamed.url}/master.m3u8"
    segments_before = streamed.requests["/hls_0_000.ts"]
    with pytest.raises(SourceError) as refused:
        _fetch(VideoSource(url=url, start=30))
    assert (
        str(refused.value) == f"person_a: start 30.0s of {url} is past its end (7.0s); fix `start`"
    )
    assert streamed.requests["/hls_0_000.ts"] == segments_before


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(83, 83.0), ("83.5", 83.5), ("1:23", 83.0), ("01:23.5", 83.5), ("1:02:03", 3723.0)],
)
def test_start_and_end_may_be_written_as_a_player_shows_them(given, seconds):
    """As copied from YouTube: `start: "01:23"` (YAML reads an unquoted 01:23 as that text)."""
    assert VideoSource(url="https://example.com/a.mp4", start=given).start == seconds
    assert VideoSource(path="a.mp4", end=given).end == seconds


@pytest.mark.parametrize("given", ["1:75", "soon", "-0:10", "1:2:3:4"])
def test_a_time_that_is_not_one_is_refused_saying_how_to_write_it(given):
    with pytest.raises(ValueError, match="give seconds .83.5. or a time as players show it"):
        VideoSource(url="https://example.com/a.mp4", start=given)


@pytest.mark.parametrize(
    ("fields", "section"),
    [
        ({"url": "https://example.com/a.mp4", "start": 60, "end": 90}, (60.0, 90.0)),
        ({"url": "https://example.com/a.mp4", "end": 90}, (0.0, 90.0)),
        ({"url": "https://example.com/a.mp4", "start": 60}, (60.0, None)),
        ({"url": "https://example.com/a.mp4", "start": 0}, None),
        ({"url": "https://example.com/a.mp4"}, None),
        # The checksum is the whole file's: a cut never matches it.
        ({"url": "https://example.com/a.mp4", "start": 60, "sha256": "a" * 64}, None),
        ({"path": "a.mp4", "start": 60}, None),
    ],
)
def test_which_sources_download_a_section(fields, section):
    assert VideoSource(**fields).section == section


def test_direct_link_downloads_through_ytdlp(served, shared_videos):
    fetched = _fetch(VideoSource(url=f"{served.url}/single_d18.mp4"))
    assert not fetched.reused
    assert fetched.path.read_bytes() == (shared_videos / "single_d18.mp4").read_bytes()
    assert fetched.info.frame_count == 216 and fetched.info.audio_codec == "aac"
    assert fetched.file_name.startswith("single_d18-") and fetched.file_name.endswith(".mp4")


@pytest.mark.parametrize("name", ["no_audio_d0.mp4", "d0.mkv"])
def test_url_already_fetched_is_not_fetched_again(served, tmp_path, caplog, name):
    """Found by its name, whatever its container (a `.mkv` was looked for as `.mp4`, downloaded
    again, then found by its checksum)."""
    source = VideoSource(url=f"{served.url}/{name}")
    first = _fetch(source)
    assert first.file_name.endswith(Path(name).suffix)
    placed = tmp_path / first.file_name
    first.path.rename(placed)
    before = served.requests[f"/{name}"]
    caplog.set_level(logging.INFO, logger="faceswap_pipeline.sources.fetch")
    second = _fetch(source, existing={first.file_name: placed})
    assert second.reused and second.path == placed
    assert served.requests[f"/{name}"] == before
    assert f"already fetched as {first.file_name} (same URL); not fetching again" in caplog.text


def test_checksum_finds_a_file_whatever_its_name(served, tmp_path, shared_videos):
    digest = hashlib.sha256((shared_videos / "single_d18.mp4").read_bytes()).hexdigest()
    placed = tmp_path / "renamed by hand.mp4"
    placed.symlink_to(shared_videos / "single_d18.mp4")
    # The port is closed: only the checksum can make this work (an offline run).
    source = VideoSource(url=f"http://127.0.0.1:{free_port()}/d18.mp4", sha256=digest)
    fetched = _fetch(source, existing={placed.name: placed})
    assert fetched.reused and fetched.file_name == "renamed by hand.mp4"


def test_wrong_checksum_is_refused(served):
    source = VideoSource(url=f"{served.url}/single_d18.mp4", sha256="0" * 64)
    with pytest.raises(SourceError, match="sha256"):
        _fetch(source)


def test_http_404_names_person_and_url(served):
    url = f"{served.url}/missing.mp4"
    with pytest.raises(SourceError, match=r"person_a: could not download .*missing\.mp4.*HTTP 404"):
        _fetch(VideoSource(url=url))


def test_refused_connection_fails_after_bounded_retries():
    url = f"http://127.0.0.1:{free_port()}/clip.mp4"
    with pytest.raises(
        SourceError,
        match=r"person_a: could not download .* after 2 attempts: the server could not be reached",
    ):
        _fetch(VideoSource(url=url))


def test_text_file_named_mp4_is_not_a_video(served):
    with pytest.raises(SourceError, match=r"person_a: .*notes\.mp4 is not a video file PyAV"):
        _fetch(VideoSource(url=f"{served.url}/notes.mp4"))


def test_html_page_without_video(served):
    with pytest.raises(SourceError, match=r"person_a: .*page\.html"):
        _fetch(VideoSource(url=f"{served.url}/page.html"))


@pytest.mark.parametrize("page", ["two_clips.html", "leads_to_two_clips.html"])
def test_a_page_of_several_videos_is_refused_before_any_is_downloaded(served, page):
    """A playlist (a YouTube playlist, a channel) or a page of several clips, or a page that leads
    to one, is not one source: downloaded, each video would be written over the last."""
    clips = ("/single_d18.mp4", "/no_audio_d0.mp4")
    requested_before = [served.requests[clip] for clip in clips]
    with pytest.raises(SourceError) as refused:
        _fetch(VideoSource(url=f"{served.url}/{page}"))
    led_to = f" at {served.url}/two_clips.html" if page != "two_clips.html" else ""
    assert str(refused.value) == (
        f"person_a: {served.url}/{page} holds 2 videos (a playlist, a channel or a page of"
        f" clips{led_to}), not one; give each video as its own source"
        " (`- url: ...` under sources)"
    )
    assert [served.requests[clip] for clip in clips] == requested_before
    assert not any(_STAGING[-1].rglob("*.mp4"))


def test_a_video_for_signed_in_visitors_downloads_with_the_browsers_cookies(
    served, shared_videos, tmp_path
):
    url = f"{served.url}/members/single_d18.mp4"
    with pytest.raises(SourceError) as refused:
        _fetch(VideoSource(url=url))
    assert str(refused.value) == (
        f"person_a: could not download {url}: the server answered HTTP 403 (not allowed); check"
        " the URL, or, if the video needs a signed-in visitor, export the cookies of a browser"
        " signed in to the site into a cookies.txt (Netscape format) and set"
        " download.cookies_file to it (conf/local/parameters_ingestion.yml)"
    )
    exported = tmp_path / "cookies.txt"
    exported.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tmember\tyes\n")
    as_exported = exported.read_bytes()
    signed_in = DownloadOptions(**{**FAST.model_dump(), "cookies_file": str(exported)})
    fetched = _fetch(VideoSource(url=url), options=signed_in)
    assert fetched.path.read_bytes() == (shared_videos / "single_d18.mp4").read_bytes()
    # Cookies that no longer sign in (expired, signed out) are named.
    stale = tmp_path / "stale.txt"
    stale.write_text(as_exported.decode().replace("member\tyes", "member\tlapsed"))
    lapsed = signed_in.model_copy(update={"cookies_file": str(stale)})
    with pytest.raises(SourceError) as refused:
        _fetch(VideoSource(url=url), options=lapsed)
    assert str(refused.value).endswith(
        "the server answered HTTP 403 (not allowed); check the URL, or, if the video needs a"
        f" signed-in visitor, the cookies in {stale} (download.cookies_file) did not sign in:"
        " export them again from a browser signed in to the site (they expire, and end when it"
        " signs out)"
    )
    # The conversion's and the evaluation's `conversion.video` URL is fetched with them too.
    converted, name, starts_at_s = resolve_video(
        url, {}, _STAGING[-1] / "convert", person="person_a", download=signed_in
    )
    assert converted.read_bytes() == fetched.path.read_bytes() and name == url
    assert starts_at_s == 0.0
    assert converted.name == fetched.file_name
    # yt-dlp wrote its cookie jar back to a copy: the user's file is as they exported it, and no
    # copy of it is left in the work folders.
    assert exported.read_bytes() == as_exported
    assert not list(_STAGING[-1].rglob("cookies.txt"))


def test_a_site_that_wants_a_signed_in_visitor_is_answered_with_the_setting():
    """YouTube's "Sign in to confirm you're not a bot" (from a server's address) and its age check
    come with yt-dlp's advice for its command line: the user is told the project's setting."""
    from yt_dlp.extractor.youtube import YoutubeIE
    from yt_dlp.utils import DownloadError, ExtractorError

    with pytest.raises(ExtractorError) as raised:
        YoutubeIE().raise_login_required("Sign in to confirm you’re not a bot", method="cookies")
    error = DownloadError(
        f"ERROR: [youtube] dQw4w9WgXcQ: {raised.value}", (raised.type, raised.value, raised.tb)
    )
    reason, transient, network = explain_download_error(error)
    assert reason == (
        "[youtube] dQw4w9WgXcQ: Sign in to confirm you’re not a bot. The site wants a signed-in"
        " visitor: export the cookies of a browser signed in to the site into a cookies.txt"
        " (Netscape format) and set download.cookies_file to it"
        " (conf/local/parameters_ingestion.yml)"
    )
    assert not transient and not network


def test_a_site_yt_dlp_no_longer_understands_is_answered_with_how_to_update_it():
    """yt-dlp's own advice for an extractor that broke (`yt-dlp -U`) does not update the project's
    pip-installed yt-dlp: the user is told the command that does."""
    from yt_dlp.utils import DownloadError, ExtractorError
    from yt_dlp.version import __version__

    broken = ExtractorError("Unable to extract nsig function code", ie="youtube", video_id="xyz")
    error = DownloadError(f"ERROR: {broken}", (type(broken), broken, None))
    reason, transient, network = explain_download_error(error)
    assert reason == (
        "[youtube] xyz: Unable to extract nsig function code; the site may have changed since"
        f' yt-dlp {__version__}: update it (.venv/bin/pip install -U "yt-dlp[default,deno]") and'
        " run again"
    )
    assert not transient and not network


def test_a_cookies_file_that_is_not_there_is_refused_by_name(tmp_path):
    from faceswap_pipeline.pipelines.ingestion.params import parse_download_options

    missing = tmp_path / "missing.txt"
    with pytest.raises(ValueError) as refused:
        parse_download_options({"cookies_file": str(missing)})
    assert f"download.cookies_file: Value error, {missing} is not a file; export" in str(
        refused.value
    )


def test_download_cut_off_midway_leaves_nothing_usable(served):
    with pytest.raises(SourceError, match="person_a"):
        _fetch(VideoSource(url=f"{served.url}/truncated/multi_hamilton.mp4"))


def test_local_path_is_staged_without_touching_the_original(shared_videos):
    original = shared_videos / "no_audio_d0.mp4"
    fetched = _fetch(VideoSource(path=str(original)))
    assert fetched.info.audio_codec is None and fetched.info.frame_count == 78
    assert fetched.path != original and original.is_file()


def test_missing_local_path():
    with pytest.raises(
        SourceError, match=r"person_a: local source /no/such/clip\.mp4 does not exist"
    ):
        _fetch(VideoSource(path="/no/such/clip.mp4"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"path": "a.mp4", "start": -1}, "greater than or equal to 0"),
        ({"path": "a.mp4", "start": 5, "end": 2}, "end .* must be after start"),
        ({"path": "a.mp4", "fps": 0}, "greater than 0"),
        ({"url": "file:///etc/passwd"}, "must start with http"),
        ({}, "exactly one of `url` or `path`"),
        ({"path": "a.mp4", "exec": "rm -rf /"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_source_fields_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        VideoSource(**fields)


@pytest.mark.parametrize(
    ("url", "stem"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s", "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/shorts/aqz-KE-bpKQ", "aqz-KE-bpKQ"),
        ("https://www.youtube.com/watch?v=../../x", "x"),
        ("https://example.com/clips/interview.mp4?v=2", "interview"),
    ],
)
def test_a_url_names_its_file_by_the_video_it_is(url, stem):
    """Logs, face tables and reports name a video by its file: a YouTube video's by its id (its
    watch page's stem is `watch` for every video)."""
    name = VideoSource(url=url).file_name()
    assert name.startswith(f"{stem}-") and name.endswith(".mp4")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/../../etc/passwd.mp4",
        "https://example.com/%2e%2e%2f%2e%2e%2fescape.mp4",
        "https://example.com/\u202eevil\u0000name.mp4",
        "https://example.com/" + "x" * 400 + ".mp4",
    ],
)
def test_file_names_cannot_escape_the_folder(url):
    name = VideoSource(url=url).file_name()
    assert "/" not in name and not name.startswith(".") and len(name) < 100
    assert all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in name)


def test_ytdlp_options_cannot_run_commands():
    options = ytdlp_options(DownloadOptions(), "/tmp/x.%(ext)s", lambda status: None)
    forbidden = {
        "postprocessors",
        "external_downloader",
        "external_downloader_args",
        "postprocessor_args",
        "exec_cmd",
        "netrc_cmd",
        "remote_components",
        "plugin_dirs",
    }
    assert not forbidden & set(options)
    assert options["format_sort"] == ["res:720", "fps", "hdr:sdr"]
    # The one program yt-dlp may run is the deno this environment installed, by its own path.
    assert options["js_runtimes"] == {"deno": {"path": find_deno_bin()}}
    with pytest.raises(ValueError, match="Extra inputs"):
        DownloadOptions(postprocessors=[{"key": "Exec", "exec_cmd": "touch /tmp/pwned"}])


# A YouTube player in the shape YouTube serves it, small: one function expression called on the
# page's object, which makes a stream address (`streamAddress`, marked by its `("alr", "yes")` call)
# whose first own method descrambles the address's signature (`s`: reversed) and its throttling
# parameter (`n`: rotated by one). yt-dlp's solver finds these by the player's structure, as it
# does in YouTube's own player.
TOY_YOUTUBE_PLAYER = """
(function (g) {
  var flags = { set: function (name, value) {} };
  var Address = function (base, key, value) {
    this.query = {};
    if (value !== undefined) this.query[key] = value;
  };
  Address.prototype.set = function (name, value) { this.query[name] = value; };
  Address.prototype.get = function (name) { return this.query[name]; };
  Address.prototype.descramble = function () {
    var s = this.query.s;
    if (s !== undefined) {
      this.query.s = encodeURIComponent(decodeURIComponent(s).split("").reverse().join(""));
    }
    var n = this.query.n;
    if (n !== undefined) this.query.n = n.slice(1) + n.charAt(0);
  };
  var streamAddress = function (base, key, value) {
    flags.set("alr", "yes");
    return new Address(base, key, value);
  };
}).call(this, {});
"""


def test_youtube_javascript_challenges_are_solved_here(tmp_path):
    """YouTube hides its formats behind JavaScript challenges (the signature, the `n` parameter):
    yt-dlp, configured as the project configures it, solves them with yt-dlp-ejs's scripts run by
    deno. Without either, a YouTube download finds no video format. Here the YouTube extractor's
    own challenge machinery solves a player served locally."""
    import yt_dlp
    from yt_dlp.extractor.youtube.jsc._director import initialize_jsc_director
    from yt_dlp.extractor.youtube.jsc.provider import (
        JsChallengeRequest,
        JsChallengeType,
        NChallengeInput,
        SigChallengeInput,
    )

    player_path = Path("s/player/5ea16c34/player_ias.vflset/en_US/base.js")
    (tmp_path / player_path).parent.mkdir(parents=True)
    (tmp_path / player_path).write_text(TOY_YOUTUBE_PLAYER)
    options = ytdlp_options(DownloadOptions(), str(tmp_path / "x.%(ext)s"), lambda status: None)
    with serve_folder(tmp_path) as base, yt_dlp.YoutubeDL(options) as ydl:
        player = f"{base}{player_path.as_posix()}"
        solver = initialize_jsc_director(ydl.get_info_extractor("Youtube"))
        solved = solver.bulk_solve(
            [
                JsChallengeRequest(JsChallengeType.N, NChallengeInput(player, ["Tq3-u9PZ"])),
                JsChallengeRequest(JsChallengeType.SIG, SigChallengeInput(player, ["A=b/c+D"])),
            ]
        )
    results = {request.type: response.output.results for request, response in solved}
    assert results == {
        JsChallengeType.N: {"Tq3-u9PZ": "q3-u9PZT"},
        JsChallengeType.SIG: {"A=b/c+D": "D+c/b=A"},
    }


def test_stalled_server_times_out_after_bounded_retries(served):
    options = DownloadOptions(retries=1, socket_timeout_s=1, retry_backoff_s=0)
    with pytest.raises(
        SourceError, match=r"person_a: could not download .*stall.* after 2 attempts"
    ):
        _fetch(VideoSource(url=f"{served.url}/stall/single_d18.mp4"), options=options)


def test_a_video_under_a_name_the_raw_folder_does_not_list_is_refused(shared_videos, tmp_path):
    # An old camcorder's .MOD (MPEG-2 program stream): FFmpeg reads it, but the raw video folder
    # lists videos by their usual suffixes, and face extraction would not find it.
    clip = tmp_path / "camcorder.MOD"
    shutil.copyfile(shared_videos / "no_audio_d0.mp4", clip)
    with pytest.raises(
        SourceError,
        match=r"person_a: .*camcorder\.MOD is a video named \.mod,.*"
        r"rename it .*\.mp4 .*\.mts",
    ):
        _fetch(VideoSource(path=str(clip)))
    assert not any(_STAGING[-1].glob("*/*"))  # nothing staged is left
