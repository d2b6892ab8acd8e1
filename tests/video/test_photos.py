"""Reading a person's photos: upright as a viewer shows them, HEIC too, and a file that is not one
named."""

from __future__ import annotations

import numpy as np
import pytest

from faceswap_pipeline.video.photos import NotAPhotoError, read_photo
from tests.helpers.phone_media import write_phone_photos


def test_a_phone_s_photos_stored_sideways_are_read_upright(shared_photos, tmp_path):
    upright = write_phone_photos(shared_photos / "obama.jpg", tmp_path).astype(int)
    for name in ("upright.jpg", "phone.jpg", "iphone.heic"):
        rgb = read_photo(tmp_path / name)
        assert rgb.shape == upright.shape == (1137, 910, 3), name
        assert rgb.dtype == np.uint8 and rgb.flags["C_CONTIGUOUS"]
        # The same picture, within the loss of its format (turned the wrong way it is not even
        # the same shape).
        assert np.abs(rgb - upright).mean() < 3.0, name


def test_a_file_that_is_not_a_photo_is_named(shared_videos, tmp_path):
    video = shared_videos / "single_d18.mp4"
    with pytest.raises(NotAPhotoError) as raised:
        read_photo(video)
    assert str(raised.value) == (
        f"{video} is not a photo that can be read (not an image format Pillow or pillow-heif"
        " knows); give a JPEG, PNG, WebP or HEIC file"
    )
    assert raised.value.path == video
    with pytest.raises(FileNotFoundError, match="photo not found"):
        read_photo(tmp_path / "missing.jpg")


def test_a_sixteen_bit_grey_photo_is_read_in_its_own_levels(shared_photos, tmp_path):
    # A scanner's 16-bit grey PNG: Pillow's conversion to RGB clipped it white (mean 254 of 255).
    from PIL import Image

    with Image.open(shared_photos / "obama.jpg") as photo:
        grey = np.asarray(photo.convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "scan.png")
    rgb = read_photo(tmp_path / "scan.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (*grey.shape, 3)
    assert np.array_equal(rgb[..., 0], grey) and np.array_equal(rgb[..., 2], grey)
