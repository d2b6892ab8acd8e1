"""The notebooks run top to bottom (nbclient, a real IPython kernel) against the outputs of a tiny
run."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import PROJECT_ROOT
from tests.helpers.tiny_run import TinyRun

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def _execute(notebook_path: Path, project: Path) -> nbformat.NotebookNode:
    """Run a copy of the notebook from the project's `notebooks/` folder (where Kedro finds the
    project)."""
    folder = project / "notebooks"
    folder.mkdir(exist_ok=True)
    copy = folder / notebook_path.name
    shutil.copy(notebook_path, copy)
    notebook = nbformat.read(copy, as_version=4)
    # Raises CellExecutionError, with the cell and its traceback, at the first failing cell.
    NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(folder)}}
    ).execute()
    nbformat.write(notebook, copy)
    return notebook


@pytest.fixture(scope="module")
def executed(tiny_run: TinyRun) -> dict[str, nbformat.NotebookNode]:
    """Every notebook, executed once against the tiny run: file name -> executed notebook."""
    return {path.name: _execute(path, tiny_run.project) for path in NOTEBOOKS}


def _outputs_by_cell(notebook: nbformat.NotebookNode) -> list[tuple[str, list[str]]]:
    """For each code cell: its source and the MIME types (and stream names) of its outputs."""
    return [
        (
            cell.source,
            [kind for output in cell.outputs for kind in output.get("data", {"stream": None})],
        )
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def test_there_is_a_notebook_saved_without_outputs():
    assert [path.name for path in NOTEBOOKS] and "exploration.ipynb" in [
        path.name for path in NOTEBOOKS
    ]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert all(
            not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"
        ), path.name


def test_every_notebook_runs_top_to_bottom(executed):
    assert set(executed) == {path.name for path in NOTEBOOKS}
    for name, notebook in executed.items():
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.get("execution_count") for cell in code_cells), name
        assert all(
            output.output_type != "error" for cell in code_cells for output in cell.outputs
        ), name


def test_exploration_shows_the_sheet_the_statistics_the_preview_and_a_swapped_frame(executed):
    cells = _outputs_by_cell(executed["exploration.ipynb"])

    def outputs_of(marker: str) -> list[str]:
        matching = [kinds for source, kinds in cells if marker in source]
        assert len(matching) == 1, f"one code cell with {marker!r} expected"
        return matching[0]

    assert "%load_ext kedro.ipython" in cells[0][0]
    assert "image/png" in outputs_of("face_contact_sheet")
    assert "text/html" in outputs_of("face_alignments")  # the statistics table
    assert "image/png" in outputs_of("training_preview")
    assert "image/png" in outputs_of("iter_frames(swapped_path")
