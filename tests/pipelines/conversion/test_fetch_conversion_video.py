"""A `conversion.video` URL fetched once by its own node, into its own raw folder: the conversion
and the evaluation read it from there, and a re-run does not download it again."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from faceswap_pipeline.datasets import VideoFolderDataset
from faceswap_pipeline.errors import BadInputError
from faceswap_pipeline.pipelines.conversion.nodes import fetch_conversion_video
from faceswap_pipeline.sources import SourceError, resolve_video
from tests.helpers.local_servers import free_port
from tests.helpers.media_server import MediaServer

DOWNLOAD = {"max_height": 720, "retries": 0, "socket_timeout_s": 5}


def test_a_url_is_downloaded_once_for_every_run_and_stage(shared_videos, staging, tmp_path):
    folder = VideoFolderDataset(path=str(tmp_path / "conversion"))
    with MediaServer(shared_videos) as server:
        url = f"{server.url}/single_d18.mp4"
        conversion = {"video": url}
        folder.save(fetch_conversion_video(folder.load(), conversion, DOWNLOAD, staging))
        (name,) = folder.load()
        assert folder.load()[name].read_bytes() == (shared_videos / "single_d18.mp4").read_bytes()
        requests = server.requests["/single_d18.mp4"]
        # A second run finds it; the conversion and the evaluation resolve the URL to it.
        again = fetch_conversion_video(folder.load(), conversion, DOWNLOAD, staging)
        assert again == folder.load()
        video, source_name, starts_at_s = resolve_video(
            url, {}, tmp_path / "work", person="person_b", fetched=folder.load()
        )
        assert (video, source_name, starts_at_s) == (folder.load()[name], url, 0.0)
        assert server.requests["/single_d18.mp4"] == requests
        assert not (tmp_path / "work").exists()


def test_the_seconds_converted_are_all_that_is_downloaded(shared_videos, staging, tmp_path):
    """`conversion.start_s`/`duration_s` of a URL: those seconds of its video are fetched (d6's
    10–12 s: 0.2 of its 2 MB), and the conversion and the evaluation resolve the URL to that file,
    which starts at the video's 10th second."""
    folder = VideoFolderDataset(path=str(tmp_path / "conversion"))
    with MediaServer(shared_videos) as server:
        url = f"{server.url}/person_a_d6.mp4"
        conversion = {"video": url, "start_s": 10, "duration_s": 2}
        folder.save(fetch_conversion_video(folder.load(), conversion, DOWNLOAD, staging))
        (name,) = folder.load()
        assert name.endswith("-10s-12s.mp4")
        section = folder.load()[name]
        assert section.stat().st_size < 0.2 * (shared_videos / "person_a_d6.mp4").stat().st_size
        requests = server.requests["/person_a_d6.mp4"]
        video, source_name, starts_at_s = resolve_video(
            url, {}, tmp_path / "work", person="person_a", fetched=folder.load(), seconds=(10, 12)
        )
        assert (video, source_name, starts_at_s) == (section, url, 10.0)
        assert server.requests["/person_a_d6.mp4"] == requests
        # Other seconds are fetched when resolved: a section of their own.
        other, _, starts_at_s = resolve_video(
            url, {}, tmp_path / "work", person="person_a", fetched=folder.load(), seconds=(20, None)
        )
        assert other != section and starts_at_s == 20.0 and other.name.endswith("-20s-end.mp4")


def test_a_start_past_the_end_of_a_url_s_video_is_named_by_its_parameter(shared_videos, staging):
    streams = staging.parent / "streams"
    streams.mkdir()
    hls = [
        *(imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error"),
        *("-i", str(shared_videos / "single_d18.mp4"), "-c", "copy", "-f", "hls"),
        *("-hls_playlist_type", "vod", str(streams / "d18.m3u8")),
    ]
    subprocess.run(hls, check=True)
    with MediaServer(streams) as server:  # an HLS stream says how long it is
        url = f"{server.url}/d18.m3u8"
        with pytest.raises(BadInputError) as refused:
            fetch_conversion_video({}, {"video": url, "start_s": "0:30"}, DOWNLOAD, staging)
        assert not [path for path in server.requests if path.endswith(".ts")]
    assert str(refused.value) == (
        f"conversion.start_s (30.0 s) is past the end of {url} (7.00 s); give a start within the"
        " video"
    )


@pytest.mark.parametrize("video", [None, "clip.mp4"])
def test_a_local_video_or_none_has_nothing_to_fetch(video, staging):
    assert fetch_conversion_video({}, {"video": video}, DOWNLOAD, staging) == {}


def test_no_network_says_to_give_a_local_video(staging):
    url = f"http://127.0.0.1:{free_port()}/clip.mp4"  # refused: as without a network
    with pytest.raises(SourceError) as raised:
        fetch_conversion_video({}, {"video": url}, DOWNLOAD, staging)
    message = str(raised.value)
    assert message.startswith(f"conversion.video: could not download {url}")
    assert message.endswith("To run without a network, set conversion.video to a local video file")
    assert not staging.exists() or not any(Path(staging).rglob("*.mp4"))
