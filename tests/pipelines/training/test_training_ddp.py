"""DDP from `kedro run`: 2 CPU processes (gloo) train like one process with the same global batch,
and the pipeline, its outputs and its MLflow run happen once; resuming on two "machines" (one
computer)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch

from faceswap_pipeline.model import load_swap_model
from faceswap_pipeline.model.lightning_module import read_checkpoint_info
from tests.helpers.kedro_project import kedro_run, kedro_run_failing
from tests.helpers.local_servers import free_port

pytestmark = pytest.mark.slow

# Augmentation off: each rank draws its own augmentation (seeded per rank), so only without it can a
# 2-process run equal a 1-process run number for number.
COMMON = [
    "training.trainer.accelerator=cpu",
    "training.augmentation.strength=0",
    "training.preview_every_n_steps=3",
]
DDP = ["training.trainer.strategy=ddp", "training.trainer.devices=2"]


def _runs(project):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    experiment = client.get_experiment_by_name("faceswap_pipeline")
    return client, client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time"]
    )


def test_ddp_from_kedro_run_trains_once_like_one_process_and_resumes_on_two_machines(
    project_with_faces, tmp_path, monkeypatch
):
    ddp_project = project_with_faces
    single_project = shutil.copytree(ddp_project, tmp_path / "single")

    kedro_run(single_project, "training", COMMON, extra_args=["--env", "tiny"])
    result = kedro_run(ddp_project, "training", COMMON + DDP, extra_args=["--env", "tiny"])
    log = result.stdout + result.stderr

    # The pipeline ran once: one completion, one save of each output, one MLflow run.
    assert log.count("Pipeline execution completed") == 1
    assert log.count("train_swap_model made swap_model ") == 1
    assert "DDP: 2 processes on 1 machine(s)" in log
    client, (run,) = _runs(ddp_project)
    assert run.info.run_name == "training"
    history = client.get_metric_history(run.info.run_id, "train/loss_a")
    assert sorted(m.step for m in history) == sorted({m.step for m in history})  # one writer
    assert len(history) >= 5
    previews = [item.path for item in client.list_artifacts(run.info.run_id, "previews")]
    assert "previews/step_000006.png" in previews
    summary = json.loads((ddp_project / "data/08_reporting/training_summary.json").read_text())
    single_summary = json.loads(
        (single_project / "data/08_reporting/training_summary.json").read_text()
    )
    assert summary["global_step"] == single_summary["global_step"] == 6

    # The same global batch on 2 ranks as on 1: the same training up to floating-point rounding.
    # Adam amplifies rounding where gradients are near its eps, so a few weights drift by up to
    # ~5e-4 after 6 steps (measured), while the bulk agrees to ~1e-8 and the held-out figures to
    # ~1e-5. Ranks that drew the same faces instead of their own measured a median of 8e-4 and
    # figures off by 6e-3.
    ddp_model, _ = load_swap_model(ddp_project / "data/06_models/swap_model")
    single_model, _ = load_swap_model(single_project / "data/06_models/swap_model")
    ddp_weights, single_weights = ddp_model.state_dict(), single_model.state_dict()
    gaps = torch.cat([(ddp_weights[k] - single_weights[k]).abs().flatten() for k in single_weights])
    assert float(gaps.median()) < 1e-6
    assert float(gaps.kthvalue(int(0.99 * len(gaps))).values) < 1e-4
    for key, value in single_summary["final_validation"].items():
        assert summary["final_validation"][key] == pytest.approx(value, rel=1e-4), key

    # Resume, on two "machines" of one process each: node 0 runs kedro, node 1 the rank process.
    port = free_port()
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    monkeypatch.setenv("FACESWAP_DDP_JOB_PORT", str(free_port()))
    monkeypatch.setenv("FACESWAP_DDP_SECRET", "a shared secret of this test's two machines")
    node_1 = subprocess.Popen(
        [sys.executable, "-m", "faceswap_pipeline.distributed"],
        cwd=ddp_project,
        env={**os.environ, "GROUP_RANK": "1"},  # torchrun's name for the node rank
    )
    try:
        kedro_run(
            ddp_project,
            "training",
            [
                *COMMON,
                "training.trainer.strategy=ddp",
                "training.trainer.devices=1",
                "training.trainer.num_nodes=2",
                "training.max_steps=8",
            ],
            extra_args=["--env", "tiny"],
        )
        assert node_1.wait(timeout=120) == 0
    finally:
        node_1.kill()
    summary = json.loads((ddp_project / "data/08_reporting/training_summary.json").read_text())
    assert (summary["resumed_at_step"], summary["global_step"]) == (6, 8)
    client, runs = _runs(ddp_project)
    assert len(runs) == 2
    steps = [m.step for m in client.get_metric_history(runs[-1].info.run_id, "train/loss_a")]
    assert min(steps) >= 6


def test_a_rank_that_dies_stops_the_run_with_its_name_and_keeps_the_checkpoint(
    project_with_faces,
):
    project = project_with_faces
    last = project / "data/06_models/checkpoints_tiny/last.ckpt"
    command = [
        sys.executable,
        "-m",
        "kedro",
        "run",
        "--pipelines",
        "training",
        "--env",
        "tiny",
        "--params",
        ",".join([*COMMON, *DDP, "training.max_steps=100000"]),
    ]
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "COLUMNS": "200",
    }
    kedro = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 600
        while not last.exists():  # training is under way on both ranks
            assert kedro.poll() is None and time.monotonic() < deadline, kedro.communicate()[0][
                -4000:
            ]
            time.sleep(0.2)
        # The node process's only child is the rank-1 process (Linux lists children in /proc).
        (rank_1,) = Path(f"/proc/{kedro.pid}/task/{kedro.pid}/children").read_text().split()
        os.kill(int(rank_1), signal.SIGKILL)  # as the OOM killer would
        output, _ = kedro.communicate(timeout=180)  # no hang: rank 0 stops too
    finally:
        if kedro.poll() is None:
            kedro.kill()
    assert kedro.returncode > 0  # Kedro reports the error, not killed by a signal
    assert "RankFailedError" in output
    assert re.search(r"DDP rank process \d+ \(local rank 1\) ended with exit code -9", output), (
        output[-4000:]
    )
    assert "Pipeline execution completed" not in output
    assert read_checkpoint_info(last).step >= 2  # the last checkpoint is whole
    assert not (project / "data/06_models/swap_model/model.safetensors").exists()


def test_a_collapse_under_ddp_stops_every_rank_with_its_own_message(project_with_faces):
    project = project_with_faces
    # Adam moves every weight by about lr a step: at 1.0 the sigmoid saturates within 3 steps.
    result = kedro_run_failing(
        project,
        "training",
        [*COMMON, *DDP, "training.optimizer.lr=1.0", "training.max_steps=12"],
        extra_args=["--env", "tiny"],
        timeout_s=300,
    )
    output = result.stdout + result.stderr
    assert "TrainingCollapsedError: training collapsed: at step 3" in output, output[-4000:]
    assert "RankFailedError" not in output
    assert not (project / "data/06_models/swap_model/model.safetensors").exists()
