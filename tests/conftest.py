"""Shared test fixtures: where the real test media lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Real media: ../shared/data next to the project (never copied into it).
SHARED_DATA = Path(os.environ.get("FACESWAP_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real test videos and photos (`videos/`, `photos/`)."""
    if not (SHARED_DATA / "videos").is_dir():
        pytest.fail(f"test media not found at {SHARED_DATA}; set FACESWAP_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    """A node's hidden work folder, as the catalog's `StagingFolderDataset`s give it (made on first use)."""
    return tmp_path / ".partial-staging"


@pytest.fixture(scope="session")
def shared_videos(shared_data: Path) -> Path:
    return shared_data / "videos"


@pytest.fixture(scope="session")
def shared_photos(shared_data: Path) -> Path:
    return shared_data / "photos"
