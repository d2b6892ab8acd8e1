"""A folder of per-video face tables (one parquet file per key), written chunk by chunk, renamed when complete.

Face extraction saves each video's faces here as they are found, so memory stays flat on long videos
and an interrupted run leaves only finished videos under final names: the re-run skips those keys and
redoes the one that was cut.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from faceswap_pipeline.atomic_files import TEMP_PREFIX, atomic_output
from faceswap_pipeline.datasets.files import remove_stale_partials
from faceswap_pipeline.safe_names import path_inside

logger = logging.getLogger(__name__)

_SUFFIX = ".parquet"
_TEMP_PREFIX = TEMP_PREFIX  # the prefix remove_stale_partials() cleans up

TableChunks = Iterable[Any]  # pyarrow Tables or pandas DataFrames of one schema
TableData = TableChunks | pd.DataFrame | Callable[[], TableChunks | pd.DataFrame]


class FaceTableFile:
    """One finished face table: read whole, by columns, or one cell at a time (row groups cached).

    Args:
        path: the parquet file.
    """

    def __init__(self, path: Path):
        self.path = path
        self._cached_group: tuple[int, str, list[Any]] | None = None
        self._group_starts: list[int] | None = None
        self._parquet = None

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The table (or some of its columns) as a DataFrame."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path, columns=columns).to_pandas()

    def schema_names(self) -> list[str]:
        import pyarrow.parquet as pq

        return list(pq.read_schema(self.path).names)

    def metadata(self) -> dict[str, str]:
        """The key-value metadata the writer attached (decoded; the pandas and Arrow schema entries dropped)."""
        import pyarrow.parquet as pq

        raw = pq.read_metadata(self.path).metadata or {}
        return {key.decode(): value.decode() for key, value in raw.items() if key not in (b"pandas", b"ARROW:schema")}

    def cell(self, column: str, row: int) -> Any:
        """One value, reading its whole row group once: call in row order to read each group once."""
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._parquet = pq.ParquetFile(self.path)
        parquet = self._parquet
        if self._group_starts is None:
            starts, total = [], 0
            for group in range(parquet.num_row_groups):
                starts.append(total)
                total += parquet.metadata.row_group(group).num_rows
            self._group_starts = [*starts, total]
        if not 0 <= row < self._group_starts[-1]:
            raise IndexError(f"row {row} is outside {self.path.name} ({self._group_starts[-1]} rows)")
        group = bisect.bisect_right(self._group_starts, row) - 1
        if self._cached_group is None or self._cached_group[:2] != (group, column):
            values = parquet.read_row_group(group, columns=[column]).column(column).to_pylist()
            self._cached_group = (group, column, values)
        return self._cached_group[2][row - self._group_starts[group]]


class FaceTableFolderDataset(AbstractDataset[dict[str, TableData], dict[str, FaceTableFile]]):
    """Per-video face tables in a folder: ``{key: FaceTableFile}`` on load (``{}`` when none).

    Saving takes ``{key: data}``, where data is a DataFrame, an iterable of DataFrames or pyarrow Tables
    of one schema (written as row groups one at a time), or a callable returning either (called then,
    for lazy saving). An iterable with a ``parquet_metadata`` dict attribute, read after the last chunk,
    has it stored as the file's key-value metadata. Each file is written under a temporary name and renamed when complete; keys
    already present are overwritten, others kept.

    Args:
        path: the folder.
        metadata: Kedro-Viz and other metadata.
    """

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> dict[str, FaceTableFile]:
        if not self._path.is_dir():
            return {}
        return {
            item.name[: -len(_SUFFIX)]: FaceTableFile(item)
            for item in sorted(self._path.iterdir())
            if item.is_file() and item.name.endswith(_SUFFIX) and not item.name.startswith(".")
        }

    def save(self, data: dict[str, TableData]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"FaceTableFolderDataset({self._path}) saves a dict of key -> table, got {type(data).__name__}")
        self._path.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self._path)
        for key, table in data.items():
            self._save_one(path_inside(self._path, key + _SUFFIX), table)

    def _save_one(self, destination: Path, table: TableData) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunks = table() if callable(table) else table
        if isinstance(chunks, pd.DataFrame | pa.Table):
            chunks = [chunks]
        writer = None
        with atomic_output(destination, prefix=_TEMP_PREFIX) as temporary:
            try:
                for chunk in chunks:
                    arrow = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pandas(chunk, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(temporary, arrow.schema)
                    writer.write_table(arrow.cast(writer.schema) if arrow.schema != writer.schema else arrow)
                if writer is None:
                    raise DatasetError(f"no table to save at {destination}: the data yielded no chunk")
                # An iterable may carry key-value metadata known only once it is exhausted (e.g. counts).
                extra = getattr(chunks, "parquet_metadata", None)
                if extra:
                    writer.add_key_value_metadata({str(k): str(v) for k, v in extra.items()})
            finally:
                if writer is not None:
                    writer.close()

    def _exists(self) -> bool:
        return bool(self.load())

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
