"""A parquet table dataset whose Kedro-Viz preview also shows array cells (boxes, landmarks,
descriptors)."""

from __future__ import annotations

from typing import Any

import numpy as np
from kedro_datasets._typing import TablePreview
from kedro_datasets.pandas import ParquetDataset

# Array cells are summarised in the preview: their first values and their length.
_PREVIEW_VALUES = 4


def _preview_cell(value: Any) -> Any:
    """A JSON-friendly form of one table cell: arrays and lists become a short text, numbers
    stay."""
    if isinstance(value, np.ndarray | list | tuple):
        values = np.asarray(value).ravel()
        shown = ", ".join(
            f"{v:.4g}" if isinstance(v, float | np.floating) else str(v)
            for v in values[:_PREVIEW_VALUES]
        )
        more = f", … ({values.size} values)" if values.size > _PREVIEW_VALUES else ""
        return f"[{shown}{more}]"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


class PreviewParquetDataset(ParquetDataset):
    """kedro-datasets' `pandas.ParquetDataset` whose Kedro-Viz preview works with array columns.

    Loads and saves exactly as `pandas.ParquetDataset`. Its `preview()` returns the first rows as
    Kedro-Viz's table (pandas "split" form) with every cell JSON-serialisable: kedro-datasets' own
    preview hands Kedro-Viz numpy arrays for list columns, which makes `kedro viz build
    --include-previews` fail.
    """

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first ``nrows`` rows, array cells shortened to text (first values and length).

        Args:
            nrows: how many rows to show.

        Returns:
            ``{"index": [...], "columns": [...], "data": [[...], ...]}``.
        """
        table = super().preview(nrows=nrows)
        table["data"] = [[_preview_cell(cell) for cell in row] for row in table["data"]]
        table["index"] = [_preview_cell(label) for label in table["index"]]
        return TablePreview(table)
