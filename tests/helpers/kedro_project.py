"""A throw-away copy of this Kedro project (conf, pyproject) in a temporary folder, to run pipelines
for real.

Its `data/` and `mlflow.db` live in the copy, so tests never touch the developer's data or runs.
Each run is a `kedro run` in its own process, as a user runs it (Kedro and kedro-mlflow keep global
state).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import PROJECT_ROOT


def make_project(folder: Path) -> Path:
    """Copy conf/base, conf/logging.yml, pyproject.toml and .telemetry into ``folder`` (with an
    empty src/); return it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "conf" / "base", folder / "conf" / "base")
    shutil.copy(PROJECT_ROOT / "conf" / "logging.yml", folder / "conf" / "logging.yml")
    (folder / "conf" / "local").mkdir(parents=True)
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT_ROOT / name, folder / name)
    # Kedro's bootstrap wants a source folder inside the project; the package is the installed one.
    (folder / "src").mkdir()
    return folder


def _run_command(
    project: Path,
    pipeline: str | None,
    params: list[str] | None,
    extra_args: list[str] | None,
    env: dict[str, str] | None,
    timeout_s: float,
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kedro", "run"]
    if pipeline:
        command += ["--pipelines", pipeline]
    if params:
        command += ["--params", ",".join(params)]
    command += extra_args or []
    environment = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        command,
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def kedro_run(
    project: Path,
    pipeline: str | None = None,
    params: list[str] | None = None,
    *,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 900,
) -> subprocess.CompletedProcess:
    """Run ``kedro run`` in ``project`` in a child process; raise with its output when it fails.

    Args:
        params: ``key=value`` strings for ``--params`` (values in YAML flow style).
        env: environment variables added to this process's for the run.
    """
    result = _run_command(project, pipeline, params, extra_args, env, timeout_s)
    if result.returncode != 0:
        raise AssertionError(
            "kedro run failed"
            f" ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


def kedro_run_failing(
    project: Path,
    pipeline: str | None = None,
    params: list[str] | None = None,
    *,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 600,
) -> subprocess.CompletedProcess:
    """``kedro_run`` for a run that must fail: raise when it succeeds; the result (exit status,
    output)."""
    result = _run_command(project, pipeline, params, extra_args, env, timeout_s)
    if result.returncode == 0:
        raise AssertionError(f"kedro run succeeded where it should fail:\n{result.stdout[-4000:]}")
    return result


def local_sources(
    shared_videos: Path, a: str = "person_a_d6.mp4", b: str = "person_b_d9.mp4"
) -> list[str]:
    """``--params`` that point both people at local clips instead of the default URLs."""
    return [
        f"person_a.sources=[{{path: {shared_videos / a}}}]",
        f"person_b.sources=[{{path: {shared_videos / b}}}]",
    ]
