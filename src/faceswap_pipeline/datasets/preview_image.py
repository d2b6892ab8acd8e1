"""An image file dataset (PIL in, PIL out) that Kedro-Viz can preview: contact sheets, preview grids, plots."""

from __future__ import annotations

import base64

from kedro.io.core import get_filepath_str
from kedro_datasets._typing import ImagePreview
from kedro_datasets.pillow import ImageDataset


class PreviewImageDataset(ImageDataset):
    """kedro-datasets' `pillow.ImageDataset` plus the `preview()` Kedro-Viz calls.

    load → `PIL.Image.Image`; save(`PIL.Image.Image`) → the file (format from its suffix), as
    `pillow.ImageDataset` does. Kedro-Viz (`kedro viz run`, `kedro viz build --include-previews`) shows the
    image in the dataset's side panel; it reads the return annotation's name, `ImagePreview`, to pick the
    image renderer, which takes the file's bytes in base64.
    """

    def preview(self) -> ImagePreview:
        """The image file's bytes, base64-encoded, for Kedro-Viz's image preview.

        Returns:
            The base64 text of the stored file (PNG or JPEG as saved).
        """
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, mode="rb") as image_file:
            return ImagePreview(base64.b64encode(image_file.read()).decode("ascii"))
