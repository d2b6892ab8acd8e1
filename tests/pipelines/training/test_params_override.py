"""`--params` beside a conf/local parameters file, as the README says to use both.

Kedro merges runtime parameters into the run environment's (`local`) parameters too; the project
merges parameters key by key (`settings.py`), so `--params training.max_steps=2` changes that key
only and the rest of the `training` block stays the preset's. Checked on the configuration of every
stage, then by real `kedro run`s of training and conversion whose model, video and MLflow parameters
show the values.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import mlflow
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from faceswap_pipeline.model import load_swap_model
from tests.helpers import PROJECT_ROOT
from tests.helpers.faces import write_aligned_faces
from tests.helpers.kedro_project import kedro_run, make_project


def _base_parameters() -> dict:
    parameters: dict = {}
    for path in sorted((PROJECT_ROOT / "conf/base").glob("parameters_*.yml")):
        parameters.update(yaml.safe_load(path.read_text()))
    return parameters


def _write_local(project: Path, name: str, content: dict) -> None:
    (project / "conf/local" / name).write_text(yaml.safe_dump(content))


def _local_people(project: Path, shared_videos: Path) -> None:
    """The README's own people, in conf/local/parameters_ingestion.yml."""
    _write_local(
        project,
        "parameters_ingestion.yml",
        {
            "person_a": {
                "name": "Alice",
                "sources": [{"path": str(shared_videos / "person_a_d6.mp4")}],
            },
            "person_b": {
                "name": "Bob",
                "sources": [{"path": str(shared_videos / "person_b_d9.mp4")}],
            },
        },
    )


def test_one_key_overrides_keep_every_other_key_of_every_stage(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    _local_people(project, shared_videos)
    # conf/local may also set one key of a block.
    _write_local(project, "parameters_conversion.yml", {"conversion": {"output": {"crf": 28}}})
    overrides = {
        "training": {"max_minutes": 7},
        "conversion": {"duration_s": 2.5},
        "face_extraction": {"min_face_size": 50},
        "evaluation": {"max_described_faces": 10},
        "download": {"retries": 1},
    }
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=overrides) as session:
        params = session.load_context().params
    base = _base_parameters()
    for stage, changed in overrides.items():
        expected = {**base[stage], **changed}
        if stage == "conversion":
            expected["output"] = {**base["conversion"]["output"], "crf": 28}
        assert params[stage] == expected, stage
    assert (
        params["person_a"]["name"] == "Alice"
        and params["training"]["width"] == base["training"]["width"]
    )


def test_own_people_in_conf_local_stay_under_a_preset_with_params_on_top(tmp_path, shared_videos):
    """The README's order: conf/base, the preset (`--env tiny`), conf/local, then `--params`."""
    project = make_project(tmp_path / "project")
    shutil.copytree(PROJECT_ROOT / "conf/tiny", project / "conf/tiny")
    _local_people(project, shared_videos)
    _write_local(project, "parameters_training.yml", {"training": {"max_steps": 4}})
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, env="tiny", runtime_params={"training": {"batch_size": 4}}
    ) as session:
        params = session.load_context().params
    tiny = yaml.safe_load((PROJECT_ROOT / "conf/tiny/parameters_training.yml").read_text())
    assert params["person_a"]["name"] == "Alice"
    assert params["person_b"]["sources"] == [{"path": str(shared_videos / "person_b_d9.mp4")}]
    training = params["training"]
    assert (training["width"], training["checkpoint_dir"]) == (
        tiny["training"]["width"],
        tiny["training"]["checkpoint_dir"],
    )
    assert (training["max_steps"], training["batch_size"]) == (4, 4)
    # A key neither the preset nor conf/local sets stays conf/base's.
    base = _base_parameters()["training"]
    assert training["optimizer"]["average_decay"] == base["optimizer"]["average_decay"]


@pytest.mark.slow
def test_params_on_training_and_conversion_beside_a_local_file(tmp_path, shared_videos, clip_faces):
    project = make_project(tmp_path / "project")
    _local_people(project, shared_videos)
    write_aligned_faces(project, clip_faces)
    base = _base_parameters()["training"]

    # The CPU preset (width 0.25), two steps on the ~50 faces a person the clips give.
    kedro_run(
        project,
        "training",
        [
            "training.max_steps=2",
            "training.batch_size=8",
            "training.min_faces_per_person=16",
            "training.val_every_n_steps=2",
            "training.val_max_faces=8",
        ],
    )
    _, config = load_swap_model(project / "data/06_models/swap_model")
    assert (config.architecture, config.width) == (base["architecture"], base["width"])
    summary = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    assert summary["global_step"] == 2

    video = shared_videos / "single_d18.mp4"
    kedro_run(
        project,
        "conversion",
        [f"conversion.video={video}", "conversion.duration_s=0.5", "conversion.output.width=160"],
    )
    with av.open(str(project / "data/07_model_output/swapped.mp4")) as container:
        assert container.streams.video[0].codec_context.width == 160

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    experiment = client.get_experiment_by_name("faceswap_pipeline")
    training_run, conversion_run = sorted(
        client.search_runs([experiment.experiment_id]), key=lambda run: run.info.start_time
    )
    logged = training_run.data.params
    assert (logged["training.max_steps"], logged["training.width"]) == ("2", str(base["width"]))
    assert logged["training.optimizer.lr"] == str(base["optimizer"]["lr"])
    logged = conversion_run.data.params
    assert (logged["conversion.duration_s"], logged["conversion.output.width"]) == ("0.5", "160")
    assert logged["conversion.detection.det_size"] == str(
        _base_parameters()["conversion"]["detection"]["det_size"]
    )
