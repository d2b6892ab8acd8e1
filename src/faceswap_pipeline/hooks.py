"""Project hooks: checks before a run starts, and after every node one log line saying what it made and where.

Before any node runs, `PreflightHooks` validates the parameters of every stage in the run and checks that
every folder the run will write to can be written, so a bad value or a read-only disk fails in seconds,
not after hours of work. Nodes never see paths (the catalog does all I/O), so they cannot say where their
outputs went; the catalog can: `OutputSummaryHooks` names each output written to a file or folder,
relative to the project when it is inside it. `VerdictHooks` repeats the evaluation's verdict last.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

logger = logging.getLogger(__name__)


def _dataset_path(catalog: DataCatalog, name: str) -> tuple[Path, bool] | None:
    """Where ``name`` is stored and whether that is a folder; ``None`` for in-memory and parameter datasets."""
    if name.startswith("params:") or name == "parameters":
        return None
    dataset = catalog.get(name)
    if dataset is None:
        return None
    # Kedro datasets describe their location as `filepath` (files) or `path` (folders).
    description = dataset._describe()
    location, is_folder = (description.get("filepath"), False) if description.get("filepath") else (description.get("path"), True)
    # An fsspec URL (s3://..., a face-table folder shared with Dask workers) is not a local path.
    if not location or ("://" in str(location) and not str(location).startswith("file://")):
        return None
    return Path(str(location).removeprefix("file://")), is_folder


def _shown(path: Path) -> str:
    """``path`` relative to the project (the cwd of a Kedro run) when it is inside it, else as it is."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _dataset_location(catalog: DataCatalog, name: str) -> str | None:
    """Where ``name`` is stored (file or folder), or ``None`` for in-memory and parameter datasets."""
    found = _dataset_path(catalog, name)
    if found is None:
        return None
    shown = _shown(found[0])
    if type(catalog.get(name)).__name__.startswith("Mlflow"):
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


class PreflightError(ValueError):
    """A run refused before any node ran: bad parameters or an output folder that cannot be written."""


def _parameter_checks() -> dict[str, Callable[[Any], Any]]:
    """Each top-level parameter a stage reads → the function that validates it (raising ValueError that
    names the parameter). Imported here, not at the top: settings.py imports this module."""
    from faceswap_pipeline.pipelines.conversion.params import parse_params as conversion
    from faceswap_pipeline.pipelines.evaluation.params import parse_params as evaluation
    from faceswap_pipeline.pipelines.face_extraction.params import parse_params as face_extraction
    from faceswap_pipeline.pipelines.ingestion.nodes import PersonSources, _parse
    from faceswap_pipeline.pipelines.pretraining.nodes import parse_pretraining_params
    from faceswap_pipeline.pipelines.training.nodes import parse_training_params
    from faceswap_pipeline.sources import DownloadOptions

    return {
        "person_a": lambda value: _parse(PersonSources, value, "person_a"),
        "person_b": lambda value: _parse(PersonSources, value, "person_b"),
        "download": lambda value: _parse(DownloadOptions, value, "download"),
        "face_extraction": face_extraction,
        "training": parse_training_params,
        "pretraining": parse_pretraining_params,
        "conversion": conversion,
        "evaluation": evaluation,
    }


def parameter_problems(pipeline: Pipeline, catalog: DataCatalog) -> list[str]:
    """One message per invalid top-level parameter that a node of ``pipeline`` reads (empty: all valid)."""
    used = sorted({
        name.removeprefix("params:").split(".")[0]
        for node in pipeline.nodes
        for name in node.inputs
        if name.startswith("params:")
    })
    checks = _parameter_checks()
    problems = []
    for key in used:
        if key not in checks:
            continue
        try:
            checks[key](catalog.load(f"params:{key}"))
        except ValueError as error:
            problems.append(str(error))
    return problems


def _writable_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot take new files (made when missing), or ``None`` when it can.

    A test file is created and removed: permission bits alone say nothing for root, a read-only mount
    or a file where the folder should be.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    return None


def output_folder_problems(pipeline: Pipeline, catalog: DataCatalog) -> list[str]:
    """One message per dataset the pipeline writes whose folder cannot be written (empty: all fine).

    The training's and pretraining's checkpoint folders (parameters, not catalog entries) are checked too.
    """
    folders: dict[Path, list[str]] = {}
    for name in sorted(pipeline.all_outputs()):
        found = _dataset_path(catalog, name)
        if found is None:
            continue
        path, is_folder = found
        folders.setdefault(path if is_folder else path.parent, []).append(name)
    if any("params:training" in node.inputs for node in pipeline.nodes):
        checkpoint_dir = (catalog.load("params:training") or {}).get("checkpoint_dir")
        if checkpoint_dir:
            folders.setdefault(Path(str(checkpoint_dir)), []).append("training.checkpoint_dir")
    if any("params:pretraining" in node.inputs for node in pipeline.nodes):
        checkpoint_dir = ((catalog.load("params:pretraining") or {}).get("training") or {}).get("checkpoint_dir")
        if checkpoint_dir:
            folders.setdefault(Path(str(checkpoint_dir)), []).append("pretraining.training.checkpoint_dir")
    problems = []
    for folder, names in folders.items():
        reason = _writable_folder_problem(folder)
        if reason is not None:
            problems.append(
                f"cannot write {', '.join(names)}: folder {_shown(folder)} is not writable ({reason}); "
                "make it a writable folder, or point the catalog entry (conf/base/catalog_*.yml) or parameter elsewhere"
            )
    return problems


class PreflightHooks:
    """Refuses a run before its first node when a parameter it reads is invalid or an output folder
    cannot be written; the one error lists every problem found."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        problems = parameter_problems(pipeline, catalog)
        if not problems:
            # Only valid parameters name folders worth checking (training.checkpoint_dir).
            problems = output_folder_problems(pipeline, catalog)
        if problems:
            raise PreflightError("refused before any work started:\n  - " + "\n  - ".join(problems))


class VerdictHooks:
    """Repeats the evaluation's verdict as the last line of a run, where a user looks first: the
    evaluation nodes run last, but their log scrolls away under the reports written after them."""

    def __init__(self) -> None:
        self._verdict: dict[str, Any] | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        self._verdict = None

    @hook_impl
    def after_node_run(self, node: Node, catalog: DataCatalog, outputs: dict[str, Any]) -> None:
        summary = outputs.get("evaluation_summary")
        if isinstance(summary, dict) and isinstance(summary.get("verdict"), dict):
            self._verdict = summary["verdict"]

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        if self._verdict is None:
            return
        logger.info(
            "verdict: %s (data/08_reporting/evaluation_report.html; MLflow tag evaluation.verdict)",
            "the swap is convincing" if self._verdict.get("convincing") else self._verdict.get("text", "?"),
        )
