"""Project settings: configuration loading, the project-root resolver and telemetry.

kedro-mlflow's hooks register themselves through their entry point; ours say what each node made.
"""

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader

from faceswap_pipeline.hooks import OutputSummaryHooks, PreflightHooks, VerdictHooks

# These machines are offline: nothing may wait on telemetry. `.telemetry` (consent: false) at the
# project root turns kedro-telemetry off; the variables cover tools started from this process.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Where the package sits in an editable install: the fallback when no project is found from the cwd.
_PACKAGE_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _project_root() -> str:
    """The Kedro project's root folder, so that `sqlite:///${project_root:}/mlflow.db` does not follow
    the cwd (a notebook runs in `notebooks/`): the nearest folder at or above the cwd with a Kedro
    `pyproject.toml`, else the project this package was installed from."""
    from kedro.utils import find_kedro_project

    found = find_kedro_project(Path.cwd())
    return Path(found or _PACKAGE_PROJECT_ROOT).resolve().as_posix()


# Before the first node: every stage's parameters and output folders checked; after every node, a log
# line that names what it made and where (the catalog knows; nodes do not).
HOOKS = (PreflightHooks(), OutputSummaryHooks(), VerdictHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"project_root": _project_root},
}
