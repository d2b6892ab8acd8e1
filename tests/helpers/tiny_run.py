"""What the UI tests' `tiny_run` fixture (tests/ui/conftest.py) gives: a project after one tiny
run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The preset env every UI test's project runs with (conf/tiny in this project).
TINY_ENV = "tiny"


@dataclass(frozen=True)
class TinyRun:
    """A throw-away project after one tiny `kedro run` of every registered pipeline."""

    project: Path
    pipelines: tuple[str, ...]  # the registered pipelines (without __default__), in registry order
    log: str  # the run's console output (stdout + stderr)

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.project}/mlflow.db"

    def data(self, relative: str) -> Path:
        """A path under the project's `data/` folder."""
        return self.project / "data" / relative
