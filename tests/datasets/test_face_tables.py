"""The per-video face-table folder: chunked writes, renamed only when complete, read back by
cell."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from faceswap_pipeline.datasets.face_tables import FaceTableFolderDataset


class _Chunks:
    """Chunks of a table, then metadata known only at the end (as face extraction yields them)."""

    def __init__(self, chunks: int, fail_after: int | None = None):
        self.chunks, self.fail_after = chunks, fail_after
        self.parquet_metadata: dict = {}

    def __iter__(self):
        for i in range(self.chunks):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("killed mid-video")
            yield pd.DataFrame({"row": [2 * i, 2 * i + 1], "crop_png": [b"a%d" % i, b"b%d" % i]})
        self.parquet_metadata = {"frames_read": 2 * self.chunks}


def test_chunks_become_one_table_with_metadata_and_cells_read_in_order(tmp_path):
    dataset = FaceTableFolderDataset(str(tmp_path / "tables"))
    assert dataset.load() == {}
    dataset.save({"video_1": lambda: _Chunks(3)})
    table = dataset.load()["video_1"]
    assert table.read()["row"].tolist() == [0, 1, 2, 3, 4, 5]
    assert table.read(columns=["row"]).columns.tolist() == ["row"]
    assert table.metadata() == {"frames_read": "6"}
    assert [table.cell("crop_png", row) for row in range(6)] == [
        b"a0",
        b"b0",
        b"a1",
        b"b1",
        b"a2",
        b"b2",
    ]
    with pytest.raises(IndexError):
        table.cell("crop_png", 6)


def test_an_interrupted_video_leaves_no_table_and_keeps_the_finished_ones(tmp_path):
    dataset = FaceTableFolderDataset(str(tmp_path / "tables"))
    dataset.save({"done": lambda: _Chunks(1)})
    with pytest.raises(DatasetError, match="killed mid-video"):
        dataset.save({"cut": lambda: _Chunks(3, fail_after=2)})
    assert list(dataset.load()) == ["done"]
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["done.parquet"]


def test_keys_cannot_leave_the_folder(tmp_path):
    dataset = FaceTableFolderDataset(str(tmp_path / "tables"))
    with pytest.raises(DatasetError, match="stay inside"):
        dataset.save({"../escape": pd.DataFrame({"row": [1]})})


def test_an_fsspec_folder_is_written_whole_and_read_back_the_same_way(tmp_path):
    # Any fsspec URL (an object store, shared storage for Dask workers); fsspec's memory file system
    # here.
    import fsspec

    url = f"memory://face-tables/{tmp_path.name}"
    dataset = FaceTableFolderDataset(url)
    assert dataset.load() == {}
    dataset.save({"video_1": lambda: _Chunks(3)})
    with pytest.raises(DatasetError, match="killed mid-video"):
        dataset.save({"cut": lambda: _Chunks(3, fail_after=2)})
    memory = fsspec.filesystem("memory")
    assert [name.rpartition("/")[2] for name in memory.ls(url, detail=False)] == ["video_1.parquet"]
    table = dataset.load()["video_1"]
    assert table.read()["row"].tolist() == [0, 1, 2, 3, 4, 5]
    assert table.metadata() == {"frames_read": "6"}
    assert [table.cell("crop_png", row) for row in (0, 5)] == [b"a0", b"b2"]
    with pytest.raises(DatasetError, match="plain file name"):
        dataset.save({"../escape": pd.DataFrame({"row": [1]})})
