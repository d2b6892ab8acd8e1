"""Checkpoints written beside their final name and renamed, so a kill mid-save never leaves half a
file.

Lightning's own save writes to the system's temporary folder and then moves the file; when that
folder is on another file system (a tmpfs `/tmp`), the move is a copy, and a kill during it leaves a
truncated `last.ckpt` that the next run cannot resume from: the training so far is lost.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from faceswap_pipeline.atomic_files import TEMP_PREFIX, atomic_output

logger = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose saves are atomic: a temporary file in the checkpoint's folder, then
    `os.replace` (a rename on one file system), so the previous checkpoint stays whole until the new
    one is.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target, prefix=f"{TEMP_PREFIX}{target.name}.") as temporary:
            torch.save(checkpoint, temporary)


def resume_checkpoint(
    checkpoint_dir: Path,
    resume: bool,
    model_config: Any,
    adversaries: tuple[str, ...] = (),
    parameters: str = "training",
) -> tuple[Path | None, int]:
    """The checkpoint a training run continues from, and its step: `last.ckpt` in `checkpoint_dir`.

    Args:
        checkpoint_dir: the run's checkpoint folder.
        resume: False starts over; the old `last.ckpt` is then kept as `previous.ckpt`, never
            destroyed.
        model_config: the `ModelConfig` the run trains; a checkpoint of another one is refused.
        adversaries: the adversaries the run trains (`LossSettings.adversaries`); a checkpoint
            trained with others is refused.
        parameters: where the run's settings are (`training`, `pretraining.training`), for
            the keys a refusal names.

    Returns:
        `(path, step)`, or `(None, 0)` when starting from scratch.

    Raises:
        CheckpointMismatchError: `last.ckpt` is of another model configuration or cannot be read
            safely.
    """
    from faceswap_pipeline.model.lightning_module import check_checkpoint_matches

    last = checkpoint_dir / "last.ckpt"
    if not last.exists():
        return None, 0
    if not resume:
        kept = checkpoint_dir / "previous.ckpt"
        shutil.move(last, kept)
        logger.info("resume is false: starting over; the old checkpoint is kept as %s", kept)
        return None, 0
    step = check_checkpoint_matches(last, model_config, adversaries, parameters)
    logger.info("resuming from %s (step %d)", last, step)
    return last, step
