"""`kedro run`'s console log off a terminal: one plain line per record instead of Rich's layout.

Kedro logs through Rich (conf/logging.yml). Off a terminal (`kedro run > run.log`, CI, `| tee`)
Rich lays every record out at 80 columns, so a message is cut over several lines and a search for
it fails. Kedro's logging configuration accepts no handler class of a project's own, so settings.py
hands Kedro (`configure_logging`, which later reconfigurations reuse) the same configuration with
its Rich handlers made `logging.StreamHandler`s of one `PLAIN_FORMAT` line per record.
"""

from __future__ import annotations

import copy
from typing import Any

import rich

RICH_HANDLER = "kedro.logging.RichHandler"
PLAIN_FORMATTER = "faceswap_plain"
PLAIN_FORMAT = "[%(asctime)s] %(levelname)-8s %(message)s"
PLAIN_DATE_FORMAT = "%x %X"  # the date and time as Rich writes them


def console_is_terminal() -> bool:
    """Whether Rich writes to a terminal or a notebook (where its layout reads well)."""
    console = rich.get_console()
    return console.is_terminal or console.is_jupyter


def plain_logging_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of the `logging.config.dictConfig` configuration `config` whose Rich handlers write
    plain lines to stdout (where Rich writes), with their levels and filters; unchanged without
    Rich handlers."""
    plain = copy.deepcopy(config)
    handlers = plain.get("handlers", {})
    rich_handlers = [name for name, spec in handlers.items() if spec.get("class") == RICH_HANDLER]
    if not rich_handlers:
        return plain
    for name in rich_handlers:
        kept = {key: handlers[name][key] for key in ("level", "filters") if key in handlers[name]}
        handlers[name] = {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": PLAIN_FORMATTER,
            **kept,
        }
    plain.setdefault("formatters", {})[PLAIN_FORMATTER] = {
        "format": PLAIN_FORMAT,
        "datefmt": PLAIN_DATE_FORMAT,
    }
    return plain
