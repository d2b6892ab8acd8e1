"""Checkpoints are saved beside their final name and renamed: a save cut short keeps the previous
one whole; a collapse puts back the last sound one."""

from __future__ import annotations

import threading

import pytest
import torch

from faceswap_pipeline.model.checkpoint_io import (
    AtomicCheckpointIO,
    keep_last_checkpoint_as_sound,
    restore_last_sound_checkpoint,
)


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


def _step(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def test_the_sound_checkpoint_is_the_one_of_its_validation_and_a_collapse_puts_it_back(tmp_path):
    io = AtomicCheckpointIO()
    last = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 2}, last)
    keep_last_checkpoint_as_sound(tmp_path)  # a sound validation at step 2
    io.save_checkpoint({"global_step": 4}, last)  # a save replaces last.ckpt by a rename
    assert _step(tmp_path / "last_sound.ckpt") == 2

    assert restore_last_sound_checkpoint(tmp_path) == last
    assert (_step(last), _step(tmp_path / "collapsed.ckpt")) == (2, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["collapsed.ckpt", "last.ckpt"]

    # Nothing saved since the sound validation: last.ckpt stays, the link goes.
    keep_last_checkpoint_as_sound(tmp_path)
    assert restore_last_sound_checkpoint(tmp_path) == last and _step(last) == 2
    assert not (tmp_path / "last_sound.ckpt").exists()


def test_a_sound_checkpoint_of_an_earlier_run_is_never_put_back(tmp_path):
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 8}, tmp_path / "last_sound.ckpt")  # left by a killed run
    keep_last_checkpoint_as_sound(tmp_path)  # a new run starts over: no last.ckpt
    io.save_checkpoint({"global_step": 2}, tmp_path / "last.ckpt")  # ... and collapses by step 2
    assert restore_last_sound_checkpoint(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["collapsed.ckpt"]
