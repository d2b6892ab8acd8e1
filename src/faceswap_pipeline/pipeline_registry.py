"""Project pipelines: every package under `pipelines/` that defines `create_pipeline()`."""

from __future__ import annotations

from importlib import import_module
from importlib.resources import files

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The order in which `kedro run` with no arguments runs the stages; Kedro orders nodes by their
# data dependencies, this list only decides which pipelines make up the default run. `pretraining`
# is left out on purpose: a user runs it deliberately (`kedro run --pipelines pretraining`), once,
# and pairs then start from its base model (`training.init_from: base_model`).
DEFAULT_STAGES = ("ingestion", "face_extraction", "training", "conversion", "evaluation")


def every_stage() -> dict[str, Pipeline]:
    """Every stage by name, in the order a plain `kedro run` runs them, then the others
    (`pretraining`). Not `find_pipelines`: in a `kedro run --pipelines X` it loads only X, and the
    preflight asks which stage makes an input X lacks."""
    names = [name for name in pipeline_names() if name != "__default__"]
    order = [name for name in DEFAULT_STAGES if name in names]
    order += [name for name in names if name not in order]
    return {
        name: import_module(f"{__package__}.pipelines.{name}").create_pipeline() for name in order
    }


def pipeline_names() -> list[str]:
    """The names `kedro run --pipelines` takes: the packages under `pipelines/` (the ones
    `find_pipelines` imports), sorted, and `__default__`."""
    folders = files(f"{__package__}.pipelines").iterdir()
    names = [
        folder.name
        for folder in folders
        if folder.is_dir() and not folder.name.startswith((".", "__"))
    ]
    return [*sorted(names), "__default__"]


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects; ``__default__`` is their sum.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_STAGES if name in pipelines), Pipeline([])
    )
    return pipelines
