"""Refused before any work starts: parameters out of range (named) and output folders that cannot be
written.

The checks are `hooks.PreflightHooks`, run by Kedro before the first node. Each case is checked on
the project's own parameter files in-process; two `kedro run`s in a throw-away project show that the
run stops before anything is written.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro_datasets.pandas import ParquetDataset

from faceswap_pipeline.datasets import ImageFolderDataset
from faceswap_pipeline.hooks import (
    PreflightError,
    PreflightHooks,
    accelerator_problems,
    missing_input_problems,
    named_input_problems,
    output_folder_problems,
    parameter_problems,
)
from faceswap_pipeline.pipeline_registry import register_pipelines
from tests.helpers import PROJECT_ROOT
from tests.helpers.kedro_project import local_sources, make_project


def _base_parameters() -> dict:
    parameters: dict = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters_*.yml")):
        parameters.update(yaml.safe_load(path.read_text()))
    return parameters


def _set(parameters: dict, dotted: str, value) -> dict:
    """A copy of ``parameters`` with ``a.b.c`` set to ``value`` (what ``--params a.b.c=value``
    does)."""
    changed = copy.deepcopy(parameters)
    *parents, last = dotted.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


def _params_catalog(parameters: dict) -> DataCatalog:
    catalog = DataCatalog()
    for key, value in parameters.items():
        catalog[f"params:{key}"] = value
    return catalog


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Pipeline]:
    from kedro.framework.project import configure_project

    configure_project("faceswap_pipeline")
    return register_pipelines()


@pytest.fixture(scope="module")
def default_pipeline(pipelines) -> Pipeline:
    return pipelines["__default__"]


@pytest.mark.parametrize(
    ("dotted", "value", "named"),
    [
        (
            "person_a.sources",
            [{"path": "clip.mp4", "fps": -2}],
            r"person_a\.sources\.0\.fps: Input should be greater than 0",
        ),
        (
            "person_b.sources",
            [{"path": "clip.mp4", "start": 20, "end": 5}],
            r"person_b\.sources\.0: .*end \(5\.0\) must be after start \(20\.0\)",
        ),
        (
            "face_extraction.crop_size",
            -4,
            r"face_extraction\.crop_size: Input should be greater than or equal to 32",
        ),
        (
            "training.input_size",
            100,
            r"training: .*input_size 100 does not fit architecture 'original', which takes 64",
        ),
        (
            "training.architecture",
            "dfl",
            r"training\.architecture: Input should be 'original' or 'hires'",
        ),
        (
            "conversion.compositing.colour_transfer",
            "sepia",
            (
                r"conversion\.compositing\.colour_transfer: Input should be 'reinhard_lab',"
                r" 'histogram' or 'none'"
            ),
        ),
        (
            "conversion.compositing.blend",
            "poisson",
            r"conversion\.compositing\.blend: Input should be 'alpha' or 'seamless'",
        ),
        ("evaluation.report.frames", -1, r"evaluation\.report\.frames"),
        (
            "download.socket_timeout_s",
            0,
            r"download\.socket_timeout_s: Input should be greater than 0",
        ),
    ],
)
def test_a_parameter_out_of_range_is_named_before_any_node_runs(
    default_pipeline, dotted, value, named
):
    catalog = _params_catalog(_set(_base_parameters(), dotted, value))
    (problem,) = parameter_problems(default_pipeline, catalog)
    assert re.search(named, problem), problem
    with pytest.raises(PreflightError, match=named):
        PreflightHooks().before_pipeline_run(
            run_params={}, pipeline=default_pipeline, catalog=catalog
        )


def test_a_refusal_names_the_file_or_params_that_set_each_wrong_value(default_pipeline, tmp_path):
    # A project whose conf/local sets one value over the preset; --params sets another.
    conf = tmp_path / "conf"
    for env in ("base", "tiny"):
        (conf / env).mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "conf" / env / "parameters_training.yml", conf / env)
    (conf / "local").mkdir()
    (conf / "local" / "parameters_training.yml").write_text("training:\n  max_minutes: -1\n")
    parameters = _set(_base_parameters(), "training.architecture", "dfl")
    parameters = _set(parameters, "training.max_minutes", -1)
    parameters = _set(parameters, "training.optimizer.betas", [0.5])
    parameters = _set(parameters, "training.init_frozen", ["wings"])
    run_params = {
        "env": "tiny",
        "runtime_params": {"training": {"architecture": "dfl"}},
        "project_path": str(tmp_path),
    }
    with pytest.raises(PreflightError) as refused:
        PreflightHooks().before_pipeline_run(
            run_params=run_params, pipeline=default_pipeline, catalog=_params_catalog(parameters)
        )
    assert sorted(str(refused.value).splitlines()[1:]) == [
        "  - invalid parameters in --params: training.architecture: Input should be 'original' or"
        " 'hires'",
        # Set in conf/base only: the stage's own file.
        "  - invalid parameters in conf/base/parameters_training.yml: training.init_frozen.0: Input"
        " should be 'convolutions', 'bottleneck', 'decoder_input' or 'decoder_output'",
        "  - invalid parameters in conf/local/parameters_training.yml: training.max_minutes: Input"
        " should be greater than 0",
        # The preset sets the list, so it answers for its items.
        "  - invalid parameters in conf/tiny/parameters_training.yml: training.optimizer.betas.1:"
        " Field required",
    ]


def test_a_check_across_a_block_names_every_file_that_set_one_of_its_values(
    default_pipeline, tmp_path
):
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "conf/base/parameters_training.yml", conf / "base")
    (conf / "local").mkdir()
    (conf / "local/parameters_training.yml").write_text(
        "training:\n  optimizer: {schedule: cosine}\n"
    )
    cosine = _set(_base_parameters(), "training.optimizer.schedule", "cosine")
    run_params = {"runtime_params": {"training": {"optimizer": {"lr": 1e-3}}}}
    with pytest.raises(PreflightError) as refused:
        PreflightHooks().before_pipeline_run(
            run_params={**run_params, "project_path": str(tmp_path)},
            pipeline=default_pipeline,
            catalog=_params_catalog(cosine),
        )
    assert (
        str(refused.value)
        .splitlines()[1]
        .startswith(
            "  - invalid parameters in conf/base/parameters_training.yml,"
            " conf/local/parameters_training.yml and --params: training.optimizer: Value error,"
            " schedule: cosine needs decay_steps"
        )
    )


def test_the_pretraining_s_own_training_values_are_checked_merged_and_named_as_set(pipelines):
    # `pretraining.training` changes the pair's settings for the base model: a wrong value there
    # is refused before any work, named as the user wrote it (not as the `training` it merges into).
    parameters = _set(_base_parameters(), "pretraining.training.max_steps", 0)
    (problem,) = parameter_problems(pipelines["pretraining"], _params_catalog(parameters))
    assert problem == (
        "invalid parameters in conf/base/parameters_pretraining.yml:"
        " pretraining.training.max_steps: Input should be greater than or equal to 1"
    )
    # A wrong value of the pair's own is named once, as the pair's.
    parameters = _set(parameters, "training.batch_size", 0)
    (problem,) = parameter_problems(pipelines["pretraining"], _params_catalog(parameters))
    assert problem.endswith("training.batch_size: Input should be greater than or equal to 1")


def test_the_project_parameters_pass(default_pipeline):
    assert parameter_problems(default_pipeline, _params_catalog(_base_parameters())) == []


def test_only_the_stages_that_run_are_checked(pipelines, default_pipeline):
    catalog = _params_catalog(_set(_base_parameters(), "training.architecture", "dfl"))
    ingestion = pipelines["ingestion"]
    assert parameter_problems(ingestion, catalog) == []
    assert len(parameter_problems(default_pipeline, catalog)) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a CUDA GPU")
def test_a_training_on_a_gpu_this_machine_does_not_have_is_refused(pipelines, default_pipeline):
    gpu = _set(_base_parameters(), "training.trainer.accelerator", "gpu")
    expected = (
        "training.trainer.accelerator: gpu, but this machine has no gpu device (torch "
        f"{torch.__version__}, CUDA not built in); run on a machine with one, or set"
        " training.trainer.accelerator=auto to train on what this one has"
    )
    assert accelerator_problems(default_pipeline, _params_catalog(gpu)) == [expected]
    with pytest.raises(PreflightError, match=re.escape(expected)):
        PreflightHooks().before_pipeline_run(
            run_params={}, pipeline=default_pipeline, catalog=_params_catalog(gpu)
        )
    # The pretraining trains with the pair's trainer unless `pretraining.training` changes it.
    (pretraining,) = accelerator_problems(pipelines["pretraining"], _params_catalog(gpu))
    assert pretraining.startswith("pretraining.training.trainer.accelerator: gpu, but")
    # Stages that train nothing, and the CPU or whatever there is, pass.
    assert accelerator_problems(pipelines["conversion"], _params_catalog(gpu)) == []
    for accelerator in ("auto", "cpu"):
        settings = _set(_base_parameters(), "training.trainer.accelerator", accelerator)
        assert accelerator_problems(default_pipeline, _params_catalog(settings)) == []


def _writes(*names: str) -> Pipeline:
    return Pipeline([Node(lambda: tuple(range(len(names))), None, list(names), name="make")])


def test_an_output_folder_that_is_a_file_is_named_with_its_dataset(tmp_path):
    # Root can write through any permission bits; a file standing where a folder should be stops
    # everyone, as a read-only disk would.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "03_primary").write_text("not a folder")
    catalog = DataCatalog(
        {
            "face_alignments": ParquetDataset(
                filepath=str(tmp_path / "data/03_primary/face_alignments.parquet")
            ),
            "aligned_faces": ImageFolderDataset(
                path=str(tmp_path / "data/03_primary/faces/person_a")
            ),
            "summary": ParquetDataset(filepath=str(tmp_path / "data/08_reporting/summary.parquet")),
            "in_memory": MemoryDataset(),
        }
    )
    problems = output_folder_problems(
        _writes("face_alignments", "aligned_faces", "summary", "in_memory"), catalog
    )
    assert len(problems) == 2, problems
    assert problems[0].startswith(
        f"cannot write aligned_faces: folder {tmp_path}/data/03_primary/faces/person_a is not"
        " writable"
    )
    assert problems[1].startswith(
        f"cannot write face_alignments: folder {tmp_path}/data/03_primary is not writable"
    )
    assert all("point the catalog entry" in problem for problem in problems)
    assert "NotADirectoryError" in problems[0] and "data/03_primary is a file" in problems[0]
    # A missing folder that can be made is judged by its parent and not made; the check leaves
    # nothing.
    assert sorted(path.name for path in (tmp_path / "data").iterdir()) == ["03_primary"]


def test_a_folder_that_refuses_new_files_even_to_root_is_refused(tmp_path):
    """No file can be created in /proc/sys (procfs, read-only in containers), root included: a real
    OS refusal."""
    target = Path("/proc/sys/kernel")
    catalog = DataCatalog({"report": ParquetDataset(filepath=str(target / "report.parquet"))})
    (problem,) = output_folder_problems(_writes("report"), catalog)
    assert problem.startswith("cannot write report: folder /proc/sys/kernel is not writable (")


def _identity(table: pd.DataFrame) -> pd.DataFrame:
    return table


def test_an_input_an_earlier_stage_makes_is_named_with_that_stage_until_it_is_there(tmp_path):
    table = tmp_path / "03_primary" / "identity_person_a.parquet"
    catalog = DataCatalog(
        {
            "person_a_identity": ParquetDataset(filepath=str(table)),
            # Optional: an empty folder loads as no photos, so it is never "missing".
            "reference_photos": ImageFolderDataset(path=str(tmp_path / "photos")),
        }
    )
    extraction = Pipeline([Node(_identity, "frames", "person_a_identity")])
    conversion = Pipeline(
        [Node(lambda identity, photos: identity, ["person_a_identity", "reference_photos"], "out")]
    )
    stages = {"face_extraction": extraction, "conversion": conversion}
    (problem,) = missing_input_problems(conversion, catalog, lambda: stages)
    assert problem.startswith("not made yet: person_a_identity (")
    assert "identity_person_a.parquet), which the face_extraction pipeline makes: run" in problem
    assert "`kedro run --pipelines face_extraction` first" in problem
    table.parent.mkdir(parents=True)
    pd.DataFrame({"track": [0]}).to_parquet(table)
    assert missing_input_problems(conversion, catalog, lambda: stages) == []


def test_a_local_conversion_video_that_is_not_there_is_named_before_the_training(
    pipelines, default_pipeline, tmp_path
):
    """Found by the conversion node, it stopped a `kedro run` after the whole training."""
    missing = tmp_path / "interview.mp4"
    catalog = _params_catalog(_set(_base_parameters(), "conversion.video", str(missing)))
    expected = f"conversion.video {missing} does not exist; give a video file or an http(s) URL"
    assert named_input_problems(default_pipeline, catalog) == [expected]
    assert named_input_problems(pipelines["evaluation"], catalog) == [expected]
    with pytest.raises(PreflightError, match=re.escape(expected)):
        PreflightHooks().before_pipeline_run(
            run_params={}, pipeline=default_pipeline, catalog=catalog
        )
    # Stages that read no conversion.video, a file that is there, a URL or none pass.
    assert named_input_problems(pipelines["training"], catalog) == []
    missing.write_bytes(b"")
    assert named_input_problems(default_pipeline, catalog) == []
    for video in ("https://example.com/interview.mp4", None):
        catalog = _params_catalog(_set(_base_parameters(), "conversion.video", video))
        assert named_input_problems(default_pipeline, catalog) == []


def test_a_base_model_the_pair_cannot_start_from_is_named_before_the_face_extraction(
    pipelines, default_pipeline, tmp_path
):
    """Found by the training node, it stopped a `kedro run` after the face extraction (and a
    `resume: false` run had set the pair's checkpoint aside first)."""
    from faceswap_pipeline.datasets.base_model import BaseModelDataset
    from faceswap_pipeline.model import BaseModel, save_base_model
    from faceswap_pipeline.pipelines.training.params import parse_training_params

    folder, checkpoints = tmp_path / "base_model", tmp_path / "checkpoints"
    parameters = _set(_base_parameters(), "training.checkpoint_dir", str(checkpoints))
    parameters = _set(parameters, "training.init_from", "base_model")

    def problems(pipeline: Pipeline, parameters: dict = parameters) -> list[str]:
        catalog = _params_catalog(parameters)
        catalog["base_model"] = BaseModelDataset(path=str(folder))
        return named_input_problems(pipeline, catalog)

    (problem,) = problems(default_pipeline)
    assert problem.startswith(f"no base model at {folder} (no model.safetensors); run `kedro run")
    # The pretraining makes it in the same run: checked when the pair's training starts.
    assert problems(pipelines["pretraining"] + pipelines["training"]) == []
    config = parse_training_params(parameters["training"]).swap_model_config()
    save_base_model(BaseModel(replace(config, width=config.width * 2)), folder)
    (problem,) = problems(pipelines["training"])
    assert problem.startswith(f"base model {folder} was pretrained for another model: width ")
    # Named by its path: the same checks.
    by_path = _set(parameters, "training.init_from", str(folder))
    assert problems(pipelines["training"], by_path) == [problem]
    # A checkpoint of the pair's own to resume wins over the base model: not read, not refused;
    # with `resume: false` the base model is what the run starts from.
    _save_checkpoint(checkpoints / "last.ckpt", parse_training_params(parameters["training"]))
    assert problems(pipelines["training"]) == []
    assert problems(pipelines["training"], _set(parameters, "training.resume", False)) == [problem]
    save_base_model(BaseModel(config), folder)
    assert problems(pipelines["training"], _set(parameters, "training.resume", False)) == []
    # Stages that train no pair, and a pair from scratch, pass.
    assert problems(pipelines["conversion"]) == []
    # (Without the checkpoint: saved with the code adversary, which `auto` turns on from a base
    # model and off from scratch, it is refused there.)
    (checkpoints / "last.ckpt").unlink()
    assert problems(default_pipeline, _set(parameters, "training.init_from", None)) == []


def _save_checkpoint(path: Path, params, width_factor: float = 1.0) -> None:
    """A checkpoint as `SwapLightningModule` saves its configuration (what a resume reads) for a
    run of ``params`` (`TrainingParams`), the model's width times ``width_factor``."""
    from faceswap_pipeline.model.lightning_module import SwapLightningModule

    config = params.swap_model_config()
    module = SwapLightningModule(
        replace(config, width=config.width * width_factor), params.optimizer, params.loss
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"hyper_parameters": dict(module.hparams), "global_step": 12}, path)


def test_a_checkpoint_a_training_cannot_resume_is_named_before_the_face_extraction(
    pipelines, default_pipeline, tmp_path
):
    """Found by the training node (`CheckpointMismatchError`), it stopped a `kedro run` after the
    face extraction: a `last.ckpt` of another model, of other adversaries, or unreadable."""
    from faceswap_pipeline.model.pretrained import pretraining_run_settings
    from faceswap_pipeline.pipelines.pretraining.params import pretraining_training_params
    from faceswap_pipeline.pipelines.training.params import parse_training_params

    pair, pre = tmp_path / "checkpoints", tmp_path / "pretraining_checkpoints"
    parameters = _set(_base_parameters(), "training.checkpoint_dir", str(pair))
    parameters = _set(parameters, "pretraining.training.checkpoint_dir", str(pre))
    # With the code adversary: the pretraining trains without it whatever training.loss says.
    parameters = _set(parameters, "training.loss.code_identity_weight", 0.1)
    params = parse_training_params(parameters["training"])
    assert params.loss.adversaries == ("code", "face")

    def problems(pipeline: Pipeline, parameters: dict = parameters) -> list[str]:
        return named_input_problems(pipeline, _params_catalog(parameters))

    assert problems(default_pipeline) == []  # nothing to resume yet
    _save_checkpoint(pair / "last.ckpt", params, width_factor=2.0)
    (problem,) = problems(default_pipeline)
    assert problem.startswith(f"checkpoint {pair / 'last.ckpt'} was trained for another model: ")
    assert "Set training.resume: false to start over (the old checkpoint is kept as" in problem
    with pytest.raises(PreflightError, match=re.escape(problem)):
        PreflightHooks().before_pipeline_run(
            run_params={}, pipeline=pipelines["training"], catalog=_params_catalog(parameters)
        )
    # Starting over, or stages that train nothing, read no checkpoint.
    assert problems(default_pipeline, _set(parameters, "training.resume", False)) == []
    assert problems(pipelines["conversion"]) == []
    without_code = params.model_copy(
        update={"loss": params.loss.model_copy(update={"code_identity_weight": 0.0})}
    )
    _save_checkpoint(pair / "last.ckpt", without_code)
    (problem,) = problems(pipelines["training"])
    assert (
        "was trained without the code adversary, and training.loss.code_identity_weight is above 0"
        " now (`auto` is 0.0 from scratch, 0.1 from a base model)" in problem
    )
    (pair / "last.ckpt").write_bytes(b"")
    (problem,) = problems(pipelines["training"])
    assert "cannot be read safely" in problem and problem.endswith("training.resume: false.")
    _save_checkpoint(pair / "last.ckpt", params)
    assert problems(default_pipeline) == []

    # The pretraining's own checkpoint, named by its own keys; one it saved itself passes.
    pretraining = pretraining_training_params(parameters["training"], parameters["pretraining"])
    _save_checkpoint(pre / "last.ckpt", pretraining_run_settings(pretraining), width_factor=2.0)
    (problem,) = problems(pipelines["pretraining"])
    assert problem.startswith(f"checkpoint {pre / 'last.ckpt'} was trained for another model: ")
    assert "Set pretraining.training.resume: false" in problem
    assert problems(pipelines["training"]) == []
    _save_checkpoint(pre / "last.ckpt", pretraining_run_settings(pretraining))
    assert problems(pipelines["pretraining"] + pipelines["training"]) == []


def _kedro_run_failing(project: Path, args: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode != 0, result.stdout[-3000:]
    return result.stdout + result.stderr


def _files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def _mlflow_runs(project: Path) -> list[tuple[str, str]]:
    """``(name, status)`` of every MLflow run in the project's store (none when it has no store)."""
    store = project / "mlflow.db"
    if not store.exists():
        return []
    with sqlite3.connect(store) as connection:
        return connection.execute("SELECT name, status FROM runs").fetchall()


@pytest.mark.slow
def test_kedro_run_with_bad_parameters_stops_before_any_work_naming_each(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    # Sources are lists of mappings, which `--params` cannot hold (it splits on commas): a user's
    # conf/local file says them.
    (project / "conf/local/parameters_ingestion.yml").write_text(
        yaml.safe_dump(
            {
                "person_a": {
                    "name": "A",
                    "sources": [{"path": str(shared_videos / "single_d18.mp4"), "fps": -5}],
                },
                "person_b": {
                    "name": "B",
                    "sources": [
                        {"path": str(shared_videos / "person_b_d9.mp4"), "start": 12, "end": 3}
                    ],
                },
            }
        )
    )
    bad = ["training.architecture=dfl", "conversion.compositing.colour_transfer=sepia"]
    output = _kedro_run_failing(project, ["--params", ",".join(bad)])
    for named in (
        "refused before any work started",
        # Each wrong value is named with where the user set it: conf/local, or --params.
        "invalid parameters in conf/local/parameters_ingestion.yml: person_a.sources.0.fps:",
        "invalid parameters in conf/local/parameters_ingestion.yml: person_b.sources.0: Value"
        " error, end (3.0) must be after start (12.0)",
        "invalid parameters in --params: training.architecture:",
        "invalid parameters in --params: conversion.compositing.colour_transfer:",
    ):
        assert named in output, output[-4000:]
    assert "Running node" not in output and _files_under(project / "data") == []
    # Refused before kedro-mlflow opens its run: no empty run in the MLflow UI (it read FINISHED).
    assert _mlflow_runs(project) == []


@pytest.mark.slow
def test_kedro_run_with_an_unwritable_output_folder_writes_nothing(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    (project / "data").mkdir()
    (project / "data" / "02_intermediate").write_text("a file where the folder should be")
    output = _kedro_run_failing(
        project, ["--pipelines", "ingestion", "--params", ",".join(local_sources(shared_videos))]
    )
    assert (
        "cannot write person_a.video_metadata, person_b.video_metadata: folder data/02_intermediate"
        " is not writable" in output
    ), output[-4000:]
    assert "Running node" not in output
    assert _files_under(project / "data") == [project / "data" / "02_intermediate"]


@pytest.mark.slow
def test_kedro_run_of_a_later_stage_before_the_earlier_ones_names_what_to_run_first(
    tmp_path, shared_videos
):
    project = make_project(tmp_path / "project")
    output = _kedro_run_failing(
        project,
        ["--pipelines", "conversion", "--params", ",".join(local_sources(shared_videos))],
    )
    assert "Error: PreflightError: refused before any work started" in output, output[-4000:]
    assert (
        "not made yet: person_a_identity (data/03_primary/identity_person_a.parquet),"
        " person_b_identity (data/03_primary/identity_person_b.parquet), which the"
        " face_extraction pipeline makes: run `kedro run --pipelines face_extraction` first"
        in output
    ), output[-4000:]
    assert "swap_model" in output and "the training pipeline makes" in output, output[-4000:]
    assert "Running node" not in output and "Traceback" not in output
    assert "not implemented for" not in output  # no warning from the check itself
    assert _mlflow_runs(project) == []
