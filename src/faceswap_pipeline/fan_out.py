"""Run independent jobs (one a video) side by side on Dask's distributed scheduler, or one by one
here.

A job is a picklable callable without arguments that writes its own result to storage every worker
sees and returns nothing big. With one worker and no scheduler address nothing of Dask is imported:
the jobs run in this process, in order, as they always did.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

logger = logging.getLogger(__name__)

# Worker logs under this logger reach the user (the project's own messages: progress, counts,
# warnings).
FORWARDED_LOGGER = "faceswap_pipeline"


@dataclass(frozen=True)
class FanOut:
    """Where jobs run.

    Attributes:
        workers: worker processes of a ``LocalCluster`` started for the jobs, one thread each; 1
            (and no ``scheduler``) runs the jobs in this process, one after the other.
        scheduler: address of a running Dask scheduler (e.g. ``tcp://10.0.0.5:8786``): the jobs go
            to its workers and ``workers`` is not used. Its workers need this package installed and
            the same view of the files (shared storage).
        memory_limit: per ``LocalCluster`` worker, in Dask's syntax (``"4GiB"``; ``"auto"``: the
            machine's memory divided by ``workers``). Dask restarts a worker that passes 95 % of it.
    """

    workers: int = 1
    scheduler: str | None = None
    memory_limit: str = "auto"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    @property
    def distributed(self) -> bool:
        """Whether jobs run on Dask workers (other processes, maybe other machines)."""
        return self.workers > 1 or bool(self.scheduler)

    def local_workers(self, jobs: int) -> int:
        """Worker processes of the ``LocalCluster`` for ``jobs`` jobs: no idle ones (each loads
        models)."""
        return max(1, min(self.workers, jobs))

    def cpu_threads_per_job(self, jobs: int) -> int | None:
        """Threads one job's libraries (onnxruntime, OpenCV) may use so that workers share the
        cores.

        ``None`` when the jobs run here (the libraries' defaults: every core). A ``LocalCluster``
        shares this machine's cores evenly among its workers; on another cluster each job gets 1 (a
        worker per core is Dask's default), unless the caller asks for more.
        """
        if not self.distributed:
            return None
        if self.scheduler:
            return 1
        return max(1, (os.cpu_count() or 1) // self.local_workers(jobs))


class FanOutJobs(dict):
    """``{key: job}`` and where to run them (``fan_out``): a node's output that a dataset runs and
    writes."""

    def __init__(self, jobs: Mapping[str, Any], fan_out: FanOut):
        super().__init__(jobs)
        self.fan_out = fan_out


class JobFailed(RuntimeError):
    """A job raised on a Dask worker; the message names the job, the original error is its cause."""


def run_jobs(jobs: Mapping[str, Callable[[], Any]], fan_out: FanOut, *, what: str = "jobs") -> None:
    """Run every job, on Dask workers when ``fan_out.distributed``, else here in order.

    On Dask the project's log records from the workers are re-emitted here (progress per job), the
    progress over jobs is logged, and the first failure cancels the other jobs, closes the cluster
    started for them and raises ``JobFailed`` naming the job. Ctrl-C (``KeyboardInterrupt``) does
    the same. A job that finished before a failure has written its result; the others have not.

    Args:
        jobs: ``{label: job}``; the label names the job in messages (e.g. ``"video d6.mp4"``).
        fan_out: where to run them.
        what: what the jobs make, plural, for the progress lines (``"face tables"``).

    Raises:
        JobFailed: a job raised on a worker (its error chained), or a worker died running it.
        Exception: in this process, a job's own error, as raised.
    """
    if not fan_out.distributed:
        for job in jobs.values():
            job()
        return
    if not jobs:
        return
    from distributed import as_completed

    level = logging.getLogger(FORWARDED_LOGGER).getEffectiveLevel()
    with dask_client(replace(fan_out, workers=fan_out.local_workers(len(jobs)))) as client:
        futures = {
            client.submit(_run_logging_at, level, job, pure=False, key=_task_key(label)): label
            for label, job in jobs.items()
        }
        logger.info(
            "%s: %d on %d Dask workers (%s)",
            what,
            len(futures),
            len(client.scheduler_info()["workers"]),
            fan_out.scheduler or "a LocalCluster on this machine",
        )
        done = 0
        try:
            for future in as_completed(futures):
                label = futures[future]
                try:
                    future.result()
                except Exception as error:
                    raise JobFailed(
                        f"{label} failed on a Dask worker: {type(error).__name__}: {error}"
                    ) from error
                done += 1
                logger.info("%s: %d of %d done (%s)", what, done, len(futures), label)
        except BaseException as error:
            # Also on Ctrl-C: nothing more is started; a cluster of this run is closed on the way
            # out.
            client.cancel(list(futures), force=True)
            logger.warning(
                "%s: stopped (%s) with %d of %d done; the others are cancelled",
                what,
                "interrupted" if isinstance(error, KeyboardInterrupt) else "a job failed",
                done,
                len(futures),
            )
            raise


def _run_logging_at(level: int, job: Callable[[], Any]) -> None:
    """Run ``job`` on a worker with the project's loggers at the client's level (a worker process
    starts with Python's default, WARNING, and would drop the progress lines)."""
    project_logger = logging.getLogger(FORWARDED_LOGGER)
    project_logger.setLevel(level)
    # Forwarded to the client, which shows them: the worker's own handlers would show them twice.
    project_logger.propagate = False
    logging.getLogger("distributed").setLevel(max(level, logging.WARNING))
    job()


def _task_key(label: str) -> str:
    from dask.base import tokenize

    readable = "".join(c if c.isalnum() or c in "._-" else "-" for c in label)[:80]
    return f"{readable}-{tokenize(label, os.getpid(), os.urandom(8))}"


@contextmanager
def dask_client(fan_out: FanOut) -> Iterator[Any]:
    """A ``distributed.Client``: of the cluster at ``fan_out.scheduler``, or of a ``LocalCluster``.

    The ``LocalCluster`` (``fan_out.workers`` processes, one thread each, no dashboard) lives as
    long
    as the block: closing it, on success, error or Ctrl-C, stops its worker processes, and they exit
    by themselves if this process is killed. The workers' records under ``faceswap_pipeline`` are
    forwarded to this process's loggers at this process's level.
    """
    from distributed import Client, LocalCluster

    level = logging.getLogger(FORWARDED_LOGGER).getEffectiveLevel()
    with _quiet_dask_logs():
        if fan_out.scheduler:
            with Client(fan_out.scheduler, timeout="30s") as client:
                client.forward_logging(FORWARDED_LOGGER, level=level)
                yield client
            return
        # The scheduler always serves HTTP (health, metrics; the dashboard when bokeh is there): on
        # a free port of the loopback interface, not on 8787 of every interface.
        with _workers_ignore_ctrl_c() as pressed:
            cluster = LocalCluster(
                n_workers=fan_out.workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=fan_out.memory_limit,
                dashboard_address="127.0.0.1:0",
            )
        if pressed.is_set():
            cluster.close()
            logger.warning("interrupted while the Dask workers started; they are stopped")
            raise KeyboardInterrupt
        with cluster, Client(cluster) as client:
            client.forward_logging(FORWARDED_LOGGER, level=level)
            yield client


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[threading.Event]:
    """Processes started in the block ignore SIGINT (an ignored signal stays ignored in a child);
    the event it yields is set after the block when Ctrl-C came meanwhile.

    Ctrl-C in a terminal signals every process of the group: the workers would each die with a
    traceback. Ignoring it, they stop when this process closes the cluster on its KeyboardInterrupt.
    A signal's disposition is the whole process's, so this process ignores it too while they start
    (seconds): a canary process started first, which does not, dies of it and tells that it came,
    where it would otherwise be lost and the run go on.
    """
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    canary = subprocess.Popen(
        [sys.executable, "-S", "-c", "import time; time.sleep(3600)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)
        if canary.poll() is not None:
            pressed.set()
        else:
            canary.kill()
        canary.wait()


@contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Dask's own INFO lines (workers starting, connections) only at WARNING and above, here and in
    the worker processes started meanwhile (they read ``DASK_LOGGING__DISTRIBUTED`` on import)."""
    dask_logger = logging.getLogger("distributed")
    level, variable = dask_logger.level, os.environ.get("DASK_LOGGING__DISTRIBUTED")
    dask_logger.setLevel(max(level, logging.WARNING))
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "warning"
    try:
        yield
    finally:
        dask_logger.setLevel(level)
        if variable is None:
            os.environ.pop("DASK_LOGGING__DISTRIBUTED", None)
        else:
            os.environ["DASK_LOGGING__DISTRIBUTED"] = variable
