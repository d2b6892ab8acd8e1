"""Shared test fixtures: the real test media, and the aligned faces made from it."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import PROJECT_ROOT, SHARED_DATA
from tests.helpers.faces import write_aligned_faces
from tests.helpers.kedro_project import make_project

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# The tests that press Ctrl-C on a run (tests/test_fan_out.py, tests/helpers/interrupt.py) need it
# to reach the run as it does from a terminal. A process started in the background of a
# non-interactive shell (`cmd &` in a script, as CI runners and `nohup` start test suites) ignores
# SIGINT from its start, by POSIX, and its children inherit the ignoring: Python then installs no
# KeyboardInterrupt handler in them and the Ctrl-C is lost. With a handler here, the children start
# with SIGINT's default, as they would from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real test videos and photos (`videos/`, `photos/`)."""
    if not (SHARED_DATA / "videos").is_dir():
        pytest.fail(f"test media not found at {SHARED_DATA}; set FACESWAP_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    """A node's hidden work folder, as the catalog's `StagingFolderDataset`s give it (made on first
    use)."""
    return tmp_path / ".partial-staging"


@pytest.fixture(scope="session")
def shared_videos(shared_data: Path) -> Path:
    return shared_data / "videos"


@pytest.fixture(scope="session")
def shared_photos(shared_data: Path) -> Path:
    return shared_data / "photos"


@pytest.fixture(scope="session")
def clip_faces(shared_videos: Path) -> dict[str, tuple[dict[str, np.ndarray], pd.DataFrame]]:
    """`{"a": (crops, alignments), "b": ...}` made with the project's own face extraction
    (`faces.extraction.extract_clip_faces`): person A from person_a_d6.mp4, B from person_b_d9.mp4,
    5 frames/s over their first 10 s (about 50 faces each). Detection and landmarks run once (a few
    seconds) for all the tests that train."""
    from faceswap_pipeline.faces.extraction import extract_clip_faces

    return {
        "a": extract_clip_faces(shared_videos / "person_a_d6.mp4", sample_fps=5, end_s=10.0),
        "b": extract_clip_faces(shared_videos / "person_b_d9.mp4", sample_fps=5, end_s=10.0),
    }


@pytest.fixture
def project_with_faces(tmp_path: Path, clip_faces) -> Path:
    """A project copy with the tiny preset and both people's aligned faces, alignments and identity
    tables (3 descriptors each) where face_extraction puts them."""
    project = make_project(tmp_path / "project")
    shutil.copytree(PROJECT_ROOT / "conf" / "tiny", project / "conf" / "tiny")
    write_aligned_faces(project, clip_faces)
    return project
