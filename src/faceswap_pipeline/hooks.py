"""Project hooks: after every node, one log line that says what it made and where.

Nodes never see paths (the catalog does all I/O), so they cannot say where their outputs went; the catalog
can. The line names each output written to a file or folder, relative to the project when it is inside it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node

logger = logging.getLogger(__name__)


def _dataset_location(catalog: DataCatalog, name: str) -> str | None:
    """Where ``name`` is stored (file or folder), or ``None`` for in-memory and parameter datasets."""
    dataset = catalog.get(name)
    if dataset is None:
        return None
    # Kedro datasets describe their location as `filepath` (files) or `path` (folders).
    description = dataset._describe()
    location = description.get("filepath") or description.get("path")
    if not location:
        return None
    path = Path(str(location))
    try:
        shown = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        shown = str(path)
    if type(dataset).__name__.startswith("Mlflow"):
        shown += " + MLflow run"
    return shown


class OutputSummaryHooks:
    """Logs, after each node, ``<node> made <dataset> (<where>), ...`` for its stored outputs."""

    @hook_impl
    def after_node_run(self, node: Node, catalog: DataCatalog, outputs: dict[str, Any]) -> None:
        made = []
        for name in node.outputs:
            location = _dataset_location(catalog, name)
            if location is not None:
                made.append(f"{name} ({location})")
        if made:
            logger.info("%s made %s", node.name, ", ".join(made))
