"""A `conversion.video` URL fetched once by its own node, into its own raw folder: the conversion
and the evaluation read it from there, and a re-run does not download it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceswap_pipeline.datasets import VideoFolderDataset
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
        video, source_name = resolve_video(
            url, {}, tmp_path / "work", person="person_b", fetched=folder.load()
        )
        assert (video, source_name) == (folder.load()[name], url)
        assert server.requests["/single_d18.mp4"] == requests
        assert not (tmp_path / "work").exists()


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
