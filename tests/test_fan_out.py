"""Ctrl-C while a run's Dask workers start: the run stops, quietly, and leaves no worker behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psutil

# A run in a session of its own that presses Ctrl-C on itself (SIGINT to its whole process group,
# as a terminal does) just as its LocalCluster has started its workers: the moment this process
# ignores SIGINT so that the workers inherit the ignoring.
RUN_PRESSING_CTRL_C_AT_START = textwrap.dedent(
    """
    import os, signal, time
    import distributed
    from faceswap_pipeline.fan_out import FanOut, run_jobs

    started = distributed.LocalCluster.__init__

    def start_then_press_ctrl_c(cluster, *args, **kwargs):
        started(cluster, *args, **kwargs)
        workers = [nanny.process.process.pid for nanny in cluster.workers.values()]
        print("workers", *workers, flush=True)
        os.killpg(os.getpgrp(), signal.SIGINT)
        time.sleep(0.5)  # the signal reaches every process of the group

    distributed.LocalCluster.__init__ = start_then_press_ctrl_c

    if __name__ == "__main__":
        try:
            run_jobs({"a": lambda: None, "b": lambda: None}, FanOut(workers=2))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise SystemExit(130)
        print("the jobs ran", flush=True)
    """
)


def test_ctrl_c_while_the_workers_start_stops_the_run_and_the_workers(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RUN_PRESSING_CTRL_C_AT_START)
    result = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 130 and "interrupted" in result.stdout, output
    assert "the jobs ran" not in output
    assert "interrupted while the Dask workers started; they are stopped" in output, output
    # The workers ignored the Ctrl-C (no traceback of theirs) and were stopped with the cluster.
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("workers ")]
    workers = [int(pid) for pid in line.split()[1:]]
    assert len(workers) == 2
    assert not [pid for pid in workers if psutil.pid_exists(pid)], output
