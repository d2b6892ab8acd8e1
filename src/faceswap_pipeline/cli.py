"""The project's `kedro run`: Kedro's own command, ending in a few lines when a user error stops it.

Kedro takes a project's commands from the `cli` group of `<package>.cli` (they override its built-in
ones). `run` here is Kedro's `run` with the same options plus `--verbose`: an error a user can fix
(a `FaceswapError`: bad input, a missing or foreign file, the network, the preflight check) ends the
command with its message and exit status 1, without a traceback; `--verbose`, or the environment
variable `FACESWAP_TRACEBACK=1`, shows the traceback too. Any other exception keeps Kedro's
traceback.
"""

from __future__ import annotations

import os
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from faceswap_pipeline.errors import FaceswapError

TRACEBACK_VARIABLE = "FACESWAP_TRACEBACK"


class UserError(click.ClickException):
    """How click ends a command with a message and no traceback (exit status 1)."""

    def show(self, file: Any = None) -> None:
        click.secho(f"Error: {self.message}", fg="red", err=True)
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


def _run(verbose: bool, **options: Any) -> Any:
    try:
        return kedro_run.callback(**options)
    except Exception as error:
        known = user_error(error)
        if known is None or _show_traceback(verbose):
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
        *kedro_run.params,
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
