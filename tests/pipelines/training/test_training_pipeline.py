"""`kedro run --pipelines training --env tiny` in a throw-away project: the model, the resume, the
MLflow run."""

from __future__ import annotations

import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from faceswap_pipeline.model import crop_model_region, load_swap_model
from tests.helpers import PROJECT_ROOT
from tests.helpers.kedro_project import kedro_run

pytestmark = pytest.mark.slow


def test_training_run_writes_the_model_and_an_mlflow_run_and_resumes(
    project_with_faces, clip_faces
):
    project = project_with_faces
    kedro_run(project, "training", extra_args=["--env", "tiny"])

    model, config = load_swap_model(project / "data/06_models/swap_model")
    assert (config.architecture, config.width, config.input_size) == ("original", 0.1, 64)
    assert (
        model.people["a"]["descriptors"] == 3 and len(model.people["b"]["descriptor_mean"]) == 128
    )
    crop = next(iter(clip_faces["a"][0].values()))
    face = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0
    swapped = model.swap(crop_model_region(face, config.input_size, config.coverage), to="b")
    assert swapped.shape == (1, 3, 64, 64)
    split = pd.read_parquet(project / "data/05_model_input/training_faces.parquet")
    assert set(split["split"]) == {"train", "val"}
    assert (project / "data/08_reporting/training_preview.png").is_file()

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    experiment = client.get_experiment_by_name("faceswap_pipeline")
    (run,) = client.search_runs([experiment.experiment_id])
    params = run.data.params
    assert params["training.architecture"] == "original" and params["training.width"] == "0.1"
    assert params["faces.train_a"] == str(
        (split["person"].eq("a") & split["split"].eq("train")).sum()
    )
    for metric in (
        "train/loss_a",
        "train/loss_b",
        "val/l1_a",
        "val/ssim_b",
        "train/images_per_s",
        "train/grad_norm",
    ):
        assert client.get_metric_history(run.info.run_id, metric), metric
    # The tiny preset's constant rate, as this run set it at every step.
    rates = [m.value for m in client.get_metric_history(run.info.run_id, "train/lr")]
    assert rates and rates == pytest.approx([float(params["training.optimizer.lr"])] * len(rates))
    assert len(client.get_metric_history(run.info.run_id, "train/loss_a")) >= 5
    # At every validation the held-out faces are swapped and judged: the chart of when it convinces.
    for metric in (
        "val_swap/distance_to_target",
        "val_swap/share_nearer_target",
        "val_swap/detail_kept",
        "val_swap/convincing",
        "val_swap/distance_to_target_a_to_b",
    ):
        assert [m.step for m in client.get_metric_history(run.info.run_id, metric)] == [
            3,
            6,
        ], metric
    first = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    verdict = first["validation_swaps"]["verdict"]
    assert verdict["convincing"] is False and verdict["text"].startswith("not convincing yet")
    assert 0 < first["validation_swaps"]["metrics"]["val_swap/distance_to_target"] < 2
    previews = [item.path for item in client.list_artifacts(run.info.run_id, "previews")]
    assert "previews/step_000003.png" in previews and "previews/step_000006.png" in previews
    model_files = [item.path for item in client.list_artifacts(run.info.run_id, "swap_model")]
    assert "swap_model/model.safetensors" in model_files and "swap_model/config.json" in model_files
    assert "training_preview.png" in [item.path for item in client.list_artifacts(run.info.run_id)]

    bank_info = (project / "data/05_model_input/face_bank/person_a.json").read_text()

    # A second run with a higher step budget continues from the first one's last checkpoint, and
    # reuses the face banks: the faces are not decoded again.
    second = kedro_run(project, "training", ["training.max_steps=8"], extra_args=["--env", "tiny"])
    assert second.stdout.count("unchanged, reused") + second.stderr.count("unchanged, reused") == 2
    assert (project / "data/05_model_input/face_bank/person_a.json").read_text() == bank_info
    summary = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    assert summary["resumed_at_step"] == 6 and summary["global_step"] == 8
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    assert len(runs) == 2
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/loss_a")]
    assert min(steps) >= 6  # the step count continues
    for person in ("a", "b"):  # one row per listed face, at the original model's 102 px source size
        bank = np.load(
            project / f"data/05_model_input/face_bank/person_{person}.npy", mmap_mode="r"
        )
        assert bank.shape == ((split["person"] == person).sum(), 4, 102, 102), bank.shape

    # Asked to stop once convincing, with thresholds any swap meets: it stops at the next
    # validation.
    lenient = [
        "evaluation.verdict.min_share_nearer_target=0",
        "evaluation.verdict.max_distance_to_target=5",
        "evaluation.verdict.min_detail_kept=0",
    ]
    kedro_run(
        project,
        "training",
        ["training.max_steps=30", "training.stop_when_convincing=true", *lenient],
        extra_args=["--env", "tiny"],
    )
    summary = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    assert summary["stop_reason"] == "convincing" and summary["global_step"] < 30
    assert summary["validation_swaps"]["verdict"]["convincing"] is True


def test_the_gpu_preset_starts_with_only_sizes_steps_and_accelerator_changed(project_with_faces):
    """The `gpu` preset itself (hires 128 px, bf16-mixed, the resident face bank), shrunk to fit a
    CPU: a preset that cannot start fails here, not on a rented GPU. Its `compile: true` is turned
    off too: compiling takes minutes on a CPU (a speed setting, measured on a GPU by gpu_check)."""
    project = project_with_faces
    shutil.copytree(PROJECT_ROOT / "conf" / "gpu", project / "conf" / "gpu")
    shrink = [
        "training.trainer.accelerator=cpu",
        "training.width=0.05",
        "training.batch_size=4",
        "training.max_steps=2",
        "training.min_faces_per_person=8",
        "training.val_max_faces=4",
        "training.preview_faces=2",
        "training.compile=false",
    ]
    kedro_run(project, "training", shrink, extra_args=["--env", "gpu"])
    summary = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["precision"] == "bf16-mixed"
    assert (summary["model"]["architecture"], summary["model"]["input_size"]) == ("hires", 128)
    assert 0 < summary["final_validation"]["val/ssim_a"] < 1
    # The hires model's source size: 128 / 0.625 = 205 px, RGB + the eyes/mouth channel.
    bank = np.load(project / "data/05_model_input/face_bank/person_a.npy", mmap_mode="r")
    assert bank.shape[1:] == (4, 205, 205)
    model, config = load_swap_model(project / "data/06_models/swap_model")
    assert (config.architecture, config.input_size, config.width) == ("hires", 128, 0.05)
