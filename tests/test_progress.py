"""Progress as log lines (where no bar can show): ten a loop, or one every so many seconds."""

from __future__ import annotations

import logging

from faceswap_pipeline.progress import ProgressLog


def test_a_line_at_every_tenth_and_none_in_between(caplog):
    progress = ProgressLog("converting clip.mp4", 150, every_s=None, tenths=True)
    with caplog.at_level(logging.INFO, logger="faceswap_pipeline.progress"):
        for _ in range(150):
            progress.update(1)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 10
    assert lines[0].startswith("converting clip.mp4: 15 frames of 150 (10 %), ")
    assert lines[-1].startswith("converting clip.mp4: 150 frames of 150 (100 %), ")
    assert lines[-1].endswith(" frames/s")


def test_by_time_only_when_the_interval_has_passed_and_without_a_share_when_unknown(caplog):
    progress = ProgressLog("clip", None, every_s=0.0)
    quiet = ProgressLog("clip", 100, every_s=3600.0)
    with caplog.at_level(logging.INFO, logger="faceswap_pipeline.progress"):
        quiet.update(50)
        progress.update(7)
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("clip: 7 frames, ")
