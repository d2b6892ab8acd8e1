"""Checkpoints are saved beside their final name and renamed: a save cut short keeps the previous
one whole."""

from __future__ import annotations

import threading

import pytest
import torch

from faceswap_pipeline.model.checkpoint_io import AtomicCheckpointIO


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path):
    io = AtomicCheckpointIO()
    last = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"global_step": 4, "state_dict": {"w": torch.ones(3)}}, last)
    assert torch.load(last, weights_only=True)["global_step"] == 4

    # A lock cannot be pickled: torch.save fails partway through writing, as a full disk would.
    with pytest.raises(TypeError):
        io.save_checkpoint(
            {"global_step": 6, "state_dict": {"w": torch.zeros(3)}, "lock": threading.Lock()}, last
        )
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == 4 and torch.equal(saved["state_dict"]["w"], torch.ones(3))
    assert [path.name for path in last.parent.iterdir()] == ["last.ckpt"]

    io.save_checkpoint({"global_step": 6, "state_dict": {"w": torch.zeros(3)}}, last)
    assert torch.load(last, weights_only=True)["global_step"] == 6
    with pytest.raises(TypeError, match="storage_options"):
        io.save_checkpoint({}, last, storage_options={"x": 1})
