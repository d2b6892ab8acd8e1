"""Start `kedro run` in a child process and SIGKILL it at a chosen moment, as a power cut or the OOM
killer would (or press Ctrl-C: SIGINT to its whole process group, as a terminal sends it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psutil


def kill_kedro_run_when(
    project: Path,
    args: list[str],
    moment: Callable[[], bool],
    *,
    timeout_s: float = 240,
    poll_s: float = 0.05,
    env: dict[str, str] | None = None,
    signum: int = signal.SIGKILL,
) -> list[psutil.Process]:
    """Run ``kedro run <args>`` in ``project``; SIGKILL it as soon as ``moment()`` is true.

    Args:
        env: variables to set for the child on top of this process's.
        signum: ``SIGKILL`` (the default) kills the run's own process only; ``SIGINT`` goes to its
            whole process group, as Ctrl-C in a terminal does, and the run must then stop with an
            error.

    Returns:
        The run's descendant processes (e.g. Dask workers) alive at the moment it was signalled.

    Raises:
        AssertionError: the run ended (or ``timeout_s`` passed) before the moment came, with its
            output.
    """
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **(env or {}),
    }
    log = project / f"killed-run-{time.monotonic_ns()}.log"
    descendants: list[psutil.Process] = []
    with log.open("w") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *args],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        try:
            while not moment():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the run ended ({child.returncode}) before the moment to kill"
                        f" it:\n{log.read_text()[-4000:]}"
                    )
                time.sleep(poll_s)
            descendants = psutil.Process(child.pid).children(recursive=True)
            # The wall-clock time, to set beside the run's log lines when a run did not stop.
            signalled_at = datetime.now().strftime("%H:%M:%S.%f")[:-3]
            if signum == signal.SIGINT:
                os.killpg(child.pid, signal.SIGINT)
                child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    sent = f"{signal.Signals(signum).name} sent at {signalled_at}, exit code {child.returncode}:\n"
    if signum == signal.SIGINT:
        assert child.returncode != 0, sent + log.read_text()[-4000:]
    else:
        assert child.returncode == -signal.SIGKILL, sent + log.read_text()[-4000:]
    return descendants
