"""The pretraining's sources fetched by ingestion's node: offline, the error points at the
pretraining's own folder and parameter file, not the pair's."""

from __future__ import annotations

import pytest

from faceswap_pipeline.pipelines.pretraining.nodes import fetch_pretraining_videos
from faceswap_pipeline.sources import SourceError
from tests.helpers.local_servers import free_port

DOWNLOAD = {"max_height": 720, "retries": 0, "socket_timeout_s": 5}


def test_no_network_says_where_the_pretraining_videos_go(shared_videos, staging):
    url = f"http://127.0.0.1:{free_port()}/d3.mp4"  # refused: as without a network
    pretraining = {
        "name": "pretraining faces",
        "sources": [{"path": str(shared_videos / "no_audio_d0.mp4")}, {"url": url}],
        "training": {},
    }
    with pytest.raises(SourceError) as raised:
        fetch_pretraining_videos({}, pretraining, DOWNLOAD, staging)
    message = str(raised.value)
    assert f"pretraining faces: could not download {url}" in message
    assert "data/01_raw/videos/pretraining/" in message
    assert "conf/local/parameters_pretraining.yml" in message
    assert "person_a" not in message and "parameters_ingestion.yml" not in message
    # Nothing fetched in this run is left in the staging folder.
    assert not staging.exists() or not any(staging.rglob("*.mp4"))
