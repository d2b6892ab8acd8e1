"""Face extraction fanned out on Dask (``face_extraction.workers``): the same tables and faces as
one by one, a killed or Ctrl-C'd run keeps the finished videos and redoes only the others, a failing
video is named, and the worker processes never outlive the run."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from kedro.io import DatasetError

from faceswap_pipeline.datasets.face_tables import FaceTableFolderDataset
from faceswap_pipeline.pipelines.face_extraction import nodes
from faceswap_pipeline.video.probe import probe_video
from tests.helpers import PROJECT_ROOT
from tests.helpers.interrupt import kill_kedro_run_when
from tests.helpers.kedro_project import kedro_run, make_project

PARAMS = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_face_extraction.yml").read_text())[
    "face_extraction"
]
TWO_WORKERS = ["--params", "face_extraction.workers=2"]


def _project_with_two_videos_of_a(tmp_path: Path, shared_videos: Path) -> Path:
    """Person A: a short clip and a longer one (so one finishes well before the other); B: a tiny
    clip."""
    project = make_project(tmp_path / "project")
    (project / "conf/local/parameters_ingestion.yml").write_text(
        yaml.safe_dump(
            {
                "person_a": {
                    "name": "A",
                    "sources": [
                        {"path": str(shared_videos / "single_d18.mp4"), "fps": 5},
                        {"path": str(shared_videos / "person_a_d6.mp4"), "fps": 10},
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
    return project


def _tables_folder(project: Path) -> Path:
    return project / "data/02_intermediate/face_extraction/person_a"


def _finished_tables(project: Path) -> list[Path]:
    folder = _tables_folder(project)
    return sorted(folder.glob("[!.]*.parquet")) if folder.is_dir() else []


def _partial_tables(project: Path) -> list[Path]:
    folder = _tables_folder(project)
    return sorted(folder.glob(".partial-*")) if folder.is_dir() else []


def _outputs(project: Path) -> dict:
    """What face extraction made for person A: per-video tables (content and metadata less the
    timing), the kept crops' bytes, and the final tables."""
    data = project / "data"
    tables = FaceTableFolderDataset(path=str(_tables_folder(project))).load()
    crops = data / "03_primary/faces/person_a"
    return {
        "tables": {key: table.read() for key, table in tables.items()},
        "table_metadata": {
            key: {name: value for name, value in table.metadata().items() if name != "seconds"}
            for key, table in tables.items()
        },
        "crops": {
            path.relative_to(crops).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(crops.rglob("*.png"))
        },
        "alignments": pd.read_parquet(data / "03_primary/face_alignments_person_a.parquet"),
        "identity": pd.read_parquet(data / "03_primary/identity_person_a.parquet"),
    }


def _assert_same_outputs(got: dict, expected: dict) -> None:
    assert got["tables"].keys() == expected["tables"].keys()
    for key, table in got["tables"].items():
        pd.testing.assert_frame_equal(table, expected["tables"][key], check_exact=True)
    assert got["table_metadata"] == expected["table_metadata"]
    assert got["crops"] == expected["crops"]
    pd.testing.assert_frame_equal(got["alignments"], expected["alignments"], check_exact=True)
    pd.testing.assert_frame_equal(got["identity"], expected["identity"], check_exact=True)


def _assert_all_exit(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=30)
    assert not alive, f"processes of the run outlived it: {[(p.pid, p.cmdline()) for p in alive]}"


@pytest.mark.slow
def test_two_workers_make_the_serial_results_and_a_killed_run_redoes_only_unfinished_videos(
    tmp_path, shared_videos
):
    project = _project_with_two_videos_of_a(tmp_path, shared_videos)
    kedro_run(project, "face_extraction")
    serial = _outputs(project)
    assert len(serial["tables"]) == 2 and len(serial["crops"]) >= 30
    # The catalog logs each person's totals to the run's MLflow run, under their own names (the
    # person's `name` from the ingestion parameters).
    with sqlite3.connect(project / "mlflow.db") as db:
        logged = dict(
            db.execute(
                "SELECT key, value FROM latest_metrics WHERE key LIKE 'face_extraction.%'"
            ).fetchall()
        )
    assert logged["face_extraction.A.videos"] == 2
    assert logged["face_extraction.A.faces_kept"] == len(serial["crops"])
    assert "face_extraction.B.frames_read" in logged
    shutil.rmtree(project / "data/02_intermediate/face_extraction")
    shutil.rmtree(project / "data/03_primary")

    # SIGKILL the run on two workers once one of A's videos is written and the other is under way.
    workers = kill_kedro_run_when(
        project,
        ["--pipelines", "face_extraction", *TWO_WORKERS],
        lambda: bool(_finished_tables(project) and _partial_tables(project)),
    )
    assert len(workers) >= 2  # the LocalCluster's worker processes (and its helpers)
    _assert_all_exit(workers)  # they stop by themselves when the run is killed: nothing writes on
    (finished,) = _finished_tables(project)
    finished_at = finished.stat().st_mtime_ns
    assert list(FaceTableFolderDataset(path=str(_tables_folder(project))).load()) == [finished.stem]

    result = kedro_run(project, "face_extraction", ["face_extraction.workers=2"])
    log = result.stdout + result.stderr
    assert "A: 2 videos, 1 already extracted with these settings, 1 to extract" in log, log[-3000:]
    assert finished.stat().st_mtime_ns == finished_at  # the finished video was not redone
    assert len(_finished_tables(project)) == 2 and _partial_tables(project) == []
    # Progress reaches the user: the workers' own lines, forwarded, and the count of videos done.
    assert "face tables: 1 on 1 Dask workers (a LocalCluster on this machine)" in log, log[-3000:]
    assert "frames/s), " in log and "face tables: 1 of 1 done (video " in log, log[-3000:]
    _assert_same_outputs(_outputs(project), serial)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_keeps_the_finished_videos(tmp_path, shared_videos):
    project = _project_with_two_videos_of_a(tmp_path, shared_videos)
    done_at_ctrl_c: list[Path] = []

    def one_done_one_under_way() -> bool:
        done_at_ctrl_c[:] = _finished_tables(project)
        return bool(done_at_ctrl_c and _partial_tables(project))

    workers = kill_kedro_run_when(
        project,
        ["--pipelines", "face_extraction", *TWO_WORKERS],
        one_done_one_under_way,
        signum=signal.SIGINT,
    )
    assert len(workers) >= 2
    _assert_all_exit(workers)
    # The video done before Ctrl-C is kept; the one under way may have been finished whole in the
    # moment the interrupt took to reach its worker, never left half-written.
    finished = _finished_tables(project)
    assert set(done_at_ctrl_c) <= set(finished) and len(finished) <= 2
    stored = FaceTableFolderDataset(path=str(_tables_folder(project))).load()
    assert sorted(stored) == [table.stem for table in finished]


def _metadata(person: str, videos: list[Path]) -> pd.DataFrame:
    rows = []
    for video in videos:
        info = (
            probe_video(video)
            if video.suffix == ".mp4" and video.stat().st_size > 100_000
            else None
        )
        rows.append(
            {
                "person": person,
                "file": video.name,
                "start_s": math.nan,
                "end_s": math.nan,
                "sample_fps": 5.0,
                "duration_s": info.duration_s if info else math.nan,
                "frame_count": info.frame_count if info else math.nan,
                "sha256": hashlib.sha256(video.read_bytes()).hexdigest(),
            }
        )
    return pd.DataFrame(rows)


def test_a_failing_video_is_named_and_the_cluster_is_closed(tmp_path, shared_videos):
    # A video that went bad after ingestion (here: text under a video's name) fails on its worker.
    good = shared_videos / "no_audio_d0.mp4"
    bad = tmp_path / "videos/broken.mp4"
    bad.parent.mkdir()
    bad.write_text("not a video\n" * 100)
    videos = {good.name: good, bad.name: bad}
    jobs, plan = nodes.extract_video_faces(
        videos, _metadata("person_a", [good, bad]), {}, {**PARAMS, "workers": 2}
    )
    assert jobs.fan_out.workers == 2 and len(jobs) == len(plan) == 2

    tables = FaceTableFolderDataset(str(tmp_path / "tables"))
    with pytest.raises(
        DatasetError,
        match=(
            r"video broken\.mp4 failed on a Dask worker: NotAVideoError: .*broken\.mp4 is not a"
            r" video"
        ),
    ):
        tables.save(jobs)
    # Python's multiprocessing resource tracker lives as long as this process, by design.
    _assert_all_exit(
        [
            child
            for child in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
    )
    # Whatever finished before the failure is a whole table; nothing half-written is listed.
    for key, table in tables.load().items():
        assert key.startswith("no_audio_d0_") and len(table.read()) > 0


def test_worker_settings_are_checked_and_do_not_change_the_per_video_key():
    from faceswap_pipeline.pipelines.face_extraction.params import parse_params

    with pytest.raises(ValueError, match=r"face_extraction\.workers"):
        parse_params({**PARAMS, "workers": 0})
    with pytest.raises(ValueError, match=r"face_extraction\.dask_scheduler"):
        parse_params({**PARAMS, "dask_scheduler": "tcp://host name:8786"})
    serial = parse_params(PARAMS)
    fanned = parse_params({**PARAMS, "workers": 8, "dask_scheduler": "tcp://10.0.0.5:8786"})
    assert (
        fanned.fan_out().scheduler == "tcp://10.0.0.5:8786"
        and fanned.fan_out().cpu_threads_per_job(4) == 1
    )
    assert (
        serial.fan_out().cpu_threads_per_job(4) is None
    )  # one by one: the libraries' own defaults
    # A LocalCluster shares the cores among the workers it starts: no more than there are videos.
    local = parse_params({**PARAMS, "workers": 8}).fan_out()
    assert local.local_workers(2) == 2 and local.local_workers(20) == 8
    assert local.cpu_threads_per_job(2) == max(1, (os.cpu_count() or 1) // 2)
    assert serial.extraction_fingerprint() == fanned.extraction_fingerprint()
