"""The project's `kedro run` command's pieces that need no Kedro session (the whole command is
tried in tests/reliability/test_user_errors.py)."""

from __future__ import annotations

import logging

import click
import pytest
from kedro.pipeline import node

from faceswap_pipeline.cli import _node_failures_point_to_the_end, run
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


@pytest.mark.parametrize(
    ("given", "read"),
    [
        # A source with its seconds: Kedro split at every comma ("Item `start: 120` must contain a
        # key and a value separated by `=`").
        (
            "person_a.sources=[{url: https://youtu.be/x?t=3, start: 120, end: 180}],"
            "download.max_height=480",
            {
                "person_a": {
                    "sources": [{"url": "https://youtu.be/x?t=3", "start": 120, "end": 180}]
                },
                "download": {"max_height": 480},
            },
        ),
        (
            "training.init_from=base_model,training.init_frozen=[convolutions, decoder_output]",
            {
                "training": {
                    "init_from": "base_model",
                    "init_frozen": ["convolutions", "decoder_output"],
                }
            },
        ),
        (
            "download={max_height: 480, retries: 0},person_a.name='Smith, John'",
            {"download": {"max_height": 480, "retries": 0}, "person_a": {"name": "Smith, John"}},
        ),
        # An apostrophe in a word opens no quote.
        (
            "person_a.name=O'Brien,person_b.name=Tom",
            {"person_a": {"name": "O'Brien"}, "person_b": {"name": "Tom"}},
        ),
        ("training.max_minutes=30", {"training": {"max_minutes": 30}}),
        ("", {}),
    ],
)
def test_params_split_only_between_parameters(given, read):
    assert run.make_context("run", ["--params", given]).params["params"] == read


def test_a_params_item_without_a_value_is_named():
    with pytest.raises(click.UsageError, match="Item `start: 2` must contain a key and a value"):
        run.make_context("run", ["--params", "a=1,start: 2"])
