"""The errors a user can fix: each message names what failed, the input, and what to do.

`kedro run` (the project's `cli.py`) ends with that message alone when one of these stops a run; any
other exception keeps its traceback. Each subclass also derives from the built-in error it refines
(`ValueError`, `RuntimeError`, ...), so callers that catch those keep working.
"""

from __future__ import annotations


class FaceswapError(Exception):
    """Base of every known user error (bad input, missing or foreign files, network, preflight)."""


class BadInputError(FaceswapError, ValueError):
    """A configured input (a parameter, a file, a folder, a model) the run cannot use as it is."""


class MissingInputError(FaceswapError, FileNotFoundError):
    """A configured file or folder that does not exist."""
