"""Image datasets Kedro-Viz can preview: image files (contact sheets, preview grids) and GIF
files."""

from __future__ import annotations

import base64

from kedro.io.core import get_filepath_str
from kedro_datasets._typing import ImagePreview
from kedro_datasets.pillow import ImageDataset

from faceswap_pipeline.datasets.files import VideoFileDataset


class PreviewImageDataset(ImageDataset):
    """kedro-datasets' `pillow.ImageDataset` plus the `preview()` Kedro-Viz calls.

    load → `PIL.Image.Image`; save(`PIL.Image.Image`) → the file (format from its suffix), as
    `pillow.ImageDataset` does. Kedro-Viz (`kedro viz run`, `kedro viz build --include-previews`)
    shows the image in the dataset's side panel; it reads the return annotation's name,
    `ImagePreview`, to pick the image renderer, which takes the file's bytes in base64.
    """

    def preview(self) -> ImagePreview:
        """The image file's bytes, base64-encoded, for Kedro-Viz's image preview.

        Returns:
            The base64 text of the stored file (PNG or JPEG as saved).
        """
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, mode="rb") as image_file:
            return ImagePreview(base64.b64encode(image_file.read()).decode("ascii"))


class PreviewGifDataset(VideoFileDataset):
    """A GIF file, loaded as its path and saved by moving a finished file into place
    (`VideoFileDataset`), that Kedro-Viz previews as an (animated) image.
    """

    def preview(self) -> ImagePreview:
        """The GIF's bytes, base64-encoded, for Kedro-Viz's image preview.

        Returns:
            The base64 text of the GIF file.
        """
        return ImagePreview(base64.b64encode(self._filepath.read_bytes()).decode("ascii"))
