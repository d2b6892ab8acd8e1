"""The project's `kedro run`: Kedro's own command, ending in a few lines when a user error stops it.

Kedro takes a project's commands from the `cli` group of `<package>.cli` (they override its built-in
ones). `run` here is Kedro's `run` with the same options plus `--verbose`: an error a user can fix
(a `FaceswapError`: bad input, a missing or foreign file, the network, the preflight check) ends the
command with its message and exit status 1, without a traceback; `--verbose`, or the environment
variable `FACESWAP_TRACEBACK=1`, shows the traceback too. Any other exception keeps Kedro's
traceback. A pipeline or environment name that does not exist is refused before the session starts.
`--params` splits only at the commas between parameters (`_split_params`).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.pipeline import Node
from kedro.utils import find_kedro_project
from omegaconf import OmegaConf

from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.pipeline_registry import pipeline_names

TRACEBACK_VARIABLE = "FACESWAP_TRACEBACK"


class UserError(click.ClickException):
    """How click ends a command with a message and no traceback (exit status 1); `has_traceback`:
    whether `--verbose` would show one (an error raised inside the run)."""

    def __init__(self, message: str, has_traceback: bool = True) -> None:
        super().__init__(message)
        self.has_traceback = has_traceback

    def show(self, file: Any = None) -> None:
        click.secho(f"Error: {self.message}", fg="red", err=True)
        if self.has_traceback:
            click.secho(
                f"(the traceback: kedro run ... --verbose, or {TRACEBACK_VARIABLE}=1)",
                err=True,
                dim=True,
            )


def _show_traceback(verbose: bool) -> bool:
    return verbose or os.environ.get(TRACEBACK_VARIABLE, "").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


def user_error(error: BaseException) -> FaceswapError | None:
    """The `FaceswapError` behind ``error``: itself, or the one a dataset's load or save raised
    (Kedro wraps those in its `DatasetError`); ``None`` for an unexpected error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, FaceswapError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


class _MessageOnceAtTheEnd(logging.Filter):
    """Kedro logs a failed node as "Node <node> failed with error: <message>", and the command
    then ends on the same message (`UserError`). For a user error the log line keeps the node and
    the error's type and points to the end, so the message is printed once.

    Kedro logs inside its ``except`` block, so the error being handled is ``sys.exc_info()``'s.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = sys.exc_info()[1]
        known = user_error(error) if record.levelno >= logging.ERROR and error else None
        message = str(known) if known is not None else ""
        text = record.getMessage() if message else ""
        if message and message in text:
            pointer = f"{type(known).__name__}, its message at the end"
            record.msg = text.replace(message, pointer).replace(": \n" + pointer, ": " + pointer)
            record.args = ()
        return True


@contextlib.contextmanager
def _node_failures_point_to_the_end() -> Iterator[None]:
    logger = logging.getLogger(Node.__module__)  # where `Node.run` logs a failure
    message_once = _MessageOnceAtTheEnd()
    logger.addFilter(message_once)
    try:
        yield
    finally:
        logger.removeFilter(message_once)


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def run_option_problems(options: dict[str, Any], project: Path) -> list[str]:
    """What is wrong with `kedro run`'s `--pipelines` (or `--pipeline`) and `--env` (or
    `KEDRO_ENV`) for the project at `project`, before Kedro starts a session: Kedro would stop
    on an unknown pipeline with an import traceback, and on a missing environment only where
    a stage first reads its configuration, after MLflow has fallen back to a store of its own."""
    problems = []
    known = pipeline_names()
    listed = ", ".join(name for name in known if name != "__default__")
    asked = options.get("pipelines") or []
    if options.get("pipeline"):
        asked = [*asked, options["pipeline"]]
    for name in asked:
        if name not in known:
            problems.append(
                f"no pipeline named {name!r}{_did_you_mean(name, known)}; the pipelines are:"
                f" {listed}"
            )
    env = options.get("env") or os.environ.get("KEDRO_ENV")
    conf = project / "conf"
    if env and not (conf / env).is_dir():
        environments = sorted(
            folder.name for folder in conf.iterdir() if folder.is_dir() and folder.name != "base"
        )
        problems.append(
            f"no configuration environment {env!r}{_did_you_mean(env, environments)}: there is"
            f" no folder conf/{env}; the environments are: {', '.join(environments)}"
        )
    return problems


def _split_params(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """`--params` as Kedro reads it (`key=value` items, dotted keys, YAML values), split only at
    the commas between items: a list or a mapping written inline keeps its own, as does a quoted
    string (`person_a.sources=[{url: ..., start: 120, end: 180}]`). Kedro splits at every comma,
    and refused that source: "Item `start: 120}]` must contain a key and a value separated by
    `=`"."""
    if isinstance(value, dict):
        return value
    dot_list = []
    for item in _items_between_commas(value or ""):
        key, equals, text = item.partition("=")
        if not equals:
            ctx.fail(
                f"Invalid format of `{param.name}` option: Item `{item}` must contain a key and a"
                " value separated by `=`."
            )
        if not key.strip():
            ctx.fail(
                f"Invalid format of `{param.name}` option: Parameter key cannot be an empty string."
            )
        dot_list.append(f"{key.strip()}={text}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(dot_list))


def _items_between_commas(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, braces and quoted values, each item
    stripped. A quote opens a quoted value only where one starts (after ``=``, ``:``, ``,``, ``[``
    or ``{``): an apostrophe inside a word (``O'Brien``) is a letter."""
    items, item, depth, quote = [], "", 0, None
    for char in text + ",":
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"" and item.rstrip()[-1:] in ("", "=", ":", ",", "[", "{"):
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            if item.strip():
                items.append(item.strip())
            item = ""
            continue
        item += char
    return items


def _with_our_params_option(params: list[click.Parameter]) -> list[click.Parameter]:
    """Kedro's `run` options, its `--params` read by `_split_params`."""
    options = []
    for option in params:
        ours = option
        if option.name == "params":
            ours = copy.copy(option)
            ours.callback = _split_params
        options.append(ours)
    return options


def _run(verbose: bool, **options: Any) -> Any:
    project = find_kedro_project(Path.cwd())
    problems = run_option_problems(options, Path(project)) if project else []
    if problems:
        raise UserError("; ".join(problems), has_traceback=False)
    traceback = _show_traceback(verbose)
    try:
        with contextlib.nullcontext() if traceback else _node_failures_point_to_the_end():
            return kedro_run.callback(**options)
    except Exception as error:
        known = user_error(error)
        if known is None or traceback:
            raise
        raise UserError(f"{type(known).__name__}: {known}") from error


@click.group(name="faceswap_pipeline")
def cli() -> None:
    """Commands of the faceswap_pipeline project."""


# Module-level as well: `python -m faceswap_pipeline` (Kedro's `find_run_command`) looks for
# `cli.run`.
run = click.Command(
    name="run",
    callback=_run,
    params=[
        *_with_our_params_option(kedro_run.params),
        click.Option(
            ["--verbose", "-v"],
            is_flag=True,
            default=False,
            help=f"Show the traceback of an error a user can fix (or set {TRACEBACK_VARIABLE}=1).",
        ),
    ],
    help=kedro_run.help,
    short_help=kedro_run.short_help,
)
cli.add_command(run)
