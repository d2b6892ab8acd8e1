"""`kedro run` as a user meets its errors: a known user error ends in a few lines without a
traceback and exits non-zero; `--verbose` or `FACESWAP_TRACEBACK=1` shows the traceback; an
unexpected error keeps it.

Each case is a real `kedro run` in a throw-away project (the project's `cli.py` is what `kedro`
runs).
"""

from __future__ import annotations

import pytest
import yaml

from faceswap_pipeline.cli import TRACEBACK_VARIABLE
from tests.helpers.kedro_project import kedro_run_failing, make_project
from tests.helpers.local_servers import free_port

pytestmark = pytest.mark.slow

# A user error's message, the kedro log lines before it and the hint fit on a screen.
MAX_LINES = 40


def _output(result) -> str:
    return result.stdout + result.stderr


def _people(project, person_a_source: dict, person_b_source: dict) -> None:
    """The README's way to name one's own people: conf/local/parameters_ingestion.yml."""
    (project / "conf/local/parameters_ingestion.yml").write_text(
        yaml.safe_dump(
            {
                "person_a": {"name": "A", "sources": [person_a_source]},
                "person_b": {"name": "B", "sources": [person_b_source]},
            }
        )
    )


def test_a_truncated_video_ends_in_a_few_lines_and_verbose_shows_the_traceback(
    tmp_path, shared_videos
):
    project = make_project(tmp_path / "project")
    truncated = tmp_path / "truncated.mp4"
    data = (shared_videos / "single_d18.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    _people(project, {"path": str(truncated)}, {"path": str(shared_videos / "person_b_d9.mp4")})

    result = kedro_run_failing(project, "ingestion")
    output = _output(result)
    assert result.returncode == 1
    said = f"Error: SourceError: A: {truncated} is not a video file PyAV can read"
    assert said in result.stderr, output[-3000:]
    assert "Traceback" not in output and "──── Traceback" not in output
    # Said once, at the end: Kedro's log line for the failed node points there.
    assert output.count("is not a video file PyAV can read") == 1, output
    assert "failed with error: SourceError, its message at the end" in output, output
    assert len(output.splitlines()) <= MAX_LINES, output
    # kedro-mlflow closes the failed run and says so once (not once per node it had restarted it
    # at: conf/base/mlflow.yml `nested: False`).
    assert output.count("was closed because of an error in the pipeline") == 1, output

    verbose = _output(kedro_run_failing(project, "ingestion", extra_args=["--verbose"]))
    assert "Traceback" in verbose and "is not a video file PyAV can read" in verbose
    by_variable = _output(kedro_run_failing(project, "ingestion", env={TRACEBACK_VARIABLE: "1"}))
    assert "Traceback" in by_variable


def test_no_network_says_how_to_run_offline(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    url = f"http://127.0.0.1:{free_port()}/d6.mp4"  # refused: as without a network
    _people(project, {"url": url}, {"path": str(shared_videos / "person_b_d9.mp4")})

    result = kedro_run_failing(project, "ingestion", ["download.retries=0"])
    output = _output(result)
    assert (
        f"Error: SourceError: A: could not download {url}: the server could not be reached"
        in result.stderr
    ), output
    for hint in ("data/01_raw/videos/person_a/", "`path:`", "Offline"):
        assert hint in result.stderr, output
    assert "Traceback" not in output


def test_a_missing_model_and_a_preflight_refusal_are_short(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    missing_model = kedro_run_failing(
        project, "conversion", [f"conversion.video={shared_videos / 'single_d18.mp4'}"]
    )
    output = _output(missing_model)
    # Refused before any work: what the earlier stages make and is not there yet, and the
    # pipeline that makes it.
    assert "Error: PreflightError: refused before any work started" in missing_model.stderr
    assert "not made yet: swap_model (data/06_models/swap_model" in missing_model.stderr, output
    assert "kedro run --pipelines training" in missing_model.stderr
    assert "Traceback" not in output and len(output.splitlines()) <= MAX_LINES, output

    refused = kedro_run_failing(project, "training", ["training.batch_size=0"])
    assert "Error: PreflightError: refused before any work started" in refused.stderr, _output(
        refused
    )[-3000:]
    assert "training.batch_size" in refused.stderr and "Traceback" not in _output(refused)


def test_an_unexpected_error_keeps_its_traceback(tmp_path):
    project = make_project(tmp_path / "project")
    # Not one of the project's errors: a catalog entry naming a dataset type that does not exist.
    (project / "conf/local/catalog.yml").write_text(
        yaml.safe_dump(
            {
                "{person}.video_metadata": {
                    "type": "pandas.NoSuchDataset",
                    "filepath": "data/x.parquet",
                },
            }
        )
    )
    output = _output(kedro_run_failing(project, "ingestion"))
    assert "Traceback" in output and "NoSuchDataset" in output, output[-3000:]


def test_a_misspelt_pipeline_or_environment_is_named_before_anything_starts(tmp_path):
    project = make_project(tmp_path / "project")
    before = sorted(path.relative_to(project) for path in project.rglob("*"))

    pipeline = kedro_run_failing(project, "trainin")
    assert pipeline.returncode == 1
    assert pipeline.stderr.startswith(
        "Error: no pipeline named 'trainin' (did you mean 'training'?); the pipelines are:"
        " conversion, evaluation, face_extraction, ingestion, pretraining, training"
    ), _output(pipeline)[-3000:]
    # Nothing ran, so there is no traceback to offer.
    assert len(_output(pipeline).splitlines()) == 1

    environment = kedro_run_failing(project, "training,evaluation", extra_args=["--env", "tny"])
    assert environment.returncode == 1
    # The throw-away project has conf/base and conf/local only.
    assert environment.stderr.startswith(
        "Error: no configuration environment 'tny': there is no folder conf/tny; the environments"
        " are: local"
    ), _output(environment)[-3000:]
    # KEDRO_ENV is Kedro's other way to name it.
    variable = kedro_run_failing(project, "training", env={"KEDRO_ENV": "gpux"})
    assert "Error: no configuration environment 'gpux'" in variable.stderr, _output(variable)
    # No MLflow store, log or data folder was made.
    assert sorted(path.relative_to(project) for path in project.rglob("*")) == before
