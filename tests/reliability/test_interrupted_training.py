"""Kill training midway (SIGKILL), run it again: it resumes from the last checkpoint with the
weights and the step count it had there, so nothing learned before that checkpoint is lost. (That a
larger step budget then counts on from there is
`tests/pipelines/training/test_training_pipeline.py`, 6 → 8 steps.)"""

from __future__ import annotations

import json
import time

import pytest
import torch

from faceswap_pipeline.model import load_swap_model
from faceswap_pipeline.model.lightning_module import read_checkpoint_info
from tests.helpers.interrupt import kill_kedro_run_when
from tests.helpers.kedro_project import kedro_run

TINY = ["--env", "tiny"]


@pytest.mark.slow
def test_sigkill_during_training_then_rerun_resumes_from_the_last_checkpoint(project_with_faces):
    project = project_with_faces
    last = project / "data/06_models/checkpoints_tiny/last.ckpt"
    first_seen: list[float] = []

    def a_while_after_the_first_checkpoint() -> bool:
        if last.exists() and not first_seen:
            first_seen.append(time.monotonic())
        return bool(first_seen) and time.monotonic() - first_seen[0] > 1.0

    # The tiny preset checkpoints every 2 steps; a long step budget keeps it training until killed.
    kill_kedro_run_when(
        project,
        ["--pipelines", "training", *TINY, "--params", "training.max_steps=100000"],
        a_while_after_the_first_checkpoint,
    )
    assert not (
        project / "data/06_models/swap_model/model.safetensors"
    ).exists()  # only a finished run writes it
    step = read_checkpoint_info(last).step
    assert step >= 2
    saved = torch.load(last, map_location="cpu", weights_only=True)["state_dict"]

    # Run again with the budget the killed run had reached: it resumes there and trains no further,
    # so the model it writes holds exactly the checkpoint's weights: the moving average of them
    # (training.optimizer.average_decay, which the tiny preset takes from the base one).
    kedro_run(project, "training", [f"training.max_steps={step}"], extra_args=TINY)
    summary = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoints_tiny/last.ckpt")
    assert summary["resumed_at_step"] == step and summary["global_step"] == step
    model, _ = load_swap_model(project / "data/06_models/swap_model")
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, saved[f"average.module.{name}"], rtol=0, atol=0)
