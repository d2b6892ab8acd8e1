"""The console log off a terminal: the project's logging configuration with plain lines."""

from __future__ import annotations

import io
import logging
import logging.config

import yaml

from faceswap_pipeline.log_console import PLAIN_FORMATTER, plain_logging_config
from tests.helpers import PROJECT_ROOT


def test_the_rich_handler_becomes_one_plain_line_per_record_and_the_rest_stays():
    config = yaml.safe_load((PROJECT_ROOT / "conf/logging.yml").read_text())
    config["handlers"]["rich"]["level"] = "INFO"
    plain = plain_logging_config(config)

    assert config["handlers"]["rich"]["class"] == "kedro.logging.RichHandler"  # not changed
    assert plain["handlers"]["rich"] == {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
        "formatter": PLAIN_FORMATTER,
        "level": "INFO",
    }
    assert (plain["loggers"], plain["root"]) == (config["loggers"], config["root"])

    # It configures logging; a record longer than any terminal is one line.
    plain["handlers"]["rich"]["stream"] = stream = io.StringIO()
    plain["loggers"] = {"faceswap_test": {"level": "INFO", "handlers": ["rich"]}}
    plain["root"] = {"handlers": []}
    logging.config.dictConfig(plain)
    message = "verdict: not convincing yet: " + "identity " * 40
    logging.getLogger("faceswap_test").info(message)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith(message) and " INFO     verdict" in lines[0]


def test_a_configuration_without_rich_handlers_is_unchanged():
    config = {"version": 1, "handlers": {"file": {"class": "logging.FileHandler"}}}
    assert plain_logging_config(config) == config
