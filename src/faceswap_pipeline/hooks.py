"""Project hooks: checks before a run starts, and after every node one log line saying what it made
and where.

Before any node runs, `PreflightHooks` validates the parameters of every stage in the run and checks
that every folder the run will write to can be written, every input an earlier stage makes is
there and every file a parameter names can serve (a local `conversion.video`, the base model
`training.init_from` names, the checkpoint a training resumes), so a bad value, a read-only disk, a
stage run too early or a missing file fails in seconds, not after hours of work. Nodes never see
paths (the catalog does all I/O), so they cannot say where their outputs went; the catalog can:
`OutputSummaryHooks` names each output written to a file or folder, relative to the project when it
is inside it. `VerdictHooks` repeats the evaluation's verdict last.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.atomic_files import TEMP_PREFIX
from faceswap_pipeline.config_loader import USER_ENV, is_preset, parameter_origins
from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.mlflow_store import mlflow_tracking_uri, prepare_tracking_store
from faceswap_pipeline.pipeline_registry import every_stage
from faceswap_pipeline.pipelines.parameters import InvalidParametersError

if TYPE_CHECKING:  # at run time only by a run that trains: its package imports the slow nodes
    from faceswap_pipeline.pipelines.training.params import TrainingParams

logger = logging.getLogger(__name__)


def _dataset_path(catalog: DataCatalog, name: str) -> tuple[Path, bool] | None:
    """Where ``name`` is stored and whether that is a folder; ``None`` for in-memory and parameter
    datasets."""
    if name.startswith("params:") or name == "parameters":
        return None
    dataset = catalog.get(name)
    if dataset is None:
        return None
    # Kedro datasets describe their location as `filepath` (files) or `path` (folders).
    description = dataset._describe()
    location, is_folder = (
        (description.get("filepath"), False)
        if description.get("filepath")
        else (description.get("path"), True)
    )
    # An fsspec URL (s3://..., a face-table folder shared with Dask workers) is not a local path.
    if not location or ("://" in str(location) and not str(location).startswith("file://")):
        return None
    return Path(str(location).removeprefix("file://")), is_folder


def _shown(path: Path) -> str:
    """``path`` relative to the project (the cwd of a Kedro run) when it is inside it, else as it
    is."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _dataset_location(catalog: DataCatalog, name: str) -> str | None:
    """Where ``name`` is stored (file or folder), or ``None`` for in-memory and parameter
    datasets."""
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


class MlflowStoreHooks:
    """The project's MLflow store made once before kedro-mlflow opens it, and the experiment's tags.

    - Before kedro-mlflow's own hook (`tryfirst`): a fresh SQLite store is made under a lock
      (`mlflow_store.prepare_tracking_store`), so two runs started at once do not both create its
      tables and break it.
    - Before the pipeline: the experiment gets the tags `mlflow.yml` lists under
      `create_experiment_kwargs.tags`, also when it already exists (kedro-mlflow sets them only
      when it creates the experiment). The one set here: `mlflow.experimentKind:
      custom_model_development`, MLflow's record that the experiment is model training, not a
      GenAI app (MLflow 3.17's UI picks its view from the address: `mlflow_ui.runs_url`).
    """

    def __init__(self) -> None:
        self._context: Any = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        self._context = context
        prepare_tracking_store(mlflow_tracking_uri(context.config_loader))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        # kedro-mlflow has read mlflow.yml into `context.mlflow` and made the experiment by now.
        config = getattr(self._context, "mlflow", None)
        if config is None:
            return
        wanted = config.tracking.experiment.create_experiment_kwargs.tags or {}
        if not wanted:
            return
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=config.server.mlflow_tracking_uri)
        experiment = client.get_experiment_by_name(config.tracking.experiment.name)
        if experiment is None:
            return
        for key, value in wanted.items():
            if experiment.tags.get(key) != str(value):
                client.set_experiment_tag(experiment.experiment_id, key, str(value))


class PreflightError(FaceswapError, ValueError):
    """A run refused before any node ran: bad parameters, an output folder that cannot be
    written, a missing input or a file a parameter names that cannot serve."""


def _parameter_checks(catalog: DataCatalog) -> dict[str, Callable[[Any], Any]]:
    """Each top-level parameter a stage reads → the function that validates it (raising ValueError
    that names the parameter). Imported here, not at the top: settings.py imports this module."""
    from faceswap_pipeline.pipelines.conversion.params import parse_params as conversion
    from faceswap_pipeline.pipelines.evaluation.params import parse_params as evaluation
    from faceswap_pipeline.pipelines.face_extraction.params import parse_params as face_extraction
    from faceswap_pipeline.pipelines.ingestion.params import (
        parse_download_options,
        parse_person_sources,
    )
    from faceswap_pipeline.pipelines.pretraining.params import (
        parse_pretraining_params,
        pretraining_training_params,
    )
    from faceswap_pipeline.pipelines.training.params import parse_training_params

    def pretraining(value: Any) -> None:
        # Its training settings are the pair's changed by `pretraining.training`: checked merged
        # (pretraining_training_params checks `pretraining` itself too), once the pair's own are
        # valid (a wrong one of those is the `training` check's).
        training = catalog.load("params:training") if "params:training" in catalog else {}
        try:
            parse_training_params(training)
        except ValueError:
            parse_pretraining_params(value)
            return
        pretraining_training_params(training, value)

    return {
        "person_a": lambda value: parse_person_sources(value, "person_a"),
        "person_b": lambda value: parse_person_sources(value, "person_b"),
        "download": parse_download_options,
        "face_extraction": face_extraction,
        "training": parse_training_params,
        "pretraining": pretraining,
        "conversion": conversion,
        "evaluation": evaluation,
    }


def parameter_problems(
    pipeline: Pipeline,
    catalog: DataCatalog,
    origins: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """One message per invalid top-level parameter that a node of ``pipeline`` reads (empty: all
    valid).

    Args:
        origins: the places that set a dotted key, the winning one first
            (``config_loader.parameter_origins``): each wrong value is then named with the file or
            ``--params`` it came from, not with its stage's file in conf/base.
    """
    used = sorted(
        {
            name.removeprefix("params:").split(".")[0]
            for node in pipeline.nodes
            for name in node.inputs
            if name.startswith("params:")
        }
    )
    checks = _parameter_checks(catalog)
    problems = []
    for key in used:
        if key not in checks:
            continue
        try:
            checks[key](catalog.load(f"params:{key}"))
        except InvalidParametersError as error:
            problems += _by_origin(error, origins)
        except ValueError as error:
            problems.append(str(error))
    return problems


def _by_origin(
    error: InvalidParametersError, origins: Callable[[str], list[str]] | None
) -> list[str]:
    """``error``'s wrong values, one message per place (a file, ``--params``) they came from."""
    if origins is None:
        return [str(error)]
    wrong: dict[str, list[str]] = {}
    for key, why in error.problems:
        # One place for a value; for a check across a block's values, every place that set one of
        # them, in the order they are read (conf/base first, --params last).
        places = origins(key) or [error.file]  # none: a required key left out, named by its file
        *earlier, last = reversed(places)
        where = f"{', '.join(earlier)} and {last}" if earlier else last
        wrong.setdefault(where, []).append(f"{key}: {why}")
    return [f"invalid parameters in {where}: {'; '.join(items)}" for where, items in wrong.items()]


def _writable_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot take new files, or ``None`` when it can; nothing is created for the
    check.

    A missing folder is judged by its nearest existing ancestor (the run makes the folder when it
    first writes there). A test file is created in the folder that exists and removed at once:
    permission bits alone say nothing for root, a read-only mount or a file where the folder should
    be.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"NotADirectoryError: {_shown(existing)} is a file"
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".write-check-"):
            pass
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    return None


def _staging_folders(pipeline: Pipeline, catalog: DataCatalog) -> dict[Path, str]:
    """The hidden work folders (`StagingFolderDataset`) that ``pipeline``'s nodes read → their
    names."""
    from faceswap_pipeline.datasets import StagingFolderDataset

    found = {}
    for name in sorted(pipeline.inputs() | {i for node in pipeline.nodes for i in node.inputs}):
        if name.startswith("params:") or name == "parameters":
            continue
        dataset = catalog.get(name)
        if isinstance(dataset, StagingFolderDataset):
            found[Path(dataset._describe()["staging"])] = name
    return found


def written_folders(pipeline: Pipeline, catalog: DataCatalog) -> dict[Path, list[str]]:
    """Every folder the run may write to → what it writes there: the folders of the datasets the
    pipeline outputs, the training's and pretraining's checkpoint folders (parameters, not catalog
    entries), and the hidden work folders its nodes make files in."""
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
        checkpoint_dir = ((catalog.load("params:pretraining") or {}).get("training") or {}).get(
            "checkpoint_dir"
        )
        if checkpoint_dir:
            folders.setdefault(Path(str(checkpoint_dir)), []).append(
                "pretraining.training.checkpoint_dir"
            )
    for folder, name in _staging_folders(pipeline, catalog).items():
        folders.setdefault(folder, []).append(name)
    return folders


def output_folder_problems(pipeline: Pipeline, catalog: DataCatalog) -> list[str]:
    """One message per folder the run writes to that cannot be written (empty: all fine)."""
    problems = []
    for folder, names in written_folders(pipeline, catalog).items():
        reason = _writable_folder_problem(folder)
        if reason is not None:
            problems.append(
                f"cannot write {', '.join(names)}: folder {_shown(folder)} is not writable"
                f" ({reason}); make it a writable folder, or point the catalog entry"
                " (conf/base/catalog_*.yml) or parameter elsewhere"
            )
    return problems


def _trainings(pipeline: Pipeline, catalog: DataCatalog) -> dict[str, TrainingParams]:
    """The trainings ``pipeline`` runs, by where their settings are (``training`` for the pair's,
    ``pretraining.training`` for the pretraining's): their `TrainingParams`, parameters valid."""
    # The pair's training reads `training`; the pretraining reads `training` (the model) and
    # `pretraining` (its own changes, the trainer's included).
    reads = [set(node.inputs) for node in pipeline.nodes if "params:training" in node.inputs]
    if not reads:
        return {}
    from faceswap_pipeline.pipelines.pretraining.params import pretraining_training_params
    from faceswap_pipeline.pipelines.training.params import parse_training_params

    training = catalog.load("params:training")
    trainings = {}
    if any("params:pretraining" not in inputs for inputs in reads):
        trainings["training"] = parse_training_params(training)
    if any("params:pretraining" in inputs for inputs in reads):
        pretraining = catalog.load("params:pretraining")
        trainings["pretraining.training"] = pretraining_training_params(training, pretraining)
    return trainings


def accelerator_problems(pipeline: Pipeline, catalog: DataCatalog) -> list[str]:
    """One message per training of ``pipeline`` (the pair's, the pretraining's) whose accelerator
    or device count this machine does not have (empty: all fine); parameters already valid."""
    trainings = _trainings(pipeline, catalog)
    if not trainings:
        return []
    # Imported only for a run that trains: Lightning takes ~4 s to import on a 2-core CPU.
    from faceswap_pipeline.model.trainer import accelerator_problem

    problems = [
        accelerator_problem(params.trainer, f"{name}.trainer") for name, params in trainings.items()
    ]
    return [problem for problem in problems if problem is not None]


def named_input_problems(pipeline: Pipeline, catalog: DataCatalog) -> list[str]:
    """One message per file a parameter of ``pipeline`` names that it cannot start from (empty: all
    fine); parameters already valid.

    Found by the node that reads them, these stopped a run after the stages before it: a local
    `conversion.video` that is not there after the whole training, a base model of another
    configuration (`training.init_from`) or a checkpoint a training cannot resume after the face
    extraction.
    """
    problems = []
    if any("params:conversion" in node.inputs for node in pipeline.nodes):
        from faceswap_pipeline.sources import missing_local_video

        problems.append(missing_local_video((catalog.load("params:conversion") or {}).get("video")))
    trainings = _trainings(pipeline, catalog)
    # The pair's training: the node that reads the base model (the pretraining makes it).
    if any({"params:training", "base_model"} <= set(node.inputs) for node in pipeline.nodes):
        problems.append(_base_model_problem(pipeline, catalog, trainings["training"]))
    problems += _resumed_checkpoint_problems(trainings)
    return [problem for problem in problems if problem is not None]


def _resumed_checkpoint_problems(trainings: dict[str, TrainingParams]) -> list[str]:
    """Why a training of ``trainings`` (`_trainings`) cannot resume the `last.ckpt` in its
    checkpoint folder (of another model configuration or adversaries, or unreadable), one message
    each; nothing where it starts over (`resume: false`) or has no checkpoint yet."""
    from faceswap_pipeline.model.checkpoint_io import LAST_CHECKPOINT

    resumed = {
        name: params
        for name, params in trainings.items()
        if params.resume and (Path(params.checkpoint_dir) / LAST_CHECKPOINT).exists()
    }
    if not resumed:
        return []
    from faceswap_pipeline.model.lightning_module import (
        CheckpointMismatchError,
        check_checkpoint_matches,
    )
    from faceswap_pipeline.model.pretrained import pretraining_run_settings

    problems = []
    for name, params in resumed.items():
        # The checkpoint records the settings as trained: the pretraining's without the code
        # adversary.
        trained = pretraining_run_settings(params) if name == "pretraining.training" else params
        try:
            check_checkpoint_matches(
                Path(params.checkpoint_dir) / LAST_CHECKPOINT,
                params.swap_model_config(),
                trained.loss.adversaries,
                name,
            )
        except CheckpointMismatchError as error:
            problems.append(str(error))
    return problems


def _base_model_problem(
    pipeline: Pipeline, catalog: DataCatalog, params: TrainingParams
) -> str | None:
    """Why the pair's training (``params``) cannot start from the base model `training.init_from`
    names, or None: none named, one this run makes, one the run's own checkpoint wins over, or one
    that fits.
    """
    from faceswap_pipeline.model.checkpoint_io import LAST_CHECKPOINT
    from faceswap_pipeline.model.model_file import ModelFileError
    from faceswap_pipeline.model.pretrained import check_base_model_matches
    from faceswap_pipeline.pipelines.training.nodes import base_model_folder

    if params.init_from is None:
        return None
    catalog_model = None
    if params.init_from == "base_model":
        if "base_model" in pipeline.all_outputs():
            return None  # pretrained earlier in this run: checked when the pair's training starts
        catalog_model = catalog.load("base_model")  # its folder, reading nothing
    folder = base_model_folder(params.init_from, catalog_model)
    if params.resume and (Path(params.checkpoint_dir) / LAST_CHECKPOINT).exists():
        return None  # the run's own checkpoint wins: the base model is not read
    try:
        check_base_model_matches(folder, params.swap_model_config())
    except ModelFileError as error:
        return str(error)
    return None


def missing_input_problems(
    pipeline: Pipeline,
    catalog: DataCatalog,
    stages: Callable[[], dict[str, Pipeline]],
) -> list[str]:
    """One message per stage that makes inputs of ``pipeline`` not made yet (empty: all there).

    A run of some stages reads what earlier ones wrote (conversion reads face extraction's identity
    tables and training's swap model); without them Kedro failed in the first node that read one,
    with a traceback of a few hundred lines. An input is missing when its dataset does not exist
    and cannot be loaded: the optional ones (a base model, reference photos, a previous run's
    faces) load as "none" and are not named.

    Args:
        pipeline: the stages this run runs.
        catalog: the run's catalog.
        stages: gives the project's stages by name, in run order (called only when an input is
            missing: it imports every stage).
    """
    from kedro.io import DatasetError

    missing = []
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters" or catalog.exists(name):
            continue
        try:
            catalog.load(name)
        except DatasetError:
            missing.append(name)
    if not missing:
        return []
    by_stage: dict[str, list[str]] = {}
    made_by = stages()
    for name in missing:
        makers = [stage for stage, made in made_by.items() if name in made.all_outputs()]
        if makers:  # else not a stage's output: the node that reads it says what is wrong
            location = _dataset_location(catalog, name)
            by_stage.setdefault(makers[0], []).append(f"{name} ({location})" if location else name)
    return [
        f"not made yet: {', '.join(by_stage[stage])}, which the {stage} pipeline makes: run"
        f" `kedro run --pipelines {stage}` first, or a plain `kedro run` (every stage in order)"
        for stage in made_by
        if stage in by_stage
    ]


def sweep_stale_partials(pipeline: Pipeline, catalog: DataCatalog) -> None:
    """Remove what a killed run left under temporary names (``.partial-*``: files being written,
    work folders) in every folder this run writes to, so that nothing half-made outlives a run."""
    from faceswap_pipeline.datasets.files import remove_stale_partials

    for folder in written_folders(pipeline, catalog):
        remove_stale_partials(folder.parent if folder.name.startswith(TEMP_PREFIX) else folder)


def remove_empty_staging_folders(pipeline: Pipeline, catalog: DataCatalog) -> None:
    """Remove the hidden work folders of ``pipeline``'s nodes that a finished run left empty (each
    node removes its own work inside them; the folder itself is made when it is loaded)."""
    for folder in _staging_folders(pipeline, catalog):
        # Not empty, or not there: what is left is the next run's start to sweep.
        with contextlib.suppress(OSError):
            folder.rmdir()


def local_parameters_over_preset(conf: Path, environment: str | None) -> list[Path]:
    """The parameter files of `conf`/local that a run in `environment` reads over its preset.

    A run with `--env tiny` or `--env gpu` reads conf/base, the preset, then conf/local
    (`config_loader.PresetConfigLoader`): the user's own values there win over the preset's.
    """
    if not is_preset(environment):
        return []
    return [
        path
        for path in sorted((conf / USER_ENV).glob("parameters*.yml"))
        if path.read_text(encoding="utf-8").strip()
    ]


class PreflightHooks:
    """Refuses a run before its first node when a parameter it reads is invalid, an output folder
    cannot be written, its training asks for a GPU this machine does not have, an input an
    earlier stage makes is not there yet or a file a parameter names cannot serve; the one error
    lists every problem found. Says which of conf/local's parameter files a preset run reads over
    its preset. A run that finishes leaves no empty work folder behind.

    It goes first (`tryfirst`): kedro-mlflow opens its MLflow run in its own `before_pipeline_run`,
    and a refusal after that left a run in the UI marked FINISHED, with nothing in it.
    """

    @hook_impl(tryfirst=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        environment = run_params.get("env")
        conf = Path(run_params.get("project_path") or ".") / "conf"
        local = local_parameters_over_preset(conf, environment)
        if local:
            logger.info(
                "parameters: conf/base, then conf/%s, then %s over them (your own values win over"
                " the preset's; --params over all)",
                environment,
                ", ".join(str(path.relative_to(conf.parent)) for path in local),
            )
        runtime_params = run_params.get("runtime_params") or {}
        problems = parameter_problems(
            pipeline,
            catalog,
            origins=lambda key: parameter_origins(key, conf, environment, runtime_params),
        )
        if not problems:
            # Only valid parameters name folders worth checking (training.checkpoint_dir) and
            # devices (training.trainer).
            problems = (
                output_folder_problems(pipeline, catalog)
                + accelerator_problems(pipeline, catalog)
                + missing_input_problems(pipeline, catalog, every_stage)
                + named_input_problems(pipeline, catalog)
            )
        if problems:
            raise PreflightError("refused before any work started:\n  - " + "\n  - ".join(problems))
        sweep_stale_partials(pipeline, catalog)

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        remove_empty_staging_folders(pipeline, catalog)


class VerdictHooks:
    """Repeats the evaluation's verdict as the last line of a run, where a user looks first: the
    evaluation nodes run last, but their log scrolls away under the reports written after them."""

    def __init__(self) -> None:
        self._verdict: dict[str, Any] | None = None

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        self._verdict = None

    @hook_impl
    def after_node_run(self, node: Node, catalog: DataCatalog, outputs: dict[str, Any]) -> None:
        summary = outputs.get("evaluation_summary")
        if isinstance(summary, dict) and isinstance(summary.get("verdict"), dict):
            self._verdict = summary["verdict"]

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        if self._verdict is None:
            return
        logger.info(
            "verdict: %s (data/08_reporting/evaluation_report.html; MLflow tag evaluation.verdict)",
            (
                "the swap is convincing"
                if self._verdict.get("convincing")
                else self._verdict.get("text", "?")
            ),
        )
