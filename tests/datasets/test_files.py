"""Media folder datasets: atomic saves, lazy images, names that cannot escape."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DatasetError

from faceswap_pipeline.datasets import ImageFolderDataset, VideoFileDataset, VideoFolderDataset
from faceswap_pipeline.safe_names import path_inside, safe_stem


def test_video_folder_moves_files_in_and_keeps_others(tmp_path):
    folder = VideoFolderDataset(path=str(tmp_path / "videos"))
    assert folder.load() == {}
    staged = tmp_path / "staged.mp4"
    staged.write_bytes(b"x" * 10)
    folder.save({"a.mp4": staged})
    other = tmp_path / "other.mp4"
    other.write_bytes(b"y")
    folder.save({"b.mp4": other})
    assert sorted(folder.load()) == ["a.mp4", "b.mp4"]
    assert not staged.exists()
    with pytest.raises(DatasetError, match="inside"):
        folder.save({"../escape.mp4": tmp_path / "b"})


def test_leftover_partial_files_are_cleared_and_never_listed(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / ".partial-abc.mp4").write_bytes(b"half")
    dataset = VideoFolderDataset(path=str(folder))
    assert dataset.load() == {}
    staged = tmp_path / "s.mp4"
    staged.write_bytes(b"z")
    dataset.save({"c.mp4": staged})
    assert sorted(p.name for p in folder.iterdir()) == ["c.mp4"]


def test_video_file_dataset(tmp_path):
    dataset = VideoFileDataset(filepath=str(tmp_path / "out" / "swapped.mp4"))
    with pytest.raises(DatasetError, match="does not exist yet"):
        dataset.load()
    staged = tmp_path / "tmp.mp4"
    staged.write_bytes(b"v")
    dataset.save(staged)
    assert dataset.load().read_bytes() == b"v"


def test_image_folder_roundtrip_lazy(tmp_path):
    dataset = ImageFolderDataset(path=str(tmp_path / "faces"))
    image = np.zeros((8, 6, 3), np.uint8)
    image[..., 0] = 255  # red in RGB
    calls = []

    def make() -> np.ndarray:
        calls.append(1)
        return image

    dataset.save({"clip/000001_t000": make, "clip/000002_t000": image})
    loaded = dataset.load()
    assert sorted(loaded) == ["clip/000001_t000", "clip/000002_t000"]
    np.testing.assert_array_equal(loaded["clip/000001_t000"](), image)
    assert calls == [1]
    with pytest.raises(DatasetError, match="RGB uint8"):
        dataset.save({"bad": np.zeros((4, 4), np.float32)})
    with pytest.raises(DatasetError, match="inside"):
        dataset.save({"/abs/path": image})


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "nul\x00byte", "", "a" * 300])
def test_path_inside_refuses_escapes(tmp_path, name):
    with pytest.raises(ValueError):
        path_inside(tmp_path, name)


def test_safe_stem():
    assert safe_stem("../../etc/passwd") == "etc_passwd"
    assert safe_stem("Ünïcödé tïtle ✨") == "Unicode_title"
    assert safe_stem("...") == "file"
    assert len(safe_stem("x" * 500)) == 80


def test_image_folder_preview_is_a_mosaic(tmp_path):
    import base64

    import cv2

    dataset = ImageFolderDataset(path=str(tmp_path / "faces"))
    assert dataset.preview() == ""
    dataset.save({f"clip/{i:06d}_t000": np.full((32, 32, 3), i * 10, np.uint8) for i in range(20)})
    mosaic = cv2.imdecode(
        np.frombuffer(base64.b64decode(dataset.preview()), np.uint8), cv2.IMREAD_COLOR
    )
    assert mosaic.shape == (4 * 128, 4 * 128, 3)


def test_saved_files_are_readable_like_any_other_file(tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        images = ImageFolderDataset(path=str(tmp_path / "faces"))
        images.save({"a": np.zeros((4, 4, 3), np.uint8)})
        staged = tmp_path / "staged.mp4"
        staged.write_bytes(b"v")
        os.chmod(staged, 0o600)  # like a temporary file from mkstemp
        VideoFileDataset(filepath=str(tmp_path / "out.mp4")).save(staged)
    finally:
        os.umask(previous)
    for path in (tmp_path / "faces" / "a.png", tmp_path / "out.mp4"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
