"""Training on real aligned faces of the two shared clips: Lightning runs, learns, resumes, fails
clearly."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kedro.io import DatasetError
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor
from torch.nn import functional as F

from faceswap_pipeline.datasets.face_bank import FaceBankFolderDataset
from faceswap_pipeline.model.callbacks import ProgressLogCallback
from faceswap_pipeline.model.data import (
    AlignedFaceDataset,
    FaceItem,
    FaceSwapDataModule,
    TooFewFacesError,
    assign_validation_split,
)
from faceswap_pipeline.model.face_bank import FaceBankBuild, plan_face_bank
from faceswap_pipeline.model.lightning_module import (
    CheckpointMismatchError,
    NonFiniteLossError,
    SwapLightningModule,
    TrainingCollapsedError,
    read_checkpoint_info,
)
from faceswap_pipeline.model.settings import (
    LossSettings,
    OptimizerSettings,
    TrainingSettings,
    resolve_auto_settings,
)
from faceswap_pipeline.model.trainer import build_trainer, find_resume, run_training
from faceswap_pipeline.pipelines.training.nodes import (
    build_face_banks,
    select_training_faces,
    train_swap_model,
)
from tests.helpers import PROJECT_ROOT
from tests.helpers.faces import as_loaders, face_items

# The tiny preset from scratch: its blocks also build modules directly (no `auto` left).
TINY = resolve_auto_settings(
    yaml.safe_load((PROJECT_ROOT / "conf" / "tiny" / "parameters_training.yml").read_text())[
        "training"
    ],
    from_base_model=False,
)


def _params(tmp_path: Path, **overrides) -> dict:
    return {**TINY, "checkpoint_dir": str(tmp_path / "checkpoints"), **overrides}


def _training_inputs(
    clip_faces, params: dict, bank_dir: Path
) -> tuple[dict, dict, pd.DataFrame, dict]:
    """Both people's aligned-face loaders, the chosen training faces and the face banks (built
    through their catalog dataset in `bank_dir`), as the training node gets them."""
    (crops_a, table_a), (crops_b, table_b) = clip_faces["a"], clip_faces["b"]
    faces_a, faces_b = as_loaders(crops_a), as_loaders(crops_b)
    faces = select_training_faces(faces_a, table_a, faces_b, table_b, params)
    dataset = FaceBankFolderDataset(str(bank_dir))
    dataset.save(build_face_banks(faces_a, faces_b, faces, params, dataset.load()))
    return faces_a, faces_b, faces, dataset.load()


def _datamodule(clip_faces, batch_size: int = 8, count: int | None = None) -> FaceSwapDataModule:
    faces, rows = {}, {}
    for person in ("a", "b"):
        items = face_items(clip_faces, person, count)
        faces[person] = (
            FaceBankBuild(tuple(items), "test", 64, 0.625, 256, True, person).build().faces
        )
        rows[person] = np.arange(len(items))
    return FaceSwapDataModule(faces, rows, rows, batch_size=batch_size)


def _module(width: float = 0.1, **settings) -> SwapLightningModule:
    model = {
        "architecture": "original",
        "input_size": 64,
        "width": width,
        "coverage": 0.625,
        "crop_size": 256,
    }
    return SwapLightningModule(model=model, **settings)


def _trainer(**kwargs) -> L.Trainer:
    defaults = {
        "accelerator": "cpu",
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
    }
    return L.Trainer(**{**defaults, **kwargs})


class _LossRecorder(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


class _CrashAtStep(L.Callback):
    """Stands in for a crash (power cut, OOM kill) after `step` optimizer steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError("simulated crash")


def test_fast_dev_run(clip_faces):
    _trainer(fast_dev_run=True).fit(_module(), datamodule=_datamodule(clip_faces))


def test_batches_hold_both_people_with_an_eye_and_mouth_channel(clip_faces):
    batch = next(iter(_datamodule(clip_faces).train_dataloader()))
    for faces in batch.values():
        assert faces.shape == (8, 4, 102, 102) and faces.dtype == torch.uint8
        share = (faces[:, 3] > 0).float().mean()
        assert 0.02 < share < 0.3  # eyes and mouth: a small part of the model's view


def test_the_face_bank_holds_what_decoding_each_face_gave_and_is_rebuilt_only_on_change(
    clip_faces, tmp_path
):
    items = face_items(clip_faces, "a", count=12)
    dataset = FaceBankFolderDataset(str(tmp_path / "banks"))
    plan = plan_face_bank(items, 64, 0.625, 256, True, "a", existing=dataset.load().get("a"))
    assert isinstance(plan, FaceBankBuild)
    dataset.save({"a": plan})
    bank = dataset.load()["a"]
    assert isinstance(bank.faces, np.memmap) and bank.face_ids == tuple(i.face_id for i in items)
    # Bit for bit what the per-face path (decode, INTER_AREA resize, eyes/mouth mask) gives.
    one_by_one = AlignedFaceDataset(items, 64, 0.625, 256, with_landmark_mask=True, person="a")
    assert all(np.array_equal(bank.faces[i], one_by_one[i].numpy()) for i in range(len(items)))
    # Same faces and sizes: the bank on disk is reused, not decoded again.
    assert plan_face_bank(items, 64, 0.625, 256, True, "a", existing=bank) is bank
    # Another size, other pixels under the same ids, or other faces: rebuilt.
    assert isinstance(
        plan_face_bank(items, 128, 0.625, 256, True, "a", existing=bank), FaceBankBuild
    )
    changed = [FaceItem(items[0].face_id, items[1].load, items[0].landmarks68), *items[1:]]
    assert isinstance(
        plan_face_bank(changed, 64, 0.625, 256, True, "a", existing=bank), FaceBankBuild
    )
    assert isinstance(
        plan_face_bank(items[:-1], 64, 0.625, 256, True, "a", existing=bank), FaceBankBuild
    )
    # A rebuild replaces the bank on disk; an unchanged one is left as it is.
    smaller = plan_face_bank(items[:-1], 64, 0.625, 256, True, "a", existing=bank)
    dataset.save({"a": smaller})
    assert len(dataset.load()["a"].faces) == len(items) - 1


def test_training_batches_visit_every_face_once_per_pass_on_the_banks_device(clip_faces):
    datamodule = _datamodule(clip_faces, batch_size=5, count=20)
    batches = iter(datamodule.train_dataloader())
    bank = datamodule.faces["a"]
    seen = []
    for _ in range(4):  # 4 x 5 = one pass over A's 20 faces
        faces = next(batches)["a"]
        seen += [int(np.flatnonzero((bank == face).flatten(1).all(1))[0]) for face in faces]
    assert sorted(seen) == list(range(20))


def test_short_overfit_makes_the_loss_fall_clearly(clip_faces):
    torch.manual_seed(0)
    recorder = _LossRecorder()
    module = _module(
        optimizer={"lr": 1e-3}, augmentation={"strength": 0.0}, loss={"eye_mouth_weight": 1.0}
    )
    _trainer(max_steps=30, overfit_batches=1, callbacks=[recorder], limit_val_batches=0).fit(
        module, datamodule=_datamodule(clip_faces, batch_size=4, count=4)
    )
    first, last = np.mean(recorder.losses[:3]), np.mean(recorder.losses[-3:])
    assert len(recorder.losses) == 30
    assert last < 0.6 * first, (first, last)


def test_a_seeded_run_repeats_its_losses_exactly(clip_faces):
    # The weights start from torch's seeded generator; the face order and the augmentation come
    # from the data module's streams of the seed.
    runs = []
    for _ in range(2):
        L.seed_everything(3, verbose=False)
        recorder = _LossRecorder()
        _trainer(max_steps=3, callbacks=[recorder], limit_val_batches=0).fit(
            _module(), datamodule=_datamodule(clip_faces, batch_size=4, count=12)
        )
        runs.append(recorder.losses)
    assert len(runs[0]) == 3 and runs[0] == runs[1]


def test_a_run_resumed_from_a_checkpoint_trains_as_the_uninterrupted_run_would(
    clip_faces, tmp_path
):
    # A step's faces and augmentation come from the seed and the step, not from generators that
    # restart with the run: cut in two at a checkpoint (validating every 2 steps in one and never in
    # the other), the run trains the same last steps to the same weights; it does not replay its
    # first steps.
    def run(checkpoint: Path | None = None, **trainer) -> tuple[list[float], SwapLightningModule]:
        L.seed_everything(3, verbose=False)
        recorder = _LossRecorder()
        module = _module(optimizer={"lr": 1e-3}, seed=3)
        callbacks = [recorder, *trainer.pop("callbacks", [])]
        _trainer(max_steps=6, callbacks=callbacks, **trainer).fit(
            module, datamodule=_datamodule(clip_faces, batch_size=4, count=12), ckpt_path=checkpoint
        )
        return recorder.losses, module

    saving = ModelCheckpoint(tmp_path, filename="{step}", every_n_train_steps=3, save_top_k=-1)
    whole, uninterrupted = run(
        callbacks=[saving],
        enable_checkpointing=True,
        val_check_interval=2,
        check_val_every_n_epoch=None,
    )
    rest, resumed = run(tmp_path / "step=3.ckpt", limit_val_batches=0)
    assert len(whole) == 6 and rest == whole[3:]
    trained, expected = resumed.state_dict(), uninterrupted.state_dict()
    assert trained.keys() == expected.keys()
    assert all(torch.equal(trained[name], expected[name]) for name in expected)


def test_validation_is_held_out_by_video_or_by_time_span():
    # One video: the last 10% of its faces in time, not every tenth frame.
    single = pd.DataFrame({"video": ["v1"] * 100, "time_s": np.arange(100)[::-1] / 10.0})
    held = assign_validation_split(single, 0.1)
    assert held.sum() == 10 and set(single.loc[held, "time_s"]) == {t / 10 for t in range(90, 100)}
    # Several videos: a whole video, never the first.
    several = pd.DataFrame(
        {"video": ["v1"] * 50 + ["v2"] * 40 + ["v3"] * 10, "time_s": np.arange(100.0)}
    )
    held = assign_validation_split(several, 0.1)
    assert set(several.loc[held, "video"]) == {"v3"}
    # The pretraining's many people: each video's end, so that every video trains.
    held = assign_validation_split(several, 0.1, whole_videos=False)
    assert several.loc[held].groupby("video").size().to_dict() == {"v1": 5, "v2": 4, "v3": 1}
    assert set(several.loc[~held, "video"]) == {"v1", "v2", "v3"}


def test_too_few_faces_names_the_person_the_counts_and_the_minimum(clip_faces, tmp_path):
    crops_a, table_a = clip_faces["a"]
    crops_b, table_b = clip_faces["b"]
    few_b = dict(list(crops_b.items())[:5])
    with pytest.raises(
        TooFewFacesError,
        match=r"person_b has 4 training faces \(\+1 held out\).*at least 8 per person",
    ):
        select_training_faces(
            as_loaders(crops_a), table_a, as_loaders(few_b), table_b, _params(tmp_path)
        )


def test_faces_of_mixed_sizes_are_resized_with_a_warning(clip_faces):
    crops, _ = clip_faces["a"]
    first, second = list(crops.values())[:2]
    items = [
        FaceItem("v/000001_t000", lambda: first),
        FaceItem("v/000002_t000", second[::2, ::2].copy),
    ]
    faces = AlignedFaceDataset(
        items, input_size=64, coverage=0.625, crop_size=256, with_landmark_mask=False, person="a"
    )
    assert faces[0].shape == (3, 102, 102)
    with pytest.warns(
        UserWarning,
        match=r"person_a's aligned faces are not all 256x256 \(e.g. 'v/000002_t000' is 128x128\)",
    ):
        assert faces[1].shape == (3, 102, 102)


def test_the_node_trains_checkpoints_and_returns_a_model_and_a_preview(
    clip_faces, tmp_path, caplog
):
    caplog.set_level("INFO", logger="faceswap_pipeline")
    params = _params(tmp_path)
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    assert set(faces["split"]) == {"train", "val"}
    # Validation is the end of each clip in time.
    for _, person in faces.groupby("person"):
        assert (
            person.loc[person.split == "val", "time_s"].min()
            > person.loc[person.split == "train", "time_s"].max()
        )
    model, preview, summary = train_swap_model(
        faces_a, faces_b, faces, params, training_face_banks=banks
    )
    assert summary["global_step"] == 6 and summary["stop_reason"] == "max_steps"
    assert summary["resumed_from"] is None
    assert 0 < summary["final_validation"]["val/ssim_a"] < 1
    assert preview.size == (48 + 4 * 64, 6 * 64)
    assert model.swap(torch.rand(2, 3, 64, 64), to="a").shape == (2, 3, 64, 64)
    saved = read_checkpoint_info(tmp_path / "checkpoints" / "last.ckpt")
    assert saved.step == 6 and saved.config == model.config and saved.adversaries == ()
    # The log says it is training and how validation goes (no progress bar in Kedro's console).
    assert "training from step 0" in caplog.text
    assert "validation at step" in caplog.text and "SSIM A 0." in caplog.text


def test_the_last_step_is_validated_once_whether_the_fit_validated_it_or_not(
    clip_faces, tmp_path, caplog
):
    """The fit validates at every `val_every_n_steps` (3 in the tiny preset) and where a budget
    stops it; a run ending there takes that validation as its final one, a run ending between
    validations gets one after the fit. Either way one validation of the last step, the same
    figures."""
    caplog.set_level("INFO", logger="faceswap_pipeline")
    finals = {}
    for max_steps in (6, 7):
        caplog.clear()
        params = _params(tmp_path / str(max_steps), max_steps=max_steps)
        inputs = _training_inputs(clip_faces, params, tmp_path / str(max_steps) / "banks")
        *_, summary = train_swap_model(*inputs[:3], params, training_face_banks=inputs[3])
        assert summary["global_step"] == max_steps
        assert caplog.text.count(f"validation at step {max_steps}:") == 1
        finals[max_steps] = summary["final_validation"]
    assert finals[6].keys() == finals[7].keys()
    assert {"val/loss", "val/ssim_a", "val/ssim_b", "val/saturated_share_b"} <= finals[6].keys()
    assert all(0 < finals[steps]["val/ssim_a"] < 1 for steps in finals)


def test_the_progress_log_names_the_people_only_where_there_are_two():
    progress = ProgressLogCallback()
    both = SimpleNamespace(callback_metrics={"val/ssim_a": torch.tensor(0.5), "val/ssim_b": 0.25})
    assert progress._per_person(both, "val/ssim") == "A 0.5000, B 0.2500"
    # The pretraining's one autoencoder: its figure, not "A 0.5000, B -".
    one = SimpleNamespace(callback_metrics={"val/ssim_a": torch.tensor(0.5)})
    assert progress._per_person(one, "val/ssim") == "0.5000"
    assert progress._per_person(SimpleNamespace(callback_metrics={}), "val/ssim") == "A -, B -"


def test_a_rerun_resumes_from_the_last_checkpoint_of_an_interrupted_run(
    clip_faces, tmp_path, caplog
):
    params = _params(tmp_path, max_steps=7)
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    # The first run dies after step 3; its checkpoint every 2 steps holds step 2.
    first = _module(**{k: params[k] for k in ("optimizer", "loss", "augmentation")})
    checkpoints = ModelCheckpoint(
        tmp_path / "checkpoints", every_n_train_steps=2, save_top_k=0, save_last=True
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        _trainer(
            max_steps=7,
            callbacks=[checkpoints, _CrashAtStep(3)],
            enable_checkpointing=True,
            limit_val_batches=0,
        ).fit(first, datamodule=_datamodule(clip_faces))
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 2

    _, _, summary = train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    assert summary["resumed_at_step"] == 2 and summary["global_step"] == 7
    # The weights learnt before the crash were the starting point: step 2's weights differ from a
    # fresh model's.
    fresh = _module().model.state_dict()
    assert any(
        not torch.equal(saved["state_dict"][f"model.{name}"], value)
        for name, value in fresh.items()
    )

    # A run at its max_steps again trains nothing and says how to go on.
    with caplog.at_level("INFO", logger="faceswap_pipeline.model.trainer"):
        _, _, summary = train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    assert summary["resumed_at_step"] == 7 and summary["global_step"] == 7
    assert (
        "the checkpoint is at step 7 and training.max_steps is 7: nothing left to train; to "
        "train on, raise it (e.g. --params training.max_steps=14)"
    ) in caplog.text

    # resume: false starts over and keeps the old checkpoint aside.
    _, _, summary = train_swap_model(
        faces_a, faces_b, faces, {**params, "resume": False}, training_face_banks=banks
    )
    assert summary["resumed_from"] is None and summary["global_step"] == 7
    assert (tmp_path / "checkpoints" / "previous.ckpt").exists()


def test_a_run_that_starts_over_sets_the_old_checkpoint_aside_only_when_its_fit_starts(
    clip_faces, tmp_path
):
    """A `resume: false` run that fails before its first step (here a base model of another width)
    leaves `last.ckpt` where the next run resumes from it."""
    from faceswap_pipeline.model import BaseModel, BaseModelMismatchError, save_base_model
    from faceswap_pipeline.pipelines.training.params import parse_training_params

    params = _params(tmp_path, max_steps=2)
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    checkpoints = tmp_path / "checkpoints"
    trained = (checkpoints / "last.ckpt").read_bytes()
    starting_over = parse_training_params({**params, "resume": False})
    resume = find_resume(starting_over, starting_over.swap_model_config())
    assert (resume.checkpoint, resume.step) == (None, 0)
    assert (checkpoints / "last.ckpt").read_bytes() == trained  # not moved yet

    config = starting_over.swap_model_config()
    save_base_model(BaseModel(replace(config, width=2 * config.width)), tmp_path / "base")
    with pytest.raises(BaseModelMismatchError, match="was pretrained for another model: width"):
        train_swap_model(
            faces_a,
            faces_b,
            faces,
            {**params, "resume": False, "init_from": str(tmp_path / "base")},
            training_face_banks=banks,
        )
    assert (checkpoints / "last.ckpt").read_bytes() == trained
    assert not (checkpoints / "previous.ckpt").exists()
    # Its fit started: now the old one is kept aside.
    _, _, summary = train_swap_model(
        faces_a, faces_b, faces, {**params, "resume": False}, training_face_banks=banks
    )
    assert summary["resumed_from"] is None and summary["global_step"] == 2
    assert (checkpoints / "previous.ckpt").read_bytes() == trained


def test_a_checkpoint_from_before_the_settings_types_still_loads_and_resumes(clip_faces, tmp_path):
    # Until issue 14 the module saved its call's own arguments: partial dicts, or None.
    checkpoints = tmp_path / "checkpoints"
    trainer = _trainer(max_steps=2, limit_val_batches=0)
    trainer.fit(_module(optimizer={"lr": 1e-3}), datamodule=_datamodule(clip_faces))
    trainer.save_checkpoint(checkpoints / "last.ckpt")
    saved = torch.load(checkpoints / "last.ckpt", weights_only=True)
    saved["hyper_parameters"] = {
        "model": dict(saved["hyper_parameters"]["model"]),
        "optimizer": {"lr": 1e-3},
        "loss": None,
        "augmentation": None,
        "compile": False,
    }
    torch.save(saved, checkpoints / "last.ckpt")

    loaded = SwapLightningModule.load_from_checkpoint(checkpoints / "last.ckpt", weights_only=True)
    assert loaded.optimizer_settings.lr == 1e-3 and loaded.loss_settings.eye_mouth_weight == 3.0
    assert all(
        torch.equal(saved["state_dict"][f"model.{name}"], value)
        for name, value in loaded.model.state_dict().items()
    )
    params = _params(tmp_path, max_steps=4)
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    _, _, summary = train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    assert (summary["resumed_at_step"], summary["global_step"]) == (2, 4)


def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(clip_faces, tmp_path):
    # Adam's step is about lr whatever the gradient: 1e12 overflows the activations after one step.
    params = _params(tmp_path, checkpoint_every_n_steps=1, optimizer={"name": "adam", "lr": 1e12})
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    with pytest.raises(
        NonFiniteLossError, match=r"loss became nan at step \d.*last good checkpoint is kept at"
    ):
        train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(tensor).all() for tensor in saved["state_dict"].values())


def test_a_checkpoint_of_another_architecture_is_a_clear_error(clip_faces, tmp_path):
    params = _params(tmp_path, max_steps=2)
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    with pytest.raises(
        CheckpointMismatchError,
        match=r"another model: width 0.1 \(parameters say 0.2\).*training.resume: false",
    ):
        train_swap_model(faces_a, faces_b, faces, {**params, "width": 0.2})


def test_the_code_adversary_teaches_its_discriminator_and_the_encoder_the_opposite():
    torch.manual_seed(0)
    module = _module(loss={"code_identity_weight": 0.5})
    codes_a = torch.randn(6, module.model.code_channels, 8, 8) + 0.5
    codes_b = torch.randn(6, module.model.code_channels, 8, 8) - 0.5
    codes_a.requires_grad_(True)
    codes_b.requires_grad_(True)
    logged = {}
    module.log = lambda name, value, **_: logged.setdefault(name, float(value))

    module._code_identity_loss(codes_a, codes_b).backward()

    assert 0.0 <= logged["train/code_identity_accuracy"] <= 1.0
    discriminator = module.code_discriminator
    assert all(weight.grad is not None for weight in discriminator.parameters())
    # The codes' gradient is the confusion term's alone, weighted: towards "either person, 0.5".
    codes = torch.cat([codes_a, codes_b]).detach().requires_grad_(True)
    confusion = torch.nn.functional.binary_cross_entropy_with_logits(
        discriminator(codes), torch.full((12,), 0.5)
    )
    (expected,) = torch.autograd.grad(0.5 * confusion, codes)
    assert torch.allclose(torch.cat([codes_a.grad, codes_b.grad]), expected, atol=1e-7)
    with torch.no_grad():
        before = discriminator(codes).abs().mean()
        after = discriminator(codes - 50.0 * expected).abs().mean()
    assert after < before  # a step of the encoder leaves the discriminator less sure


def test_the_face_adversary_teaches_its_discriminators_and_the_decoders_the_opposite():
    torch.manual_seed(0)
    module = _module(loss={"face_adversary_weight": 0.5})
    # Real faces with edges, drawn ones a blur of them: what a young decoder draws.
    real = torch.rand(4, 3, 64, 64)
    blurred = F.avg_pool2d(real, 9, stride=1, padding=4).requires_grad_(True)
    logged = {}
    module.log = lambda name, value, **_: logged.setdefault(name, float(value))

    module._face_adversary_loss({"b": (blurred, real)}).backward()

    assert 0.0 <= logged["train/face_adversary_accuracy_b"] <= 1.0
    discriminator = module.face_discriminators["b"]
    assert all(weight.grad is not None for weight in discriminator.parameters())
    # Only the drawn faces' person's discriminator learnt; A's saw no faces.
    assert all(weight.grad is None for weight in module.face_discriminators["a"].parameters())
    # The drawn faces' gradient is the fooling term's alone, weighted: towards "real" everywhere.
    drawn = blurred.detach().requires_grad_(True)
    logits = discriminator(drawn)
    fooling = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    (expected,) = torch.autograd.grad(0.5 * fooling, drawn)
    assert torch.allclose(blurred.grad, expected, atol=1e-7)
    with torch.no_grad():
        before = discriminator(drawn).mean()
        after = discriminator(drawn - 1e3 * expected).mean()
    assert after > before  # a step of the decoder makes the discriminator call them more real


def test_the_swap_adversary_judges_the_swaps_by_the_target_s_discriminator():
    torch.manual_seed(0)
    module = _module(loss={"face_adversary_weight": 0.1, "swap_adversary_weight": 0.5})
    codes = {person: module.model.encoder(torch.rand(2, 3, 64, 64)) for person in ("a", "b")}
    swaps = module._swaps(codes)
    # A's codes drawn by B's decoder are B's swaps, as a conversion A→B makes them.
    assert torch.equal(swaps["b"], module.model.decoders["b"](codes["a"]))
    assert swaps["a"].shape == (2, 3, 64, 64)
    real = torch.rand(2, 3, 64, 64)
    reconstruction = F.avg_pool2d(real, 9, stride=1, padding=4)
    swapped = F.avg_pool2d(torch.rand(2, 3, 64, 64), 9, stride=1, padding=4).requires_grad_(True)
    module.log = lambda *_, **__: None

    module._face_adversary_loss({"b": (reconstruction, real)}, {"b": swapped}).backward()

    # The swaps' gradient is their own fooling term, weighted by swap_adversary_weight.
    discriminator = module.face_discriminators["b"]
    drawn = swapped.detach().requires_grad_(True)
    logits = discriminator(drawn)
    fooling = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    (expected,) = torch.autograd.grad(0.5 * fooling, drawn)
    assert torch.allclose(swapped.grad, expected, atol=1e-7)
    # And the discriminator learnt from them as fakes: its gradient differs from without them.
    with_swaps = [weight.grad.clone() for weight in discriminator.parameters()]
    discriminator.zero_grad()
    module._face_adversary_loss({"b": (reconstruction, real)}).backward()
    assert not torch.allclose(with_swaps[0], next(discriminator.parameters()).grad)


def test_the_swap_adversary_needs_the_face_adversary():
    with pytest.raises(ValueError, match=r"swap_adversary_weight needs.*face_adversary_weight"):
        LossSettings(swap_adversary_weight=0.1)


def test_a_checkpoint_says_which_adversaries_it_trained_and_a_mismatch_is_refused(
    clip_faces, tmp_path
):
    params = _params(tmp_path, max_steps=2)
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    adversary = {**params, "loss": {**params["loss"], "code_identity_weight": 0.1}}
    # Its weights and optimizer state would not fit the other: refused, saying what to do.
    with pytest.raises(
        CheckpointMismatchError,
        match=r"trained without the code adversary.*code_identity_weight is above 0.*"
        r"training.resume: false",
    ):
        train_swap_model(faces_a, faces_b, faces, adversary, training_face_banks=banks)

    model, _, summary = train_swap_model(
        faces_a, faces_b, faces, {**adversary, "resume": False}, training_face_banks=banks
    )
    assert summary["global_step"] == 2
    saved = read_checkpoint_info(tmp_path / "checkpoints" / "last.ckpt")
    assert saved.adversaries == ("code",)
    # The swap model a conversion loads is the same network either way: no discriminator in it.
    assert not any("discriminator" in key for key in model.state_dict())
    with pytest.raises(CheckpointMismatchError, match="trained with the code adversary"):
        train_swap_model(faces_a, faces_b, faces, params, training_face_banks=banks)
    both = {**adversary, "loss": {**adversary["loss"], "face_adversary_weight": 0.1}}
    with pytest.raises(
        CheckpointMismatchError,
        match=r"trained without the face adversary.*face_adversary_weight is above 0",
    ):
        train_swap_model(faces_a, faces_b, faces, both, training_face_banks=banks)
    model, _, _ = train_swap_model(
        faces_a, faces_b, faces, {**both, "resume": False}, training_face_banks=banks
    )
    assert read_checkpoint_info(tmp_path / "checkpoints" / "last.ckpt").adversaries == (
        "code",
        "face",
    )
    assert not any("discriminator" in key for key in model.state_dict())


def test_a_pickled_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    crafted = tmp_path / "last.ckpt"
    crafted.write_bytes(pickle.dumps({"state_dict": {}, "hyper_parameters": {"model": Payload()}}))
    with pytest.raises(CheckpointMismatchError, match="cannot be read safely"):
        read_checkpoint_info(crafted)
    assert not marker.exists()


def test_a_damaged_or_stale_face_bank_is_a_clear_error(clip_faces, tmp_path):
    params = _params(tmp_path)
    faces_a, faces_b, faces, banks = _training_inputs(clip_faces, params, tmp_path / "banks")
    # A bank made from other faces than training_faces lists (e.g. a run of one node alone).
    with pytest.raises(ValueError, match=r"face bank of person_a holds \d+ faces that are not the"):
        train_swap_model(
            faces_a,
            faces_b,
            faces[faces["face_id"] != faces["face_id"].iloc[0]],
            params,
            training_face_banks=banks,
        )
    (tmp_path / "banks" / "person_a.npy").write_bytes(b"not an array")
    with pytest.raises(DatasetError, match=r"person_a.npy cannot be read .*delete .* and re-run"):
        FaceBankFolderDataset(str(tmp_path / "banks")).load()


class _LearningRateRecorder(L.Callback):
    """The learning rate each optimizer step ran at."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_the_cosine_schedule_warms_up_decays_to_its_floor_and_holds_it():
    settings = OptimizerSettings(
        lr=1e-3, schedule="cosine", warmup_steps=4, decay_steps=104, final_lr_fraction=0.1
    )
    factors = [settings.learning_rate_factor(step) for step in range(200)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[54] == pytest.approx(0.55)  # half way down: (1 + 0.1) / 2
    assert all(later <= earlier for earlier, later in zip(factors[4:], factors[5:], strict=False))
    assert factors[104] == factors[199] == pytest.approx(0.1)
    assert OptimizerSettings(lr=1e-3).learning_rate_factor(10**6) == 1.0


def test_a_cosine_schedule_without_its_horizon_is_refused_naming_decay_steps():
    with pytest.raises(ValueError, match="decay_steps"):
        OptimizerSettings(schedule="cosine")
    with pytest.raises(ValueError, match=r"decay_steps \(4\) must be more than warmup_steps"):
        OptimizerSettings(schedule="cosine", warmup_steps=4, decay_steps=4)


def test_a_resumed_run_trains_at_this_runs_learning_rate_not_the_checkpoints(clip_faces, tmp_path):
    # A checkpoint holds the optimizer's state, its learning rate too: restored as it is, a rate or
    # schedule changed between runs would be silently ignored.
    trainer = _trainer(max_steps=2, limit_val_batches=0)
    trainer.fit(_module(optimizer={"lr": 1e-3}), datamodule=_datamodule(clip_faces))
    trainer.save_checkpoint(tmp_path / "last.ckpt")

    settings = {"lr": 1e-4, "schedule": "cosine", "decay_steps": 4, "final_lr_fraction": 0.5}
    recorder = _LearningRateRecorder()
    _trainer(max_steps=6, limit_val_batches=0, callbacks=[recorder]).fit(
        _module(optimizer=settings),
        datamodule=_datamodule(clip_faces),
        ckpt_path=tmp_path / "last.ckpt",
    )
    expected = [1e-4 * OptimizerSettings(**settings).learning_rate_factor(s) for s in range(2, 6)]
    assert recorder.rates == pytest.approx(expected)
    assert expected[0] > expected[1] > expected[2] == expected[3] == pytest.approx(5e-5)


def test_a_run_warps_its_faces_from_warp_from_step_and_says_so(clip_faces, monkeypatch, caplog):
    from faceswap_pipeline.model import lightning_module

    warps, augment_faces = [], lightning_module.augment_faces

    def recording(faces, input_size, coverage, config, *args, **kwargs):
        warps.append(config.warp)
        return augment_faces(faces, input_size, coverage, config, *args, **kwargs)

    monkeypatch.setattr(lightning_module, "augment_faces", recording)
    module = _module(augmentation={"warp": 1.0, "warp_from_step": 2})
    with caplog.at_level("INFO", logger=lightning_module.__name__):
        _trainer(max_steps=4, limit_val_batches=0).fit(module, datamodule=_datamodule(clip_faces))
    # Each step augments both people's faces: two calls a step.
    assert warps == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert "step 2: the random warp is on from here" in caplog.text


class _GradientNorms(L.Callback):
    """Each step's total gradient norm as computed, and as the optimizer steps with it."""

    def __init__(self) -> None:
        self.computed: list[float] = []
        self.stepped: list[float] = []

    @staticmethod
    def _norm(module) -> float:
        grads = [weight.grad for weight in module.parameters() if weight.grad is not None]
        return float(torch.nn.utils.get_total_norm(grads))

    def on_train_start(self, trainer, pl_module) -> None:
        # After the step: Lightning runs the closure (forward, backward, clipping) inside `step`.
        trainer.optimizers[0].register_step_post_hook(
            lambda *_: self.stepped.append(self._norm(pl_module))
        )

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.computed.append(self._norm(pl_module))


def test_clip_grad_norm_bounds_every_step_of_the_trainer_a_run_builds(clip_faces, tmp_path):
    settings = TrainingSettings(
        max_steps=3, optimizer={"lr": 1e-3, "clip_grad_norm": 0.01}, progress_bar=False
    )
    norms = _GradientNorms()
    trainer = build_trainer(settings, tmp_path, [norms], None, False, "auto")
    trainer.fit(_module(optimizer=settings.optimizer), datamodule=_datamodule(clip_faces))
    assert len(norms.stepped) == 3 and min(norms.computed) > 0.01
    assert norms.stepped == pytest.approx([0.01] * 3, rel=1e-3)


def test_a_collapsed_run_stops_with_a_clear_error_and_a_fresh_one_trains_on(clip_faces, tmp_path):
    def run(module, folder):
        settings = TrainingSettings(
            max_steps=4,
            val_every_n_steps=2,
            checkpoint_every_n_steps=2,
            preview_every_n_steps=0,
            checkpoint_dir=str(tmp_path / folder),
        )
        return run_training(
            module,
            _datamodule(clip_faces, count=16),
            settings,
            find_resume(settings, module.model.config),
            has_validation=True,
        )

    fresh = run(_module(), "fresh")
    assert fresh.trainer.global_step == 4 and fresh.final_validation["val/saturated_share_a"] == 0.0

    # As a run at too high a learning rate ends: every face one saturated colour (yellow). Its
    # sigmoid gets no gradient there, so it stays so whatever the optimizer does.
    collapsed = _module()
    with torch.no_grad():
        for decoder in collapsed.model.decoders.values():
            decoder.to_rgb.weight.zero_()
            decoder.to_rgb.bias.copy_(torch.tensor([30.0, 30.0, -30.0]))
    with pytest.raises(
        TrainingCollapsedError,
        match=r"at step 2 the model draws one flat colour for 100% of the validation faces.*"
        r"no model was written; no checkpoint was saved before the collapse, so a re-run starts"
        r" over.*training.optimizer.clip_grad_norm.*kept aside as .*collapsed.ckpt",
    ):
        run(collapsed, "collapsed")
    # The only checkpoint is the collapsed one: kept aside, never resumed from.
    assert sorted(p.name for p in (tmp_path / "collapsed").glob("*.ckpt")) == ["collapsed.ckpt"]


class _CollapseAfter(L.Callback):
    """Saturates every decoder's output (the average's too) after step `step`, as a run at too high
    a learning rate ends."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        models = [pl_module.model]
        if pl_module.average is not None:
            models.append(pl_module.average.module)
        with torch.no_grad():
            for model in models:
                for decoder in model.decoders.values():
                    decoder.to_rgb.weight.zero_()
                    decoder.to_rgb.bias.copy_(torch.tensor([30.0, 30.0, -30.0]))


def test_a_collapse_puts_the_checkpoint_back_to_before_it_and_a_rerun_goes_on_from_there(
    clip_faces, tmp_path
):
    folder = tmp_path / "checkpoints"
    settings = TrainingSettings(
        max_steps=6,
        val_every_n_steps=2,
        checkpoint_every_n_steps=2,
        preview_every_n_steps=0,
        checkpoint_dir=str(folder),
    )
    datamodule = _datamodule(clip_faces, count=16)
    module = _module(optimizer=settings.optimizer)
    # Sound at step 2 (checkpoint, then validation); collapsed from step 3; the checkpoint of step
    # 4 holds the collapse, and the validation after it finds it.
    with pytest.raises(
        TrainingCollapsedError,
        match=r"at step 4 .*; .*last.ckpt is the checkpoint of the last validation before the"
        r" collapse: re-run with a lower training.optimizer.lr.*training.resume=false",
    ):
        run_training(
            module,
            datamodule,
            settings,
            find_resume(settings, module.model.config),
            has_validation=True,
            extra_callbacks=[_CollapseAfter(3)],
        )
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["collapsed.ckpt", "last.ckpt"]
    assert read_checkpoint_info(folder / "last.ckpt").step == 2
    assert read_checkpoint_info(folder / "collapsed.ckpt").step == 4

    again = _module(optimizer=settings.optimizer)
    resume = find_resume(settings, again.model.config)
    assert (resume.checkpoint, resume.step) == (folder / "last.ckpt", 2)
    done = run_training(again, datamodule, settings, resume, has_validation=True)
    assert done.trainer.global_step == 6 and done.final_validation["val/saturated_share_a"] == 0.0
    # Ended sound: only its own last checkpoint (and the collapse, kept aside) remain.
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["collapsed.ckpt", "last.ckpt"]


def test_frozen_parts_get_no_gradient_and_keep_their_weights_while_the_rest_trains(clip_faces):
    module = _module(optimizer={"lr": 1e-3}, frozen=["convolutions", "decoder_input"])
    before = {name: weight.detach().clone() for name, weight in module.model.named_parameters()}
    _trainer(max_steps=3, limit_val_batches=0).fit(module, datamodule=_datamodule(clip_faces))
    changed = {
        module.model.part_of(name): not torch.equal(before[name], weight.detach())
        for name, weight in module.model.named_parameters()
        if name.endswith("weight")
    }
    assert changed == {
        "convolutions": False,
        "bottleneck": True,
        "decoder_input": False,
        "decoder_output": True,
    }
    assert all(
        weight.grad is None
        for name, weight in module.model.named_parameters()
        if module.model.part_of(name) in ("convolutions", "decoder_input")
    )
    # A checkpoint's hyperparameters give the frozen parts back, as a resumed run needs them.
    assert SwapLightningModule(**module.hparams).frozen_parts == ("convolutions", "decoder_input")


class _TrainedWeights(L.Callback):
    """The trained weights after each optimizer step, and the weights each validation judged."""

    def __init__(self) -> None:
        self.trained: list[dict[str, Tensor]] = []
        self.judged: dict[int, dict[str, Tensor]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.trained.append(_weights(pl_module.model))

    def on_validation_end(self, trainer, pl_module) -> None:
        self.judged[trainer.global_step] = _weights(pl_module.network)


def _weights(network: torch.nn.Module) -> dict[str, Tensor]:
    return {name: weight.detach().clone() for name, weight in network.state_dict().items()}


def _average_by_hand(steps: list[dict[str, Tensor]], decay: float) -> dict[str, Tensor]:
    # The first update copies; the n-th after it keeps min(decay, (1 + n) / (10 + n)).
    average = dict(steps[0])
    for count, weights in enumerate(steps[1:], start=1):
        kept = min(decay, (1 + count) / (10 + count))
        average = {name: kept * average[name] + (1 - kept) * weights[name] for name in weights}
    return average


def _close(first: dict[str, Tensor], second: dict[str, Tensor]) -> bool:
    return all(torch.allclose(first[name], second[name], atol=1e-6) for name in first)


def test_the_moving_average_of_the_weights_is_what_validation_and_the_exported_model_use(
    clip_faces, tmp_path
):
    module = _module(optimizer={"lr": 1e-3, "average_decay": 0.5})
    weights = _TrainedWeights()
    trainer = _trainer(max_steps=4, val_check_interval=2, callbacks=[weights])
    trainer.fit(module, datamodule=_datamodule(clip_faces, count=16))

    # Each validation judged the average of the steps so far, not the step's trained weights...
    assert _close(weights.judged[2], _average_by_hand(weights.trained[:2], 0.5))
    assert not _close(weights.judged[2], weights.trained[1])
    # ... and training went on from its own weights, swapped back after it.
    assert _close(_weights(module.model), weights.trained[3])
    exported = _weights(module.export_model())
    assert _close(exported, _average_by_hand(weights.trained, 0.5))
    assert not _close(exported, weights.trained[3])
    # The average is no weight of the optimizer's.
    optimized = {
        id(weight) for group in trainer.optimizers[0].param_groups for weight in group["params"]
    }
    assert optimized == {id(weight) for weight in module.model.parameters()}

    # A checkpoint holds both; resumed, the average goes on from where it was.
    trainer.save_checkpoint(tmp_path / "averaged.ckpt")
    resumed = _module(optimizer={"lr": 1e-3, "average_decay": 0.5})
    more = _TrainedWeights()
    _trainer(max_steps=5, limit_val_batches=0, callbacks=[more]).fit(
        resumed, datamodule=_datamodule(clip_faces, count=16), ckpt_path=tmp_path / "averaged.ckpt"
    )
    expected = _average_by_hand(weights.trained + more.trained, 0.5)
    assert _close(_weights(resumed.network), expected)

    # Without an average now, the run resumes from the trained weights (the average is dropped).
    plain = _module(optimizer={"lr": 1e-3})
    _trainer(max_steps=4, limit_val_batches=0).fit(
        plain, datamodule=_datamodule(clip_faces, count=16), ckpt_path=tmp_path / "averaged.ckpt"
    )
    assert _close(_weights(plain.network), weights.trained[3])

    # A checkpoint saved without one starts the average at its trained weights.
    trainer = _trainer(max_steps=1, limit_val_batches=0)
    trainer.fit(_module(optimizer={"lr": 1e-3}), datamodule=_datamodule(clip_faces, count=16))
    trainer.save_checkpoint(tmp_path / "plain.ckpt")
    started = torch.load(tmp_path / "plain.ckpt", weights_only=True)["state_dict"]
    late = _module(optimizer={"lr": 1e-3, "average_decay": 0.5})
    late_weights = _TrainedWeights()
    _trainer(max_steps=2, limit_val_batches=0, callbacks=[late_weights]).fit(
        late, datamodule=_datamodule(clip_faces, count=16), ckpt_path=tmp_path / "plain.ckpt"
    )
    start = {name.removeprefix("model."): value for name, value in started.items()}
    kept = min(0.5, 2 / 11)  # one update counted before: the checkpoint's step
    assert _close(
        _weights(late.network),
        {name: kept * start[name] + (1 - kept) * late_weights.trained[0][name] for name in start},
    )
