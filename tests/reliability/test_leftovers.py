"""Nothing half-made outlives a run: temporary files live beside their final place under `data/`
(never in the system's temporary folder, never under a final name), the next run's start removes
what a killed run left, and the preflight check creates no folder.

Real `kedro run`s in a throw-away project, with the system's temporary folder pointed at an empty
one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faceswap_pipeline.model import ModelConfig, SwapModel, save_swap_model
from tests.helpers.kedro_project import kedro_run, kedro_run_failing, local_sources, make_project

pytestmark = pytest.mark.slow

# What a run killed mid-write leaves (made by hand here, as the interruption tests make them for
# real).
LEFTOVERS = (
    "data/01_raw/videos/.partial-fetch-person_a/.partial-fetch-k1ll3d/download.mp4",
    "data/01_raw/videos/person_a/.partial-abc123.mp4",
    "data/06_models/checkpoints/.partial-last.ckpt.abc123.ckpt",
    "data/07_model_output/.partial-conversion/.partial-output-abc123.mp4",
    "data/07_model_output/.partial-conversion/.partial-convert-abc123/video.mp4",
    "data/07_model_output/.partial-xyz.mp4",
)


def _plant(project: Path, relative: str) -> Path:
    path = project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a file")
    return path


def _videos(folder: Path) -> list[str]:
    """The videos and GIFs under ``folder`` (other programs keep their own files in the temporary
    folder)."""
    return [name for name in _files(folder) if name.endswith((".mp4", ".gif"))]


def _files(folder: Path) -> list[str]:
    return (
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        if folder.exists()
        else []
    )


def test_each_run_sweeps_what_a_killed_run_left_in_the_folders_it_writes(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    env = {"TMPDIR": str(system_temp)}
    planted = [_plant(project, relative) for relative in LEFTOVERS]
    # The two short clips: face extraction takes seconds.
    sources = local_sources(shared_videos, "single_d18.mp4", "single_d12.mp4")

    # Ingestion writes data/01_raw/videos/<person>/: its leftovers go, the others stay until their
    # stage runs.
    kedro_run(project, "ingestion", sources, env=env)
    videos = project / "data/01_raw/videos"
    assert [p for p in planted if p.exists()] == planted[2:]
    hidden = [
        name for name in _files(videos) if any(part.startswith(".") for part in name.split("/"))
    ]
    assert hidden == [], hidden  # the fetches' work folders went with their files
    assert len(list((videos / "person_a").glob("*.mp4"))) == 1
    assert _videos(system_temp) == []  # nothing fetched through the system's temporary folder

    # Training and conversion sweep their folders before their first node, even when that node then
    # stops (their inputs there, so the preflight lets them start).
    kedro_run(project, "face_extraction", sources, env=env)
    too_few = kedro_run_failing(
        project, "training", ["training.min_faces_per_person=100000"], env=env
    )
    assert "TooFewFacesError" in too_few.stderr, too_few.stderr[-3000:]
    assert not planted[2].exists()
    torch.manual_seed(0)
    save_swap_model(
        SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1)),
        project / "data/06_models/swap_model",
    )
    not_a_video = tmp_path / "page.mp4"
    not_a_video.write_text("<html>not a video</html>")
    refused = kedro_run_failing(project, "conversion", [f"conversion.video={not_a_video}"], env=env)
    assert "page.mp4" in refused.stderr, refused.stderr[-3000:]
    assert [p for p in planted if p.exists()] == []
    assert _files(project / "data/07_model_output") == []
    assert _videos(system_temp) == []


def test_preflight_creates_no_folder(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    # No faces, no model: the preflight refuses the conversion, after checking every output folder.
    result = kedro_run_failing(
        project, "conversion", [f"conversion.video={shared_videos / 'single_d18.mp4'}"]
    )
    assert "not made yet: " in result.stderr, (result.stdout + result.stderr)[-3000:]
    made = (
        sorted(p.relative_to(project).as_posix() for p in (project / "data").rglob("*"))
        if (project / "data").exists()
        else []
    )
    assert made == [], made
