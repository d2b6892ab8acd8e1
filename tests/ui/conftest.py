"""One tiny run of every registered pipeline, shared by the UI tests (Kedro-Viz, MLflow UI,
notebook).

A throw-away project (tests/helpers/kedro_project.py) runs `kedro run --env tiny` once per test
session on short real clips sampled sparsely: person A is `single_d18.mp4` (7.2 s) at 6 fps, person
B `no_audio_d0.mp4` (3.1 s, no audio) at 10 fps, the `tiny` training preset (conf/tiny) and one
second of conversion. The pipelines that run are the registered ones, so the UI tests grow with the
project; `pretraining` (not in the default run) runs after it as its own `kedro run`, on
`single_d12.mp4` at 5 fps.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import PROJECT_ROOT
from tests.helpers.kedro_project import kedro_run, make_project
from tests.helpers.tiny_run import TINY_ENV, TinyRun

# person namespace -> (display name, clip in ../shared/data/videos, frames per second sampled)
PEOPLE_CLIPS = {
    "person_a": ("person A", "single_d18.mp4", 6),
    "person_b": ("person B", "no_audio_d0.mp4", 10),
}
# The pretraining's one clip: a person other than the pair.
PRETRAINING_CLIP = "single_d12.mp4"
# `--params` on top of the tiny preset: keys that deep-merge into the base parameters.
TINY_RUN_PARAMS = ["conversion.duration_s=1.0"]


def registered_pipelines(project: Path) -> tuple[str, ...]:
    """The pipeline names `kedro registry list` prints for ``project`` (``__default__`` left
    out)."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "registry", "list"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    names = [
        line.strip()[2:] for line in result.stdout.splitlines() if line.strip().startswith("- ")
    ]
    return tuple(name for name in names if name != "__default__")


def _write_people(project: Path, shared_videos: Path) -> None:
    # A conf file rather than --params: Kedro's --params splits on commas, so a list of sources with
    # several keys cannot be given there. Top-level keys replace the base ones whole.
    lines = []
    for person, (name, clip, fps) in PEOPLE_CLIPS.items():
        lines += [
            f"{person}:",
            f"  name: {name}",
            f"  sources: [{{path: '{shared_videos / clip}', fps: {fps}}}]",
            "  reference_photos: []",
        ]
    (project / "conf" / TINY_ENV / "parameters_tiny_run_people.yml").write_text(
        "\n".join(lines) + "\n"
    )


def _write_pretraining_sources(project: Path, shared_videos: Path) -> None:
    conf = project / "conf" / TINY_ENV / "parameters_pretraining.yml"
    values = yaml.safe_load(conf.read_text())
    values["pretraining"]["sources"] = [{"path": str(shared_videos / PRETRAINING_CLIP), "fps": 5}]
    conf.write_text(yaml.safe_dump(values))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, shared_videos: Path) -> TinyRun:
    """Run every registered pipeline once on tiny settings; the project with its data and MLflow
    store."""
    project = make_project(tmp_path_factory.mktemp("ui") / "project")
    shutil.copytree(PROJECT_ROOT / "conf" / TINY_ENV, project / "conf" / TINY_ENV)
    _write_people(project, shared_videos)
    result = kedro_run(project, None, TINY_RUN_PARAMS, extra_args=["--env", TINY_ENV])
    log = result.stdout + result.stderr
    pipelines = registered_pipelines(project)
    if "pretraining" in pipelines:
        # Not in the default run: a user runs it on its own (its own MLflow run), on other people.
        _write_pretraining_sources(project, shared_videos)
        result = kedro_run(project, extra_args=["--pipelines", "pretraining", "--env", TINY_ENV])
        log += result.stdout + result.stderr
    (project / "tiny_run.log").write_text(log)
    return TinyRun(project=project, pipelines=pipelines, log=log)
