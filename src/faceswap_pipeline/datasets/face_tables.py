"""A folder of per-video face tables (one parquet file per key), written chunk by chunk, renamed
when complete.

Face extraction saves each video's faces here as they are found, so memory stays flat on long videos
and an interrupted run leaves only finished videos under final names: the re-run skips those keys
and redoes the ones that were cut. The tables can be written side by side by Dask workers
(``fan_out.FanOutJobs``), and the folder can be any fsspec URL (``s3://…``) that every worker sees.
"""

from __future__ import annotations

import bisect
import functools
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from faceswap_pipeline.atomic_files import TEMP_PREFIX, atomic_fs_output, atomic_output
from faceswap_pipeline.datasets.files import remove_stale_partials
from faceswap_pipeline.fan_out import FanOut, run_jobs
from faceswap_pipeline.safe_names import path_inside

logger = logging.getLogger(__name__)

_SUFFIX = ".parquet"
_TEMP_PREFIX = TEMP_PREFIX  # the prefix remove_stale_partials() cleans up

TableChunks = Iterable[Any]  # pyarrow Tables or pandas DataFrames of one schema
TableData = TableChunks | pd.DataFrame | Callable[[], TableChunks | pd.DataFrame]


class FaceTableFile:
    """One finished face table: read whole, by columns, or one cell at a time (row groups cached).

    Args:
        path: the parquet file: a local path, or a path on ``fs``.
        fs: the fsspec file system holding it; ``None``: the local one.
    """

    def __init__(self, path: Path | str, fs: Any = None):
        self.path = path
        self._fs = fs
        self._cached_group: tuple[int, str, list[Any]] | None = None
        self._group_starts: list[int] | None = None
        self._parquet = None

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The table (or some of its columns) as a DataFrame."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path, columns=columns, filesystem=self._fs).to_pandas()

    def schema_names(self) -> list[str]:
        import pyarrow.parquet as pq

        return list(pq.read_schema(self.path, filesystem=self._fs).names)

    def metadata(self) -> dict[str, str]:
        """The key-value metadata the writer attached (decoded; the pandas and Arrow schema entries
        dropped)."""
        import pyarrow.parquet as pq

        raw = pq.read_metadata(self.path, filesystem=self._fs).metadata or {}
        return {
            key.decode(): value.decode()
            for key, value in raw.items()
            if key not in (b"pandas", b"ARROW:schema")
        }

    def cell(self, column: str, row: int) -> Any:
        """One value, reading its whole row group once: call in row order to read each group
        once."""
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._parquet = pq.ParquetFile(self.path, filesystem=self._fs)
        parquet = self._parquet
        if self._group_starts is None:
            starts, total = [], 0
            for group in range(parquet.num_row_groups):
                starts.append(total)
                total += parquet.metadata.row_group(group).num_rows
            self._group_starts = [*starts, total]
        if not 0 <= row < self._group_starts[-1]:
            raise IndexError(
                f"row {row} is outside {self.path.name} ({self._group_starts[-1]} rows)"
            )
        group = bisect.bisect_right(self._group_starts, row) - 1
        if self._cached_group is None or self._cached_group[:2] != (group, column):
            values = parquet.read_row_group(group, columns=[column]).column(column).to_pylist()
            self._cached_group = (group, column, values)
        return self._cached_group[2][row - self._group_starts[group]]


class FaceTableFolderDataset(AbstractDataset[dict[str, TableData], dict[str, FaceTableFile]]):
    """Per-video face tables in a folder: ``{key: FaceTableFile}`` on load (``{}`` when none).

    Saving takes ``{key: data}``, where data is a DataFrame, an iterable of DataFrames or pyarrow
    Tables of one schema (written as row groups one at a time), or a callable returning either
    (called then, for lazy saving). An iterable with a ``parquet_metadata`` dict attribute, read
    after the last chunk, has it stored as the file's key-value metadata. Each file is written under
    a temporary name and renamed when complete; keys already present are overwritten, others kept.

    When the dict is a ``fan_out.FanOutJobs``, its tables are written as its ``fan_out`` says: side
    by side by Dask workers, each calling its callable and writing its file there (callables must
    then pickle; a callable's ``label`` attribute names it in messages). The folder is then read and
    written
    by those workers: a local path must be on storage they share, or use an fsspec URL.

    Args:
        path: the folder: a local path or an fsspec URL (``s3://bucket/tables``,
            ``memory://tables``).
        metadata: Kedro-Viz and other metadata.
        fs_args: extra arguments for the fsspec file system (not for local paths).
    """

    def __init__(
        self, path: str, metadata: dict | None = None, fs_args: dict[str, Any] | None = None
    ):
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem

        fs, folder = url_to_fs(str(path), **(fs_args or {}))
        self._local = isinstance(fs, LocalFileSystem)
        self._url = str(path)
        # Absolute, so that workers started elsewhere (another working directory) write the same
        # files.
        self._path = Path(folder).resolve() if self._local else None
        self._folder = str(self._path) if self._local else folder.rstrip("/")
        self._fs = None if self._local else fs
        self.metadata = metadata

    def load(self) -> dict[str, FaceTableFile]:
        if self._local:
            if not self._path.is_dir():
                return {}
            files = [(item.name, item) for item in sorted(self._path.iterdir()) if item.is_file()]
        else:
            if not self._fs.isdir(self._folder):
                return {}
            entries = self._fs.ls(self._folder, detail=True)
            files = sorted(
                (entry["name"].rstrip("/").rpartition("/")[2], entry["name"])
                for entry in entries
                if entry["type"] == "file"
            )
        return {
            name[: -len(_SUFFIX)]: FaceTableFile(path, self._fs)
            for name, path in files
            if name.endswith(_SUFFIX) and not name.startswith(".")
        }

    def save(self, data: dict[str, TableData]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(
                f"FaceTableFolderDataset({self._folder}) saves a dict of key -> table, got"
                f" {type(data).__name__}"
            )
        if self._local:
            self._path.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(self._path)
        else:
            self._fs.makedirs(self._folder, exist_ok=True)
            for stale in self._fs.glob(f"{self._folder}/{_TEMP_PREFIX}*"):
                self._fs.rm(stale)
        jobs = {}
        for key, table in data.items():
            label = str(getattr(table, "label", f"face table {key}"))
            jobs[label if label not in jobs else f"{label} ({key})"] = functools.partial(
                write_face_table, self._destination(key), table, self._fs
            )
        run_jobs(jobs, getattr(data, "fan_out", None) or FanOut(), what="face tables")

    def _destination(self, key: str) -> str:
        if self._local:
            return str(path_inside(self._path, key + _SUFFIX))
        if not key or "/" in key or "\\" in key or "\x00" in key or key.startswith("."):
            raise ValueError(
                f"face table key {key!r} must be a plain file name and stay inside {self._folder}"
            )
        return f"{self._folder}/{key}{_SUFFIX}"

    def _exists(self) -> bool:
        return bool(self.load())

    def _describe(self) -> dict[str, Any]:
        return {"path": self._folder if self._local else self._url}


def write_face_table(destination: str, table: TableData, fs: Any = None) -> None:
    """Write one table at ``destination`` (on ``fs``, or locally when ``None``) under a temporary
    name, renamed when complete; runs where the folder's jobs run (here, or on a Dask worker)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunks = table() if callable(table) else table
    if isinstance(chunks, pd.DataFrame | pa.Table):
        chunks = [chunks]
    writer = None
    output = (
        atomic_output(destination, prefix=_TEMP_PREFIX)
        if fs is None
        else atomic_fs_output(fs, destination, prefix=_TEMP_PREFIX)
    )
    with output as temporary:
        try:
            for chunk in chunks:
                arrow = (
                    chunk
                    if isinstance(chunk, pa.Table)
                    else pa.Table.from_pandas(chunk, preserve_index=False)
                )
                if writer is None:
                    writer = pq.ParquetWriter(str(temporary), arrow.schema, filesystem=fs)
                writer.write_table(
                    arrow.cast(writer.schema) if arrow.schema != writer.schema else arrow
                )
            if writer is None:
                raise DatasetError(f"no table to save at {destination}: the data yielded no chunk")
            # An iterable may carry key-value metadata known only once it is exhausted (e.g.
            # counts).
            extra = getattr(chunks, "parquet_metadata", None)
            if extra:
                writer.add_key_value_metadata({str(k): str(v) for k, v in extra.items()})
        finally:
            if writer is not None:
                writer.close()
