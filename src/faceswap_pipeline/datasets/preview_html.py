"""An HTML report file (text in, text out) that Kedro-Viz can preview as a page."""

from __future__ import annotations

from kedro_datasets._typing import HTMLPreview
from kedro_datasets.text import TextDataset


class PreviewHtmlDataset(TextDataset):
    """kedro-datasets' `text.TextDataset` for an HTML page, plus the `preview()` Kedro-Viz calls.

    load → the page as `str`; save(`str`) → the file, as `text.TextDataset` does. Kedro-Viz shows
    the page in the dataset's side panel (its HTML renderer, picked by the return annotation's name
    `HTMLPreview`).
    """

    def preview(self) -> HTMLPreview:
        """The stored HTML page, for Kedro-Viz's HTML preview.

        Returns:
            The page's text.
        """
        return HTMLPreview(self.load())
