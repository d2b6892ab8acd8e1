"""One training run of a `SwapLightningModule`, shared by a pair's training and the face prior's
pretraining: the checkpoint to resume, the callbacks and the Lightning `Trainer`, the fit with its
last checkpoint, the final validation and what the run did (its summary).

Step metrics and preview grids go to the Lightning logger given (an `MLFlowLogger` in the
pipelines); nothing here knows Kedro or where that logger writes.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from faceswap_pipeline.model.callbacks import (
    CollapseStopCallback,
    ImagesPerSecondCallback,
    LastValidationCallback,
    PreviewGridCallback,
    ProgressLogCallback,
    TimeBudgetCallback,
)
from faceswap_pipeline.model.checkpoint_io import (
    LAST_CHECKPOINT,
    AtomicCheckpointIO,
    forget_last_sound_checkpoint,
    resume_checkpoint,
    set_aside_last_checkpoint,
)
from faceswap_pipeline.model.data import FaceSwapDataModule
from faceswap_pipeline.model.lightning_module import NonFiniteLossError, SwapLightningModule
from faceswap_pipeline.model.networks import ModelConfig
from faceswap_pipeline.model.settings import TrainerSettings, TrainingSettings

logger = logging.getLogger(__name__)


def resolve_precision(requested: str) -> str:
    """The Trainer's precision: `requested`, or for "auto" bf16-mixed on a CUDA GPU that has it,
    else 32-true."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def accelerator_problem(trainer: TrainerSettings, name: str = "training.trainer") -> str | None:
    """Why this machine cannot run `trainer`'s accelerator and devices (None when it can), for the
    parameter block `name`: Lightning would say so only when the Trainer is built, after the faces
    were selected and loaded."""
    from lightning.pytorch.accelerators import AcceleratorRegistry, CUDAAccelerator, MPSAccelerator

    accelerator = trainer.accelerator.lower()
    if accelerator == "gpu":  # Lightning's name for CUDA, or MPS on a Mac
        kind = CUDAAccelerator if CUDAAccelerator.is_available() else MPSAccelerator
    elif accelerator in AcceleratorRegistry and accelerator != "cpu":
        kind = AcceleratorRegistry[accelerator]["accelerator"]
    else:  # auto (whatever there is), cpu, or a name Lightning itself refuses
        return None
    if not kind.is_available():
        return (
            f"{name}.accelerator: {accelerator}, but this machine has no {accelerator} device"
            f" (torch {torch.__version__}, CUDA {torch.version.cuda or 'not built in'}); run on a"
            f" machine with one, or set {name}.accelerator=auto to train on what this one has"
        )
    available = kind.auto_device_count()
    if isinstance(trainer.devices, int) and trainer.devices > available:
        return (
            f"{name}.devices: {trainer.devices}, but this machine has {available} {accelerator}"
            f" device(s); set {name}.devices={available} or auto"
        )
    return None


@dataclass(frozen=True)
class Resume:
    """Where a run's checkpoints go and the one it continues from.

    Attributes:
        checkpoint_dir: the folder of `last.ckpt` (created).
        checkpoint: `last.ckpt` when the run resumes from it, else None.
        step: the optimizer step it was saved at (0 when starting over).
    """

    checkpoint_dir: Path
    checkpoint: Path | None
    step: int


def find_resume(
    settings: TrainingSettings, config: ModelConfig, parameters: str = "training"
) -> Resume:
    """The checkpoint folder of `settings` and the checkpoint a run of `config` resumes from.
    `parameters` is where `settings` come from (`training`, `pretraining.training`): a refusal
    names its keys.

    Raises:
        CheckpointMismatchError: `last.ckpt` is of another model configuration or unreadable.
    """
    checkpoint_dir = Path(settings.checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint, step = resume_checkpoint(
        checkpoint_dir, settings.resume, config, settings.loss.adversaries, parameters
    )
    if checkpoint is not None and step >= settings.max_steps:
        # A re-run of a finished run trains nothing: say how to go on, not only Lightning's
        # "`Trainer.fit` stopped: `max_steps` reached".
        logger.info(
            "the checkpoint is at step %d and %s.max_steps is %d: nothing left to train; to train "
            "on, raise it (e.g. --params %s.max_steps=%d)",
            step,
            parameters,
            settings.max_steps,
            parameters,
            2 * step,
        )
    return Resume(checkpoint_dir, checkpoint, step)


@dataclass
class TrainingRun:
    """A fitted run: its Trainer, the callbacks the summary reads, the final validation.

    Attributes:
        trainer: the Lightning `Trainer` after `fit` (its `global_step`, `precision`).
        resume: where it checkpointed and what it resumed from.
        preview: the preview-grid callback (`latest_grid`, RGB uint8).
        speed: the images/s callback (`latest`).
        budget: the time-budget callback, None without `max_minutes`.
        final_validation: `{metric name: value}` of the validation at the run's last step: the
            fit's own where it validated there, else one after it (`{}` without held-out faces).
    """

    trainer: L.Trainer
    resume: Resume
    preview: PreviewGridCallback
    speed: ImagesPerSecondCallback
    budget: TimeBudgetCallback | None
    final_validation: dict[str, float]

    def stop_reason(self, max_steps: int) -> str:
        """ "max_minutes", "max_steps" or "stopped" (another callback, e.g. a convincing
        verdict)."""
        if self.budget is not None and self.budget.stopped_early:
            return "max_minutes"
        return "max_steps" if self.trainer.global_step >= max_steps else "stopped"

    def summary(self, module: SwapLightningModule) -> dict[str, Any]:
        """What every run reports: resume point, images/s, model, precision, checkpoint."""
        return {
            "resumed_from": str(self.resume.checkpoint) if self.resume.checkpoint else None,
            "resumed_at_step": self.resume.step,
            "images_per_s": self.speed.latest,
            "model": module.model_config.to_dict(),
            "precision": str(self.trainer.precision),
            "checkpoint": str(self.resume.checkpoint_dir / LAST_CHECKPOINT),
        }

    def preview_grid(self, module: SwapLightningModule) -> np.ndarray:
        """The last preview grid, rendered now when the run made none (RGB uint8)."""
        if self.preview.latest_grid is None:
            self.preview.render(self.trainer, module)
        return self.preview.latest_grid


def build_trainer(
    settings: TrainingSettings,
    checkpoint_dir: Path,
    callbacks: list[L.Callback],
    mlflow_logger: Any | None,
    has_validation: bool,
    strategy: Any,
) -> L.Trainer:
    """The Lightning `Trainer` of a run: budget, cadences, hardware, atomic checkpoints.

    Args:
        settings: the run's settings (`max_steps`, cadences, `trainer.*`, `progress_bar`).
        checkpoint_dir: Lightning's root folder (the checkpoints are the callbacks').
        callbacks: every callback, the checkpointing one included.
        mlflow_logger: a Lightning logger for step metrics and previews; None: none.
        has_validation: whether there are held-out faces to validate on.
        strategy: for `L.Trainer(strategy=...)` (`model.ddp.training_strategy`'s, or a name).
    """
    hardware = settings.trainer
    return L.Trainer(
        accelerator=hardware.accelerator,
        devices=hardware.devices,
        strategy=strategy,
        num_nodes=hardware.num_nodes,
        # Each rank's share of every global batch is drawn by the data module (model.sharding).
        use_distributed_sampler=False,
        precision=resolve_precision(hardware.precision),
        max_steps=settings.max_steps,
        max_epochs=-1,
        gradient_clip_val=settings.optimizer.clip_grad_norm,
        gradient_clip_algorithm="norm",
        val_check_interval=settings.val_every_n_steps if has_validation else None,
        check_val_every_n_epoch=None,
        limit_val_batches=None if has_validation else 0,
        num_sanity_val_steps=0,
        log_every_n_steps=settings.log_every_n_steps,
        logger=mlflow_logger if mlflow_logger is not None else False,
        callbacks=callbacks,
        enable_progress_bar=settings.progress_bar,
        enable_model_summary=False,
        default_root_dir=checkpoint_dir,
        # Saved beside last.ckpt and renamed: a kill mid-save keeps the previous checkpoint whole.
        plugins=[AtomicCheckpointIO()],
    )


def _fit(
    trainer: L.Trainer,
    module: SwapLightningModule,
    datamodule: FaceSwapDataModule,
    resume: Resume,
) -> None:
    """`trainer.fit` from the resume point, then `last.ckpt` of the very last step.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite; says whether a good checkpoint is kept.
    """
    # Batches are drawn at random with no notion of position in an epoch, so resuming mid-epoch
    # loses nothing; Lightning's warning about non-resumable data loaders does not apply.
    warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")
    last = resume.checkpoint_dir / LAST_CHECKPOINT
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume.checkpoint, weights_only=True)
    except NonFiniteLossError as error:
        kept = (
            f"the last good checkpoint is kept at {last}"
            if last.exists()
            else "no checkpoint had been saved yet"
        )
        raise NonFiniteLossError(f"{error} {kept}.") from error
    # The last steps since the periodic checkpoint are saved too: a re-run continues from here.
    trainer.save_checkpoint(last, weights_only=False)


def run_training(
    module: SwapLightningModule,
    datamodule: FaceSwapDataModule,
    settings: TrainingSettings,
    resume: Resume,
    *,
    mlflow_logger: Any | None = None,
    extra_callbacks: list[L.Callback] = (),
    has_validation: bool,
    strategy: Any = "auto",
) -> TrainingRun:
    """Train `module` on `datamodule` until `max_steps` or `max_minutes`, checkpointing as it goes.

    Args:
        module: the LightningModule (fresh, or with weights to start from).
        datamodule: the faces it draws its batches from.
        settings: budget, cadences, hardware.
        resume: from `find_resume` (call it before applying starting weights).
        mlflow_logger: a Lightning logger for step metrics and preview grids; None: none.
        extra_callbacks: callbacks beside the preview, speed, progress, checkpoint and time budget.
        has_validation: whether `datamodule` holds held-out faces.
        strategy: for `L.Trainer(strategy=...)`.

    Returns:
        The fitted run (its final validation done).

    Raises:
        NonFiniteLossError: the loss became NaN or infinite (the last good checkpoint is kept).
        TrainingCollapsedError: a validation found the model drawing one flat colour.
    """
    preview = PreviewGridCallback(
        datamodule.preview_faces(settings.preview_faces), settings.preview_every_n_steps
    )
    speed = ImagesPerSecondCallback(settings.log_every_n_steps)
    last_validation = LastValidationCallback()
    callbacks: list[L.Callback] = [
        preview,
        speed,
        ProgressLogCallback(budget_minutes=settings.max_minutes, speed=speed),
        CollapseStopCallback(resume.checkpoint_dir),
        last_validation,
        ModelCheckpoint(
            dirpath=resume.checkpoint_dir,
            every_n_train_steps=settings.checkpoint_every_n_steps,
            save_top_k=0,
            save_last=True,
            enable_version_counter=False,
        ),
        *extra_callbacks,
    ]
    budget = None
    if settings.max_minutes is not None:
        budget = TimeBudgetCallback(settings.max_minutes * 60.0)
        callbacks.append(budget)
    trainer = build_trainer(
        settings, resume.checkpoint_dir, callbacks, mlflow_logger, has_validation, strategy
    )
    if resume.checkpoint is None:
        # Only now: a run that failed before its fit (a base model refused, a face bank that
        # does not fit) left the old checkpoint where the next run resumes from it. Under DDP the
        # other ranks start inside the fit and find it already moved.
        set_aside_last_checkpoint(resume.checkpoint_dir)
    _fit(trainer, module, datamodule, resume)
    final: dict[str, float] = {}
    if has_validation and last_validation.step == trainer.global_step:
        final = last_validation.metrics  # the fit validated these weights at its last step
    elif has_validation:
        results = trainer.validate(module, datamodule=datamodule, verbose=False)
        final = {key: float(value) for key, value in (results[0] if results else {}).items()}
    forget_last_sound_checkpoint(resume.checkpoint_dir)  # the run ended sound
    return TrainingRun(trainer, resume, preview, speed, budget, final)


def finite(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics that are numbers (a validation of no faces gives NaN)."""
    return {key: value for key, value in metrics.items() if not math.isnan(value)}
