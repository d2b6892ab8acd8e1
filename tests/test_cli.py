"""The project's `kedro run` command's pieces that need no Kedro session (the whole command is
tried in tests/reliability/test_user_errors.py)."""

from __future__ import annotations

import logging

import pytest
from kedro.pipeline import node

from faceswap_pipeline.cli import _node_failures_point_to_the_end
from faceswap_pipeline.sources.fetch import SourceError


def _fails(error: Exception):
    def stage(x):
        raise error

    return node(stage, "x", "y", name="stage")


def _node_log(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kedro.pipeline.node"]


def test_a_user_errors_message_is_left_to_the_end_and_other_errors_keep_theirs(caplog):
    caplog.set_level(logging.INFO)
    with _node_failures_point_to_the_end():
        with pytest.raises(SourceError):
            _fails(SourceError("Alice: clip.mp4 is not a video")).run({"x": 1})
        with pytest.raises(RuntimeError):
            _fails(RuntimeError("an unexpected bug")).run({"x": 1})
    with pytest.raises(SourceError):  # outside the command (a notebook, --verbose): untouched
        _fails(SourceError("Alice: clip.mp4 is not a video")).run({"x": 1})

    user, unexpected, outside = [m for m in _node_log(caplog) if "failed with error" in m]
    assert user.endswith("failed with error: SourceError, its message at the end")
    assert "clip.mp4" not in user
    assert unexpected.endswith("an unexpected bug")
    assert outside.endswith("Alice: clip.mp4 is not a video")
