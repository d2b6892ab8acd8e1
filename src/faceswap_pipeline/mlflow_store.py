"""The project's MLflow store (`sqlite:///.../mlflow.db`), made once however many processes open it.

MLflow creates a SQLite store's tables (with Alembic's migrations) the first time a process opens
it. Two processes that open a fresh store at once both do so, and one of them fails halfway
(`duplicate column name: step`, `table latest_metrics already exists`), or both do and leave the
store half made: two `kedro run`s started together, or a run started beside `make mlflow-ui`.
`prepare_tracking_store` makes the store under a lock beside its file, so the second process
waits and finds the tables there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from filelock import FileLock
from kedro.config import MissingConfigException

logger = logging.getLogger(__name__)

_SQLITE = "sqlite:///"
# Where kedro-mlflow reads mlflow.yml from (its own hook adds these patterns when missing).
MLFLOW_CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]


def mlflow_tracking_uri(config_loader: Any) -> str | None:
    """The tracking URI a run's `mlflow.yml` names (`server.mlflow_tracking_uri`), read as
    kedro-mlflow reads it; None where it names none (MLflow's default then)."""
    config_loader.config_patterns.setdefault("mlflow", MLFLOW_CONFIG_PATTERNS)
    try:
        server = config_loader["mlflow"].get("server") or {}
    except MissingConfigException:
        return None
    return server.get("mlflow_tracking_uri")


def sqlite_store_path(tracking_uri: str | None) -> Path | None:
    """The database file of a `sqlite:///` tracking URI; None for any other store."""
    if not tracking_uri or not tracking_uri.startswith(_SQLITE):
        return None
    return Path(tracking_uri[len(_SQLITE) :].split("?", 1)[0])


def prepare_tracking_store(tracking_uri: str | None) -> None:
    """Open the store at `tracking_uri` once under a lock (`<file>.lock`), so that MLflow creates a
    fresh SQLite store's tables in one process only; any other store is left to MLflow."""
    path = sqlite_store_path(tracking_uri)
    if path is None:
        return
    import mlflow

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        if not path.exists():
            logger.info("MLflow: making its tracking store %s (a project's first run)", path.name)
        mlflow.MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)
