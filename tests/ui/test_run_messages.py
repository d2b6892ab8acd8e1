"""The tiny run's console: each long step says what it made and where (the output-summary hook)."""

from __future__ import annotations

import re

import pytest

from tests.helpers.tiny_run import TinyRun

pytestmark = pytest.mark.slow

# pipeline -> the start of the line its main step logs when done (`<node> made <dataset>
# (<where>)`).
STEP_SUMMARIES = {
    "ingestion": "person_a.fetch_videos made person_a_raw_videos (data/01_raw/videos/person_a)",
    "face_extraction": (
        "person_b.select_person_faces made person_b_aligned_faces (data/03_primary/faces/person_b)"
    ),
    "training": "train_swap_model made swap_model (data/06_models/swap_model + MLflow run)",
    "conversion": "convert_video made swapped_video (data/07_model_output/swapped.mp4)",
    "pretraining": (
        "pretraining.pretrain_base_model made base_model (data/06_models/base_model + MLflow run)"
    ),
}


def test_each_step_says_what_it_made_and_where(tiny_run: TinyRun):
    missing = [
        line
        for pipeline, line in STEP_SUMMARIES.items()
        if pipeline in tiny_run.pipelines and line not in tiny_run.log
    ]
    assert missing == [], tiny_run.log[-4000:]


def test_off_a_terminal_each_log_record_is_one_line(tiny_run: TinyRun):
    # The run's output is a pipe here: plain lines (log_console.py), not Rich's 80-column layout,
    # so the verdict, longer than any console, is found whole on its line.
    if "evaluation" in tiny_run.pipelines:
        verdict_line = r"^\[.+\] INFO +verdict: .+MLflow tag evaluation\.verdict\)$"
        assert re.search(verdict_line, tiny_run.log, re.M), tiny_run.log[-4000:]


def test_long_steps_show_progress(tiny_run: TinyRun):
    # The run's output goes to a file here, not a terminal: per-video face extraction and
    # conversion say their progress in log lines named by video, not with tqdm's bars (whose
    # every redraw would be a line of the file).
    assert "frame/s]" not in tiny_run.log and "%|" not in tiny_run.log
    if "face_extraction" in tiny_run.pipelines:
        assert re.search(r"INFO +single_d18-\w+: extracting faces \(\d+ frames\)", tiny_run.log)
    if "conversion" in tiny_run.pipelines:
        progress = r"INFO +converting single_d18-\w+\.mp4: \d+ frames of \d+ \(100 %\)"
        assert re.search(progress, tiny_run.log), tiny_run.log[-4000:]


def test_a_whole_run_prints_no_warning_a_user_cannot_act_on(tiny_run: TinyRun):
    # Python warnings reach Kedro's log as `<file>:<line>: <Category>: <text>`; the project's own
    # warnings (a video without faces, ...) are log records and say what to do.
    assert re.findall(r"\w*Warning: .*", tiny_run.log) == [], tiny_run.log[-4000:]
    assert "dataset names contain '.'" not in tiny_run.log
    # Lightning's advertisement for its cloud logger, printed with every Trainer.
    assert "litlogger" not in tiny_run.log


def test_the_console_has_no_line_per_dataset_and_no_tips(tiny_run: TinyRun):
    # conf/logging.yml: the catalog's line for every load and save is off (the summaries above say
    # what each node made), and so are the notices of every run; the runner's progress stays.
    for line in (
        "Loading data from",
        "Saving data to",
        "Using synchronous mode",
        "as logging configuration",
        "No typed parameter requirements",
        "Registering new custom resolver",
        "Creating initial MLflow database tables",
    ):
        assert line not in tiny_run.log, line
    # The project's first run makes MLflow's store and says so in the run's own format.
    assert re.search(
        r"^\[.+\] INFO +MLflow: making its tracking store mlflow\.db", tiny_run.log, re.M
    )
    assert "Completed 1 out of" in tiny_run.log
    assert "Pipeline execution completed successfully" in tiny_run.log


def test_only_the_listed_third_party_notices_are_silenced():
    import logging
    import warnings

    from faceswap_pipeline.settings import silence_third_party_notices

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        silence_third_party_notices()
        # The same text from another module, and another warning from the same module, still show.
        warnings.warn_explicit(
            "register_new_resolver() is deprecated", UserWarning, "ours.py", 1, module="ours"
        )
        warnings.warn_explicit(
            "a real problem", UserWarning, "x.py", 1, module="kedro.config.omegaconf_config"
        )
        warnings.warn_explicit(
            "register_new_resolver() is deprecated",
            UserWarning,
            "omegaconf_config.py",
            1,
            module="kedro.config.omegaconf_config",
        )
    assert [str(warning.message) for warning in shown] == [
        "register_new_resolver() is deprecated",
        "a real problem",
    ]
    assert shown[0].filename == "ours.py"

    # MLflow forces its notice through `simplefilter("once")`: Kedro's log of warnings drops it
    # there.
    def logged(text: str) -> logging.LogRecord:
        return logging.LogRecord("py.warnings", logging.WARNING, "", 0, text, None, None)

    notice = (
        "/venv/site-packages/mlflow/pyfunc/utils/data_validation.py:187: UserWarning: Add type"
        " hints to the `predict`"
    )
    other = (
        "/venv/site-packages/mlflow/pyfunc/utils/data_validation.py:190: UserWarning: something"
        " else"
    )
    # silence_third_party_notices put its filter on the logger Kedro logs warnings to.
    kedro_warnings_log = logging.getLogger("py.warnings")
    assert not kedro_warnings_log.filter(logged(notice + " method ..."))
    assert kedro_warnings_log.filter(logged(other))


def test_the_listed_log_notices_are_dropped_and_their_loggers_other_messages_kept():
    import logging

    import lightning.pytorch  # noqa: F401  (sets the rank-zero logger; MLflow may set another)
    from lightning_utilities.core import rank_zero

    from faceswap_pipeline.settings import _NoticeFilter, silence_third_party_notices

    silence_third_party_notices()

    def record(text: str) -> logging.LogRecord:
        return logging.LogRecord("", logging.INFO, "", 0, text, None, None)

    # Lightning logs through whichever package's rank-zero logger was imported last.
    for name in {rank_zero.log.name, "pytorch_lightning.utilities.rank_zero"}:
        rank_zero_log = logging.getLogger(name)
        assert not rank_zero_log.filter(record("💡 Tip: For seamless cloud logging, try litlogger"))
        assert not rank_zero_log.filter(record("TPU available: False, using: 0 TPU cores"))
        assert rank_zero_log.filter(record("GPU available: False, used: False"))
    # Kedro's settings loader turns the notices' tuples into lists in place: the same filter.
    listed = _NoticeFilter(*["💡 Tip:", "TPU available:"])
    assert not listed.filter(record("TPU available: False, using: 0 TPU cores"))
    assert listed.filter(record("GPU available: False, used: False"))
    runner_log = logging.getLogger("kedro.runner.sequential_runner")
    assert not runner_log.filter(record("Using synchronous mode for loading and saving data. Use"))
    assert runner_log.filter(record("Pipeline execution completed successfully in 9.5 sec."))
    mlflow_hook_log = logging.getLogger("kedro_mlflow.framework.hooks.mlflow_hook")
    assert not mlflow_hook_log.filter(record("Registering new custom resolver: 'km.random_name'"))
    assert mlflow_hook_log.filter(record("Mlflow run 'training' - '0123' has started"))
    mlflow_store_log = logging.getLogger("mlflow.store.db.utils")
    assert not mlflow_store_log.filter(record("Creating initial MLflow database tables..."))
    assert not mlflow_store_log.filter(record("Updating database tables"))
    assert mlflow_store_log.filter(record("Database migration failed"))
