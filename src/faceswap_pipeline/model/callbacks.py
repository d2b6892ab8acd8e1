"""Lightning callbacks of every training run: the preview grid, the images/s metric, the time
budget, the progress log and the stop at a collapse."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor

from faceswap_pipeline.model.augmentation import crop_model_region
from faceswap_pipeline.model.checkpoint_io import (
    COLLAPSED_CHECKPOINT,
    keep_last_checkpoint_as_sound,
    restore_last_sound_checkpoint,
)
from faceswap_pipeline.model.lightning_module import TrainingCollapsedError
from faceswap_pipeline.model.networks import PERSONS, SwapModel

logger = logging.getLogger(__name__)

# A validation where more than this share of a person's faces are one saturated colour
# (`lightning_module.saturated`) means the run has collapsed; a fresh model draws none.
COLLAPSED_SHARE = 0.5

_LABEL_WIDTH = 48


def _to_rgb_uint8(faces: Tensor) -> np.ndarray:
    return (
        (faces.detach().float().clamp(0, 1) * 255)
        .round()
        .to(torch.uint8)
        .permute(0, 2, 3, 1)
        .cpu()
        .numpy()
    )


def render_preview_grid(model: SwapModel, faces: dict[str, Tensor]) -> np.ndarray:
    """faceit's preview: rows A, A→A, A→B, B, B→B, B→A; one column per face, a label on the left.

    Args:
        model: the swap model (left in the train/eval mode it was in).
        faces: `{"a": uint8 (K, C, T, T), "b": ...}` aligned faces at the model's source size (as
            from `FaceSwapDataModule.preview_faces`); the same K for both. With one person only, the
            rows are that person's faces and their reconstructions.

    Returns:
        RGB uint8 `(R·S, 48 + K·S, 3)`, R = 6 (2 with one person), S = the model's input size.
    """
    config = model.config
    device = next(model.parameters()).device
    rows, labels = [], []
    for person, other in (("a", "b"), ("b", "a")):
        if person not in faces:
            continue
        region = crop_model_region(
            faces[person][:, :3].to(device).float() / 255.0, config.input_size, config.coverage
        )
        rows += [region, model.swap(region, person)]
        labels += [person.upper(), f"{person.upper()}→{person.upper()}"]
        if other in faces:  # one person alone (pretraining): faces and reconstructions only
            rows.append(model.swap(region, other))
            labels.append(f"{person.upper()}→{other.upper()}")
    columns = min(row.shape[0] for row in rows)
    size = config.input_size
    grid = np.full((len(rows) * size, _LABEL_WIDTH + columns * size, 3), 255, dtype=np.uint8)
    for index, (label, row) in enumerate(zip(labels, rows, strict=True)):
        images = _to_rgb_uint8(row[:columns])
        top = index * size
        grid[top : top + size, _LABEL_WIDTH:] = np.concatenate(list(images), axis=1)
        # cv2's Hershey font has no arrow glyph: "A>B" in the image, "A→B" in the docs.
        cv2.putText(
            grid,
            label.replace("→", ">"),
            (3, top + size // 2 + 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return grid


class PreviewGridCallback(L.Callback):
    """Renders the preview grid every `every_n_steps` and at the end, logs it to MLflow, keeps the
    last.

    Args:
        faces: the preview faces, as for `render_preview_grid`.
        every_n_steps: how often (optimizer steps); 0 = only at the end of training.
        artifact_dir: the MLflow artifact folder for `step_<step:06d>.png` files.
    """

    def __init__(
        self, faces: dict[str, Tensor], every_n_steps: int, artifact_dir: str = "previews"
    ) -> None:
        self.faces = faces
        self.every_n_steps = every_n_steps
        self.artifact_dir = artifact_dir
        self.latest_grid: np.ndarray | None = None
        self.latest_step = -1

    def render(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Render the grid for the current step (once per step) and log it to every MLflow
        logger."""
        step = trainer.global_step
        if step == self.latest_step:
            return
        self.latest_grid = render_preview_grid(pl_module.network, self.faces)
        self.latest_step = step
        if trainer.global_rank != 0:
            return
        for trainer_logger in trainer.loggers:
            if isinstance(trainer_logger, MLFlowLogger):
                trainer_logger.experiment.log_image(
                    trainer_logger.run_id,
                    self.latest_grid,
                    artifact_file=f"{self.artifact_dir}/step_{step:06d}.png",
                )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self.render(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self.render(trainer, pl_module)


class ImagesPerSecondCallback(L.Callback):
    """Logs `train/images_per_s`: faces of both people per second of wall time, data loading
    included, over all DDP ranks.

    Args:
        every_n_steps: the averaging window (optimizer steps).
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        self.every_n_steps = max(1, every_n_steps)
        self._window_start: float | None = None
        self._images = 0
        self.latest: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._window_start is None:
            self._window_start = time.perf_counter()
            self._images = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Every DDP rank trains on its own share of the batch: the figure is for all of them.
        self._images += trainer.world_size * sum(
            faces.shape[0] for faces in batch.values() if faces is not None
        )
        if trainer.global_step % self.every_n_steps == 0 and self._window_start is not None:
            elapsed = time.perf_counter() - self._window_start
            self.latest = self._images / elapsed if elapsed > 0 else 0.0
            # Straight to the loggers: `self.log` from a callback follows Lightning's own logging
            # cadence.
            for trainer_logger in trainer.loggers:
                trainer_logger.log_metrics(
                    {"train/images_per_s": self.latest}, step=trainer.global_step
                )
            self._window_start = None


class TimeBudgetCallback(L.Callback):
    """Stops training once this run has trained for `seconds` (a budget per run, unlike `max_time`).

    Lightning's own `max_time` is restored from a checkpoint, so a resumed run would stop at once;
    this budget starts afresh each run, so every re-run trains that much longer.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._started: float | None = None
        self.stopped_early = False

    def on_train_start(self, trainer, pl_module) -> None:
        self._started = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._started is None:
            return
        over_budget = time.monotonic() - self._started >= self.seconds
        # Every process must agree, or DDP ranks would wait on each other forever.
        if trainer.strategy.reduce_boolean_decision(over_budget, all=False):
            self.stopped_early = True
            trainer.should_stop = True


class ProgressLogCallback(L.Callback):
    """Tells the user how training goes, in the log: a line every `every_seconds` and after
    validation.

    Training runs for minutes to hours without a terminal progress bar (Kedro's log is the console),
    so this is what shows it is alive and learning: step, losses per person, images/s, time used.

    Args:
        every_seconds: at most one progress line per this many seconds of wall time.
        budget_minutes: the run's time budget, shown as "used / budget" (None: not shown).
        speed: the images/s callback whose latest figure is reported.
    """

    def __init__(
        self,
        every_seconds: float = 30.0,
        budget_minutes: float | None = None,
        speed: ImagesPerSecondCallback | None = None,
    ) -> None:
        self.every_seconds = every_seconds
        self.budget_minutes = budget_minutes
        self.speed = speed
        self._started = 0.0
        self._last_line = 0.0

    def _per_person(self, trainer: L.Trainer, stem: str) -> str:
        """`stem`'s figure per person, "A 0.1234, B 0.2345"; one figure without a label where
        only one person has it (the pretraining's one autoencoder); "-" where none has yet."""
        found = {
            person: float(value)
            for person in PERSONS
            if (value := trainer.callback_metrics.get(f"{stem}_{person}")) is not None
        }
        if len(found) == 1:
            return f"{next(iter(found.values())):.4f}"
        return ", ".join(
            f"{person.upper()} {found[person]:.4f}" if person in found else f"{person.upper()} -"
            for person in PERSONS
        )

    def on_train_start(self, trainer, pl_module) -> None:
        self._started = self._last_line = time.monotonic()
        logger.info(
            "training from step %d (max_steps %d%s)",
            trainer.global_step,
            trainer.max_steps,
            f", {self.budget_minutes:g} min budget" if self.budget_minutes else "",
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.monotonic()
        if now - self._last_line < self.every_seconds or trainer.global_rank != 0:
            return
        self._last_line = now
        used = (now - self._started) / 60
        budget = f"/{self.budget_minutes:g}" if self.budget_minutes else ""
        speed = (
            f"{self.speed.latest:.0f} images/s"
            if self.speed and self.speed.latest
            else "- images/s"
        )
        logger.info(
            "training step %d: loss %s; %s; %.1f%s min",
            trainer.global_step,
            self._per_person(trainer, "train/loss"),
            speed,
            used,
            budget,
        )

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.global_rank != 0:
            return
        logger.info(
            "validation at step %d: SSIM %s; L1 %s",
            trainer.global_step,
            self._per_person(trainer, "val/ssim"),
            self._per_person(trainer, "val/l1"),
        )


class LastValidationCallback(L.Callback):
    """The step and figures of the fit's last validation (`val/*`, epoch means as logged).

    A run stopped by its time budget or a convincing verdict, or ending on a multiple of
    `val_every_n_steps`, was validated at its last step already; `run_training` then takes these
    figures instead of validating the same weights a second time.
    """

    def __init__(self) -> None:
        self.step = -1
        self.metrics: dict[str, float] = {}

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self.step = trainer.global_step
        self.metrics = {
            key: float(value)
            for key, value in trainer.callback_metrics.items()
            if key.startswith("val/")
        }


def _file_id(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` (device, inode), None where none is: tells a file moved there."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class CollapseStopCallback(L.Callback):
    """Stops a run whose model has collapsed: most validation faces of a person drawn as one
    saturated colour (`val/saturated_share_*`, `lightning_module.saturated`).

    Its output saturated, such a model gets no gradient to leave that state (too high a learning
    rate ends there): the rest of the budget would train the same useless model, and the node would
    write it over the last good one. The checkpoint a re-run resumes from is put back to the last
    one a validation found sound (`checkpoint_io.restore_last_sound_checkpoint`), so the steps
    before the collapse are not lost with it.

    Args:
        checkpoint_dir: the run's checkpoint folder (`last.ckpt`).
    """

    def __init__(self, checkpoint_dir: str | Path) -> None:
        self.checkpoint_dir = Path(checkpoint_dir)

    def on_train_start(self, trainer, pl_module) -> None:
        # A checkpoint resumed from was the last state of a run that did not collapse.
        if trainer.is_global_zero:
            keep_last_checkpoint_as_sound(self.checkpoint_dir)

    def on_validation_end(self, trainer, pl_module) -> None:
        """Ends the run at a validation that finds it collapsed.

        Raises:
            TrainingCollapsedError: more than `COLLAPSED_SHARE` of a person's faces are saturated.
        """
        if trainer.sanity_checking:
            return
        # The validation metrics are synchronised, so every DDP process raises at the same step.
        collapsed = max(
            float(trainer.callback_metrics.get(f"val/saturated_share_{person}", 0.0))
            for person in PERSONS
        )
        if collapsed <= COLLAPSED_SHARE:
            # A validation during the fit; the one after it (`trainer.validate`) ends the run.
            if trainer.is_global_zero and trainer.state.fn == TrainerFn.FITTING:
                keep_last_checkpoint_as_sound(self.checkpoint_dir)
            return
        collapsed_kept = self.checkpoint_dir / COLLAPSED_CHECKPOINT
        outcome = None
        if trainer.is_global_zero:
            before = _file_id(collapsed_kept)  # an earlier collapse's may be there: kept too
            restored = restore_last_sound_checkpoint(self.checkpoint_dir)
            outcome = (restored, _file_id(collapsed_kept) not in (None, before))
        restored, kept_aside = trainer.strategy.broadcast(outcome)  # every rank says the same
        if restored is not None:
            kept = (
                f"{restored} is the checkpoint of the last validation before the collapse:"
                " re-run with a lower training.optimizer.lr, or with"
                " training.optimizer.clip_grad_norm set (see train/grad_norm in MLflow), to go"
                " on from there, or with training.resume=false to start over"
            )
        else:
            kept = (
                "no checkpoint was saved before the collapse, so a re-run starts over: lower"
                " training.optimizer.lr, or set training.optimizer.clip_grad_norm (see"
                " train/grad_norm in MLflow)"
            )
        raise TrainingCollapsedError(
            f"training collapsed: at step {trainer.global_step} the model draws one flat"
            f" colour for {100 * collapsed:.0f}% of the validation faces (its output"
            f" saturated) and would not recover, so training stopped and no model was written;"
            f" {kept}"
            + (
                f" (the collapsed weights are kept aside as {collapsed_kept}, never resumed from)."
                if kept_aside
                else "."
            )
        )
