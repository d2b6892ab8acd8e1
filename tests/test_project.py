"""The project as a user runs it: registry, offline `kedro run`, MLflow on SQLite, telemetry off."""

from __future__ import annotations

import shutil
import subprocess
import sys

import mlflow
import pandas as pd
import pytest

from tests.helpers import PROJECT_ROOT
from tests.helpers.kedro_project import kedro_run, local_sources, make_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    folder = make_project(tmp_path / "project")
    monkeypatch.chdir(folder)
    return folder


def test_registry_lists_the_pipelines(project):
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "registry", "list"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    for name in ("ingestion", "pretraining", "__default__"):
        assert f"- {name}" in result.stdout
    # The pretraining is run deliberately, on its own: a plain `kedro run` does not include it.
    described = subprocess.run(
        [sys.executable, "-m", "kedro", "registry", "describe", "__default__"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "train_swap_model" in described.stdout and "pretrain" not in described.stdout


def test_telemetry_is_off():
    assert "consent: false" in (PROJECT_ROOT / ".telemetry").read_text()


def test_ingestion_with_local_sources_and_an_mlflow_run(project, shared_videos):
    kedro_run(project, "ingestion", local_sources(shared_videos))
    for person, frames in (("person_a", 1008), ("person_b", 587)):
        metadata = pd.read_parquet(
            project / f"data/02_intermediate/video_metadata_{person}.parquet"
        )
        assert metadata.loc[0, "frame_count"] == frames
        assert (project / "data/01_raw/videos" / person / metadata.loc[0, "file"]).is_file()
    # kedro-mlflow recorded the run in the project's own SQLite store, in the project's experiment.
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    experiment = client.get_experiment_by_name("faceswap_pipeline")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["person_a.name"] == "person A"


def test_default_configuration_offline_with_the_files_in_place(project, shared_videos):
    # The default sources are URLs with checksums; offline, files with those checksums are used as
    # found.
    for person, clip in (("person_a", "person_a_d6.mp4"), ("person_b", "person_b_d9.mp4")):
        folder = project / "data/01_raw/videos" / person
        folder.mkdir(parents=True)
        shutil.copy(shared_videos / clip, folder / f"downloaded earlier {person}.mp4")
    kedro_run(project, "ingestion", ["download.retries=0"])
    metadata = pd.read_parquet(project / "data/02_intermediate/video_metadata_person_b.parquet")
    assert metadata.loc[0, "file"] == "downloaded earlier person_b.mp4"
    assert metadata.loc[0, "source"].startswith("https://")
