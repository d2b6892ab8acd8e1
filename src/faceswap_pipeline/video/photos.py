"""Read a person's photo as a viewer shows it: upright, RGB, from any format Pillow reads and from
HEIC/HEIF, the format iPhones take photos in (through pillow-heif).

A phone stores a photo taken upright sideways and says in its EXIF orientation how to turn it; the
turn is applied here, so faces are found the way they were photographed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceswap_pipeline.errors import BadInputError

# What `read_photo` takes, by file suffix (lower case): for folders of photos.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif")
# Pillow's modes of 16-bit grey (a scanner's or a raw developer's PNG or TIFF): its conversion to
# RGB clips them at 255, turning the photo white, so they are scaled down here.
_SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


class NotAPhotoError(BadInputError):
    """The file is not an image these readers know.

    Attributes:
        path: the file that was opened.
        detail: what is wrong and what to do, without the path: for a caller that names the file
            its own way (a person's reference photo).
    """

    def __init__(self, path: str | Path, detail: str) -> None:
        super().__init__(f"{path} {detail}")
        self.path = Path(path)
        self.detail = detail


def read_photo(path: str | Path) -> np.ndarray:
    """A photo file as a ``(H, W, 3)`` uint8 RGB array, C-contiguous, its EXIF orientation applied
    (16-bit grey scaled to 8 bits; transparency dropped).

    Args:
        path: a photo file, e.g. ``me.heic`` or ``me.jpg``.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        NotAPhotoError: the file is not an image these readers know, naming it.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError
    from pillow_heif import register_heif_opener

    register_heif_opener()  # once per process is enough; again is harmless
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"photo not found: {path}")
    try:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)
            if upright.mode in _SIXTEEN_BIT_GREY:
                grey = np.asarray(upright, dtype=np.float64) / 257.0  # 65535 -> 255
                levels = np.clip(np.round(grey), 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(levels[..., None], 3, axis=2))
            return np.ascontiguousarray(np.asarray(upright.convert("RGB")))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        reason = (
            "not an image format Pillow or pillow-heif knows"
            if isinstance(error, UnidentifiedImageError)
            else str(error)
        )
        raise NotAPhotoError(
            path, f"is not a photo that can be read ({reason}); give a JPEG, PNG, WebP or HEIC file"
        ) from error
