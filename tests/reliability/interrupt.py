"""Start `kedro run` in a child process and SIGKILL it at a chosen moment, as a power cut or the OOM killer would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def kill_kedro_run_when(
    project: Path, args: list[str], moment: Callable[[], bool], *, timeout_s: float = 240, poll_s: float = 0.05,
    env: dict[str, str] | None = None,
) -> None:
    """Run ``kedro run <args>`` in ``project``; SIGKILL it as soon as ``moment()`` is true.

    Args:
        env: variables to set for the child on top of this process's.

    Raises:
        AssertionError: the run ended (or ``timeout_s`` passed) before the moment came, with its output.
    """
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    log = project / f"killed-run-{time.monotonic_ns()}.log"
    with log.open("w") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *args], cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        try:
            while not moment():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the run ended ({child.returncode}) before the moment to kill it:\n{log.read_text()[-4000:]}"
                    )
                time.sleep(poll_s)
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, log.read_text()[-4000:]
