"""Checkpoints written beside their final name and renamed, so a kill mid-save never leaves half a file.

Lightning's own save writes to the system's temporary folder and then moves the file; when that folder is
on another file system (a tmpfs `/tmp`), the move is a copy, and a kill during it leaves a truncated
`last.ckpt` that the next run cannot resume from: the training so far is lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from faceswap_pipeline.atomic_files import atomic_output


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose saves are atomic: a temporary file in the checkpoint's folder, then
    `os.replace` (a rename on one file system), so the previous checkpoint stays whole until the new one is."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target, prefix=f".{target.name}.") as temporary:
            torch.save(checkpoint, temporary)
