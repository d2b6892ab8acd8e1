"""`kedro run --pipelines pretraining --env tiny` on ../shared/data clips other than the swapped
pair (d6/d9), then a pair's `kedro run --pipelines training` that starts from the base model, as a
user runs them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
import yaml

from faceswap_pipeline.model import load_base_model, load_swap_model
from tests.helpers import PROJECT_ROOT
from tests.helpers.kedro_project import kedro_run, make_project

pytestmark = pytest.mark.slow

# Three people who are not the pair (d6/d9), sampled sparsely; Hamilton's clip adds an audience.
PRETRAINING_CLIPS = (("no_audio_d0.mp4", 10), ("single_d12.mp4", 5), ("multi_hamilton.mp4", 3))


def write_pretraining_sources(project: Path, shared_videos: Path, env: str = "tiny") -> None:
    """Point the preset's `pretraining.sources` at local clips (a conf file: --params splits on
    commas)."""
    conf = project / "conf" / env / "parameters_pretraining.yml"
    values = yaml.safe_load(conf.read_text())
    values["pretraining"]["sources"] = [
        {"path": str(shared_videos / clip), "fps": fps} for clip, fps in PRETRAINING_CLIPS
    ]
    conf.write_text(yaml.safe_dump(values))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, shared_videos) -> tuple[Path, str]:
    """A project after one tiny pretraining run; its folder and the run's console output."""
    project = make_project(tmp_path_factory.mktemp("pretraining") / "project")
    shutil.copytree(PROJECT_ROOT / "conf" / "tiny", project / "conf" / "tiny")
    write_pretraining_sources(project, shared_videos)
    result = kedro_run(project, extra_args=["--pipelines", "pretraining", "--env", "tiny"])
    return project, result.stdout + result.stderr


def test_pretraining_keeps_every_identity_and_writes_the_base_model(pretrained):
    project, log = pretrained
    alignments = pd.read_parquet(project / "data/03_primary/face_alignments_pretraining.parquet")
    kept = alignments[alignments["kept"]]
    # Every clip gives faces, and no face is dropped for being another person (Hamilton's audience,
    # far from the dominant identity, is kept).
    assert kept["video"].nunique() == len(PRETRAINING_CLIPS)
    assert "other_identity" not in set(alignments["reject_reason"].dropna())
    assert (kept["identity_distance"] > 0.6).any()
    assert "kept (every identity)" in log

    base = load_base_model(project / "data/06_models/base_model")
    assert (base.config.architecture, base.config.width, base.config.input_size) == (
        "original",
        0.1,
        64,
    )
    record = base.record
    # Held out: the end of each video (so every clip's people train), validated on tiny's 8 of
    # them.
    assert record["steps"] == 6 and len(kept) * 0.7 <= record["faces"] < len(kept)
    assert record["validation_faces"] == 8
    assert len(record["videos"]) == len(PRETRAINING_CLIPS)  # the videos it learnt from
    assert "held out for validation (the end of each video)" in log
    assert 0 < record["final_validation"]["val/ssim"] <= 1
    summary = json.loads((project / "data/08_reporting/pretraining_summary.json").read_text())
    assert summary["steps"] == 6 and summary["stop_reason"] == "max_steps"
    assert (project / "data/08_reporting/pretraining_preview.png").is_file()
    assert (project / "data/06_models/pretraining_checkpoints_tiny/last.ckpt").is_file()
    # Every face it trained and validated on, decoded once into its own bank (training's is
    # the pair's).
    bank_info = json.loads(
        (project / "data/05_model_input/face_bank_pretraining/person_a.json").read_text()
    )
    assert len(bank_info["face_ids"]) == record["faces"] + record["validation_faces"]
    assert "pretraining: face bank of" in log and "to build" in log
    assert not (project / "data/06_models/checkpoints_tiny/last.ckpt").exists()

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    experiment = client.get_experiment_by_name("faceswap_pipeline")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "pretraining" and record["pretraining_run_id"] == run.info.run_id
    assert run.data.params["pretraining.faces"] == str(record["faces"])
    assert len(client.get_metric_history(run.info.run_id, "train/loss_a")) >= 5
    assert client.get_metric_history(run.info.run_id, "val/ssim_a")
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, "base_model")}
    assert "base_model/model.safetensors" in artifacts


def test_pretraining_resumes_from_its_checkpoint(pretrained):
    project, _ = pretrained
    result = kedro_run(
        project,
        extra_args=[
            "--pipelines",
            "pretraining",
            "--env",
            "tiny",
            "--params",
            "pretraining.training.max_steps=8",
        ],
    )
    summary = json.loads((project / "data/08_reporting/pretraining_summary.json").read_text())
    assert (summary["resumed_at_step"], summary["steps"]) == (6, 8)
    assert load_base_model(project / "data/06_models/base_model").record["steps"] == 8
    # The videos were extracted once: the second run reuses every per-video face table, and the
    # faces decoded into the bank.
    assert "0 to extract" in result.stdout + result.stderr
    assert "unchanged, reused" in result.stdout + result.stderr


def test_pretraining_on_two_processes_runs_the_pipeline_once_and_continues_its_checkpoint(
    pretrained,
):
    project, _ = pretrained
    summary_file = project / "data/08_reporting/pretraining_summary.json"
    before = json.loads(summary_file.read_text())["steps"]
    ddp = [
        f"pretraining.training.max_steps={before + 4}",
        "pretraining.training.trainer.accelerator=cpu",
        "pretraining.training.trainer.strategy=ddp",
        "pretraining.training.trainer.devices=2",
    ]
    result = kedro_run(
        project,
        extra_args=["--pipelines", "pretraining", "--env", "tiny", "--params", ",".join(ddp)],
    )
    log = result.stdout + result.stderr
    # The ranks run the node's call, not the command line again (Lightning's own launcher re-ran
    # the whole `kedro run` on every rank), and the base model's second decoder, which gets no
    # gradient, does not stop DDP.
    assert "DDP: 2 processes on 1 machine(s)" in log
    assert log.count("Kedro project faceswap_pipeline") == 1
    assert log.count("Pipeline execution completed") == 1
    summary = json.loads(summary_file.read_text())
    assert (summary["resumed_at_step"], summary["steps"]) == (before, before + 4)
    assert load_base_model(project / "data/06_models/base_model").record["steps"] == before + 4


def test_a_pair_starts_from_the_base_model_and_its_checkpoint_then_wins(
    pretrained, project_with_faces
):
    base_folder = pretrained[0] / "data/06_models/base_model"
    project = project_with_faces
    shutil.copytree(base_folder, project / "data/06_models/base_model")
    base = load_base_model(base_folder)
    # By default every part comes from the base model, and the pair trains by the recipe measured
    # from one (the `auto` settings). The convolutions, frozen here (`init_frozen`), are still the
    # base model's after two steps at the preset's rate; the bottleneck, also from the base model,
    # has trained. (One part: `--params` splits on commas, so a list of several goes in
    # conf/local.)
    result = kedro_run(
        project,
        "training",
        [
            "training.init_from=base_model",
            "training.init_frozen=[convolutions]",
            "training.max_steps=2",
        ],
        extra_args=["--env", "tiny"],
    )
    log = result.stdout + result.stderr
    assert "starting from base model" in log
    assert (
        "from a base model: augmentation.warp 0.0, loss.code_identity_weight 0.1,"
        " optimizer.clip_grad_norm 1.0" in log
    )
    pair, _ = load_swap_model(project / "data/06_models/swap_model")
    for name, tensor in base.encoder.state_dict().items():
        frozen = name.startswith("convs.")
        assert torch.equal(pair.encoder.state_dict()[name], tensor) == frozen, name
    summary = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    assert summary["initialised_from"]["record"]["steps"] == base.record["steps"]
    assert summary["initialised_from"]["fresh"] == []
    assert summary["initialised_from"]["frozen"] == ["convolutions"]

    # `init_fresh` from the command line: the decoders' output layers start fresh, their input
    # layers as the base model's decoder (a rate too small to move them in one step).
    result = kedro_run(
        project,
        "training",
        [
            "training.init_from=base_model",
            "training.init_fresh=[decoder_output]",
            "training.resume=false",
            "training.max_steps=1",
            "training.optimizer.lr=1.0e-12",
        ],
        extra_args=["--env", "tiny"],
    )
    pair, _ = load_swap_model(project / "data/06_models/swap_model")
    for person in ("a", "b"):
        for name, tensor in base.decoder.state_dict().items():
            fresh = pair.part_of(f"decoders.{person}.{name}") == "decoder_output"
            drawn_as_base = torch.allclose(
                pair.decoders[person].state_dict()[name], tensor, atol=1e-8
            )
            assert drawn_as_base != fresh, (person, name)

    # A re-run resumes the pair's own checkpoint: the base model is not applied over it.
    result = kedro_run(
        project,
        "training",
        ["training.init_from=base_model", "training.max_steps=2"],
        extra_args=["--env", "tiny"],
    )
    assert "its weights win" in result.stdout + result.stderr
    summary = json.loads((project / "data/08_reporting/training_summary.json").read_text())
    assert (summary["resumed_at_step"], summary["initialised_from"]) == (1, None)


def test_a_base_model_of_another_configuration_is_refused(pretrained, project_with_faces):
    base_folder = pretrained[0] / "data/06_models/base_model"
    with pytest.raises(
        AssertionError, match=r"was pretrained for another model: width 0\.1 \(training says 0\.2\)"
    ):
        kedro_run(
            project_with_faces,
            "training",
            [f"training.init_from={base_folder}", "training.width=0.2"],
            extra_args=["--env", "tiny"],
        )
    # Refused before the first step: no model written, no checkpoint to resume from.
    assert not (project_with_faces / "data/06_models/swap_model/model.safetensors").exists()
    checkpoint = project_with_faces / "data/06_models/checkpoints_tiny/last.ckpt"
    assert not checkpoint.exists()

    # With `resume: false` too the refusal comes before the run's own checkpoint is set aside as
    # previous.ckpt (never read here: the bytes stand in for it): the next run resumes from it.
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(b"the pair's own checkpoint")
    with pytest.raises(AssertionError, match=r"was pretrained for another model"):
        kedro_run(
            project_with_faces,
            "training",
            [f"training.init_from={base_folder}", "training.width=0.2", "training.resume=false"],
            extra_args=["--env", "tiny"],
        )
    assert checkpoint.read_bytes() == b"the pair's own checkpoint"
    assert not (checkpoint.parent / "previous.ckpt").exists()
