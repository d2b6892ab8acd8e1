"""Checkpoints written beside their final name and renamed, so a kill mid-save never leaves half a
file.

Lightning's own save writes to the system's temporary folder and then moves the file; when that
folder is on another file system (a tmpfs `/tmp`), the move is a copy, and a kill during it leaves a
truncated `last.ckpt` that the next run cannot resume from: the training so far is lost.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from faceswap_pipeline.atomic_files import TEMP_PREFIX, atomic_output

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.ckpt"
# `last.ckpt` as it was at the last validation that found the model sound (a hard link).
SOUND_CHECKPOINT = "last_sound.ckpt"
# The `last.ckpt` a run that starts over (`resume: false`) found there, kept aside.
PREVIOUS_CHECKPOINT = "previous.ckpt"
# What a collapse left in `last.ckpt`, kept aside for a look, never resumed from.
COLLAPSED_CHECKPOINT = "collapsed.ckpt"


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
        resume: False starts over; the old `last.ckpt` stays where it is until the fit starts
            (`set_aside_last_checkpoint`), then is kept as `previous.ckpt`, never destroyed.
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

    last = checkpoint_dir / LAST_CHECKPOINT
    if not last.exists() or not resume:
        return None, 0
    step = check_checkpoint_matches(last, model_config, adversaries, parameters)
    logger.info("resuming from %s (step %d)", last, step)
    return last, step


def set_aside_last_checkpoint(checkpoint_dir: Path) -> None:
    """A run that starts over keeps the old `last.ckpt` as `previous.ckpt` (replacing an older
    one), so that its first save cannot overwrite it. Called as the fit starts: a run that fails
    before then leaves `last.ckpt` where the next run resumes from it."""
    last = checkpoint_dir / LAST_CHECKPOINT
    if last.exists():
        kept = checkpoint_dir / PREVIOUS_CHECKPOINT
        shutil.move(last, kept)
        logger.info("resume is false: starting over; the old checkpoint is kept as %s", kept)


def keep_last_checkpoint_as_sound(checkpoint_dir: Path) -> None:
    """Keep `last.ckpt` as `last_sound.ckpt`: a validation has just found the model sound, and every
    checkpoint comes before the validation of its step. A hard link (a copy where the file system
    has none): `last.ckpt`'s next save is a rename and leaves it whole."""
    last = checkpoint_dir / LAST_CHECKPOINT
    if not last.exists():  # none yet: one from an earlier run is no longer this run's
        (checkpoint_dir / SOUND_CHECKPOINT).unlink(missing_ok=True)
        return
    with atomic_output(checkpoint_dir / SOUND_CHECKPOINT) as temporary:
        temporary.unlink()
        try:
            os.link(last, temporary)
        except OSError:
            shutil.copyfile(last, temporary)


def restore_last_sound_checkpoint(checkpoint_dir: Path) -> Path | None:
    """After a collapse: `last.ckpt` back to what it was at the last validation that found the
    model sound, so that a re-run resumes from before the collapse; the `last.ckpt` saved since
    is moved to `collapsed.ckpt`. Without a sound one, `last.ckpt` is moved there all the same,
    and a re-run starts over.

    Returns:
        `last.ckpt` when it now holds a sound checkpoint, else None.
    """
    last = checkpoint_dir / LAST_CHECKPOINT
    sound = checkpoint_dir / SOUND_CHECKPOINT
    if last.exists() and sound.exists() and os.path.samefile(last, sound):
        sound.unlink()  # nothing was saved since that validation (and a rename would do nothing)
        return last
    if last.exists():
        os.replace(last, checkpoint_dir / COLLAPSED_CHECKPOINT)
    if not sound.exists():
        return None
    os.replace(sound, last)
    return last


def forget_last_sound_checkpoint(checkpoint_dir: Path) -> None:
    """The run ended sound: its `last.ckpt` is the one to resume from."""
    (checkpoint_dir / SOUND_CHECKPOINT).unlink(missing_ok=True)
