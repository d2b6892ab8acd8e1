"""Kill face extraction midway (SIGKILL), run it again: the cut video is redone, the finished one is
not, nothing half-written is ever read, and the outputs equal those of a run that was never
interrupted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from faceswap_pipeline.datasets.face_tables import FaceTableFolderDataset
from tests.helpers.interrupt import kill_kedro_run_when
from tests.helpers.kedro_project import kedro_run, make_project


def _outputs(project: Path) -> dict:
    """Everything face extraction made for person A: tables by key, crops by name, the final
    tables."""
    data = project / "data"
    tables = FaceTableFolderDataset(
        path=str(data / "02_intermediate/face_extraction/person_a")
    ).load()
    crops = data / "03_primary/faces/person_a"
    return {
        "tables": {key: table.read() for key, table in tables.items()},
        "crops": {
            path.relative_to(crops).as_posix(): path.read_bytes()
            for path in sorted(crops.rglob("*.png"))
        },
        "alignments": pd.read_parquet(data / "03_primary/face_alignments_person_a.parquet"),
        "identity": pd.read_parquet(data / "03_primary/identity_person_a.parquet"),
    }


@pytest.mark.slow
def test_sigkill_during_extraction_then_rerun_equals_an_uninterrupted_run(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    # Person A has two short clips sampled at 5 frames/s (two men: the dominant one is kept); B one
    # tiny clip.
    (project / "conf/local/parameters_ingestion.yml").write_text(
        yaml.safe_dump(
            {
                "person_a": {
                    "name": "A",
                    "sources": [
                        {"path": str(shared_videos / "single_d18.mp4"), "fps": 5},
                        {"path": str(shared_videos / "single_d12.mp4"), "fps": 5},
                    ],
                },
                "person_b": {
                    "name": "B",
                    "sources": [{"path": str(shared_videos / "no_audio_d0.mp4"), "fps": 5}],
                },
            }
        )
    )
    kedro_run(project, "ingestion")
    tables_a = project / "data/02_intermediate/face_extraction/person_a"

    def finished_tables() -> list[Path]:
        return sorted(tables_a.glob("[!.]*.parquet")) if tables_a.is_dir() else []

    def partial_tables() -> list[Path]:
        return sorted(tables_a.glob(".partial-*")) if tables_a.is_dir() else []

    # Kill while A's second video is being written, its first one finished.
    kill_kedro_run_when(
        project,
        ["--pipelines", "face_extraction"],
        lambda: bool(finished_tables() and partial_tables()),
    )
    (finished,) = finished_tables()
    finished_at = finished.stat().st_mtime_ns
    # The cut video's half table sits under a hidden temporary name that no reader lists.
    assert partial_tables()
    assert list(FaceTableFolderDataset(path=str(tables_a)).load()) == [finished.stem]
    assert not (project / "data/03_primary/faces/person_a").exists() or not any(
        (project / "data/03_primary/faces/person_a").rglob("*.png")
    )

    result = kedro_run(project, "face_extraction")
    log = result.stdout + result.stderr
    assert "A: 2 videos, 1 already extracted with these settings, 1 to extract" in log, log[-3000:]
    assert finished.stat().st_mtime_ns == finished_at  # the finished video was not redone
    assert len(finished_tables()) == 2 and partial_tables() == []
    resumed = _outputs(project)
    assert len(resumed["crops"]) >= 30 and resumed["alignments"]["kept"].sum() == len(
        resumed["crops"]
    )

    # The same run, never interrupted, from scratch.
    shutil.rmtree(project / "data/02_intermediate/face_extraction")
    shutil.rmtree(project / "data/03_primary")
    kedro_run(project, "face_extraction")
    uninterrupted = _outputs(project)
    assert resumed["tables"].keys() == uninterrupted["tables"].keys()
    for key, table in resumed["tables"].items():
        pd.testing.assert_frame_equal(table, uninterrupted["tables"][key])
    assert resumed["crops"] == uninterrupted["crops"]
    pd.testing.assert_frame_equal(resumed["alignments"], uninterrupted["alignments"])
    pd.testing.assert_frame_equal(resumed["identity"], uninterrupted["identity"])
