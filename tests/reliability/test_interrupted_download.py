"""Kill a download midway (SIGKILL), run again: no partial file ever sits among the raw videos; the
partial one waits in the hidden work folder beside them until the next run removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.kedro_project import kedro_run, make_project
from tests.helpers.media_server import MediaServer


@pytest.mark.slow
def test_sigkill_during_download_leaves_no_partial_file(tmp_path, shared_videos):
    www = tmp_path / "www"
    www.mkdir()
    (www / "d6.mp4").symlink_to(shared_videos / "person_a_d6.mp4")
    (www / "d0.mp4").symlink_to(shared_videos / "no_audio_d0.mp4")
    project = make_project(tmp_path / "project")
    raw_a = project / "data/01_raw/videos/person_a"
    with MediaServer(www) as server:
        params = (
            f"person_a.sources=[{{url: {server.url}/slow/d6.mp4}}],"
            f"person_b.sources=[{{url: {server.url}/d0.mp4}}]"
        )
        env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
        child = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--pipelines", "ingestion", "--params", params],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        # yt-dlp's generic extractor asks twice: once to look at the URL, once to download it.
        while server.requests["/slow/d6.mp4"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the trickle (2 MB at 320 KB/s) is well under way
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert server.requests["/slow/d6.mp4"] == 2
        assert not raw_a.exists() or not any(raw_a.iterdir()), list(raw_a.iterdir())
        # The partial download sits in the hidden work folder beside the raw videos, not in /tmp.
        staging = project / "data/01_raw/videos/.partial-fetch-person_a"
        assert [path for path in staging.rglob("*") if path.is_file()], (
            "no partial download in the staging folder"
        )

        # The re-run fetches it whole.
        kedro_run(project, "ingestion", [params.replace("/slow/", "/")])
    (video,) = raw_a.iterdir()
    assert video.read_bytes() == (shared_videos / "person_a_d6.mp4").read_bytes()
    assert [path for path in staging.rglob("*") if path.is_file()] == []  # swept by the re-run
