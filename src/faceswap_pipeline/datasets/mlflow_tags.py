"""Tags on the active MLflow run as a write-only dataset, so that a node returns its tags (a
verdict, the run it judges) and the catalog sets them, as kedro-mlflow's datasets do for metrics
and artifacts (kedro-mlflow has no dataset for tags)."""

from __future__ import annotations

import logging
from typing import Any

from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)

# MLflow refuses longer tag values; a verdict's text is a few lines.
MAX_TAG_LENGTH = 5000


class MlflowTagsDataset(AbstractDataset[dict[str, str], None]):
    """Saving `{key: value}` sets those tags on the active MLflow run (kedro-mlflow starts it);
    values longer than `MAX_TAG_LENGTH` characters are cut there. Without an active run nothing is
    set."""

    def __init__(self, metadata: dict[str, Any] | None = None):
        self.metadata = metadata  # Kedro-Viz's layer

    def _save(self, data: dict[str, str]) -> None:
        import mlflow

        if mlflow.active_run() is None:
            logger.info("no active MLflow run: tags %s not set", ", ".join(sorted(data)))
            return
        mlflow.set_tags({key: str(value)[:MAX_TAG_LENGTH] for key, value in data.items()})

    def _load(self) -> None:
        raise DatasetError("MlflowTagsDataset is write-only: it sets tags on the active MLflow run")

    def _describe(self) -> dict[str, Any]:
        return {}
