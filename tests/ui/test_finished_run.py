"""What a finished tiny run leaves in the project's `data/` folder."""

from __future__ import annotations

import pytest

from tests.helpers.tiny_run import TinyRun

pytestmark = pytest.mark.slow


def test_a_finished_run_leaves_no_work_folder_or_temporary_file(tiny_run: TinyRun):
    # The hidden `.partial-*` work folders (downloads, conversion, evaluation) are made when a node
    # loads them; the run removes them once empty, and nothing is left under a temporary name.
    leftovers = sorted(
        path.relative_to(tiny_run.project).as_posix()
        for path in (tiny_run.project / "data").rglob(".partial-*")
    )
    assert leftovers == []
