"""Project settings: configuration loading, the project-root resolver and telemetry.

kedro-mlflow's hooks register themselves through their entry point; ours say what each node made.
"""

import logging
import os
import re
import warnings
from pathlib import Path

from kedro.framework.project import LOGGING, configure_logging

from faceswap_pipeline.config_loader import BASE_ENV, USER_ENV, PresetConfigLoader
from faceswap_pipeline.hooks import (
    MlflowStoreHooks,
    OutputSummaryHooks,
    PreflightHooks,
    VerdictHooks,
)
from faceswap_pipeline.log_console import console_is_terminal, plain_logging_config

# These machines are offline: nothing may wait on telemetry. `.telemetry` (consent: false) at the
# project root turns kedro-telemetry off; the variables cover tools started from this process.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Third-party notices a user of this project cannot act on, silenced here and only here, each by the
# module it is attributed to, its category and its text; every other warning (ours included) still
# shows.
# - OmegaConf 2.4 deprecates `register_new_resolver`, which Kedro's config loader and kedro-mlflow
# call.
# - MLflow asks for type hints on kedro-mlflow's `KedroPipelineModel.predict` when kedro-mlflow
# loads.
_THIRD_PARTY_NOTICES = (
    (r"register_new_resolver\(\) is deprecated", UserWarning, "kedro.config.omegaconf_config"),
    (
        r"register_new_resolver\(\) is deprecated",
        UserWarning,
        "kedro_mlflow.framework.hooks.mlflow_hook",
    ),
    (
        r".*Add type hints to the `predict` method",
        UserWarning,
        "mlflow.pyfunc.utils.data_validation",
    ),
    # torch 2.13 deprecates the `LeafSpec` that Lightning 2.6 builds on every batch.
    (
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        FutureWarning,
        "lightning.pytorch.utilities._pytree",
    ),
)


class _ThirdPartyNoticeFilter(logging.Filter):
    """Drops the notices above from Kedro's log of warnings (logger `py.warnings`, lines
    `<file>:<line>: <Category>: <text>`): MLflow shows its own with `simplefilter("once")`, which
    takes precedence over any `warnings` filter, so they are caught where Kedro logs them too."""

    _LINES = [
        re.compile(
            rf"{re.escape(module.replace('.', '/'))}\.py:\d+: {category.__name__}: {message}", re.S
        )
        for message, category, module in _THIRD_PARTY_NOTICES
    ]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(line.search(text) for line in self._LINES)


# Lines logged on every run that a user of this project cannot act on, each dropped from its
# logger's messages by the start of its text:
# - Lightning 2.6 logs one for its cloud logger (`💡 Tip: ... litlogger`) each time a Trainer is
#   built unless that logger is in use (the runs here log to MLflow), and whether a TPU is there
#   (this project trains on a GPU or the CPU; its "GPU available" line stays). Its messages go to
#   the logger of whichever of its rank-zero modules was imported last: `pytorch_lightning` (the
#   same library under its old name, imported by `mlflow.pytorch`) or `lightning`; trainer and
#   fabric each.
# - Kedro's sequential runner suggests `--async` loading and saving at every run; its other
#   messages ("Pipeline execution completed ...") come from the same logger.
# - kedro-mlflow says it registers its `km.random_name` resolver at every run; the same logger
#   says when the run's MLflow run starts and when an error closed it.
_LIGHTNING_RANK_ZERO_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)
_LOGGED_NOTICES = {
    **{name: ("💡 Tip:", "TPU available:") for name in _LIGHTNING_RANK_ZERO_LOGGERS},
    "kedro.runner.sequential_runner": ("Using synchronous mode for loading and saving data",),
    "kedro_mlflow.framework.hooks.mlflow_hook": ("Registering new custom resolver",),
    # Printed in MLflow's own format when a project's first run makes mlflow.db; the project says
    # it in one of its lines instead (mlflow_store.prepare_tracking_store).
    "mlflow.store.db.utils": (
        "Creating initial MLflow database tables",
        "Updating database tables",
    ),
}


class _NoticeFilter(logging.Filter):
    """Drops a logger's messages that start with one of `starts` (its notices); its others still
    show."""

    def __init__(self, *starts: str) -> None:
        super().__init__()
        # A tuple whatever `_LOGGED_NOTICES` holds: Kedro's settings loader (dynaconf) reads this
        # module's upper-case names and turns its tuples into lists in place.
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.starts)


def silence_third_party_notices() -> None:
    """Installs the `warnings` filters and the log filter for `_THIRD_PARTY_NOTICES`, and the
    filters of `_LOGGED_NOTICES` (once a process)."""
    for message, category, module in _THIRD_PARTY_NOTICES:
        warnings.filterwarnings(
            "ignore", message=message, category=category, module=re.escape(module)
        )
    _add_filter_once("py.warnings", _ThirdPartyNoticeFilter())
    for name, starts in _LOGGED_NOTICES.items():
        _add_filter_once(name, _NoticeFilter(*starts))


def _add_filter_once(logger_name: str, log_filter: logging.Filter) -> None:
    """Adds `log_filter` unless the logger has an equal one (same class and settings) already."""
    log = logging.getLogger(logger_name)
    if not any(
        type(existing) is type(log_filter) and vars(existing) == vars(log_filter)
        for existing in log.filters
    ):
        log.addFilter(log_filter)


silence_third_party_notices()
# Off a terminal, one plain line per log record (log_console.py). Kedro has configured its logging
# when it imports these settings, and configures it again from `LOGGING.data` afterwards.
if not console_is_terminal():
    configure_logging(plain_logging_config(LOGGING.data))
    logging.captureWarnings(True)  # as Kedro's Rich handler does: warnings go to `py.warnings`

# Where the package sits in an editable install: the fallback when no project is found from the cwd.
_PACKAGE_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _project_root() -> str:
    """The Kedro project's root folder, so that `sqlite:///${project_root:}/mlflow.db` does not
    follow
    the cwd (a notebook runs in `notebooks/`): the nearest folder at or above the cwd with a Kedro
    `pyproject.toml`, else the project this package was installed from."""
    from kedro.utils import find_kedro_project

    found = find_kedro_project(Path.cwd())
    return Path(found or _PACKAGE_PROJECT_ROOT).resolve().as_posix()


# Before the first node: the MLflow store made once (two runs may start at once), every stage's
# parameters and output folders checked, and the MLflow experiment tagged as model development;
# after every node, a log line that names what it made and where (the catalog knows; nodes do not);
# after the run, the evaluation's verdict as its last line.
HOOKS = (PreflightHooks(), MlflowStoreHooks(), OutputSummaryHooks(), VerdictHooks())

# conf/base, then the run environment (a preset with `--env tiny` or `--env gpu`), then conf/local
# over a preset, then `--params` (config_loader.py).
CONFIG_LOADER_CLASS = PresetConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": BASE_ENV,
    "default_run_env": USER_ENV,
    "custom_resolvers": {"project_root": _project_root},
    # Parameters merge key by key across environments: conf/local and a preset such as conf/tiny
    # may each set one value of a block, and `--params training.max_minutes=30`, which Kedro also
    # merges into each environment's parameters, changes that value only instead of replacing the
    # whole `training` block. Lists (a person's `sources`) are replaced whole. Catalog entries still
    # replace each other whole.
    "merge_strategy": {"parameters": "soft"},
}
