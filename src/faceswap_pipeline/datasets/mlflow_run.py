"""The active MLflow run's id as a read-only dataset, so that a node can record which run made an
output without importing MLflow."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class MlflowRunIdDataset(AbstractDataset[None, "str | None"]):
    """Loads the id of the active MLflow run (kedro-mlflow starts it), None when there is none."""

    def __init__(self, metadata: dict[str, Any] | None = None):
        self.metadata = metadata  # Kedro-Viz's layer

    def _load(self) -> str | None:
        import mlflow

        run = mlflow.active_run()
        return run.info.run_id if run is not None else None

    def _save(self, data: None) -> None:
        raise DatasetError("MlflowRunIdDataset is read-only: it reports the active MLflow run")

    def _exists(self) -> bool:
        return True  # always loads: None outside a run

    def _describe(self) -> dict[str, Any]:
        return {}
