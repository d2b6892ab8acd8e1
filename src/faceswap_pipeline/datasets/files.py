"""Kedro datasets for folders of media files: videos passed around as paths, images as lazy arrays.

Every save writes to a temporary name in the destination folder and renames it when complete, so an
interrupted run never leaves a half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import ImagePreview

from faceswap_pipeline.arrays import require_rgb_image
from faceswap_pipeline.atomic_files import TEMP_PREFIX, atomic_output
from faceswap_pipeline.rank_call_codec import transferable
from faceswap_pipeline.safe_names import path_inside
from faceswap_pipeline.video.probe import VIDEO_SUFFIXES

logger = logging.getLogger(__name__)

_TEMP_PREFIX = TEMP_PREFIX
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def atomic_place(source: Path, destination: Path, *, move: bool) -> None:
    """Put ``source`` at ``destination`` in one rename: a reader never sees a partial file.

    The file is first moved or copied to a hidden temporary name beside ``destination`` (same file
    system, so the final ``os.replace`` is atomic).
    """
    with atomic_output(destination) as temporary:
        if move:
            shutil.move(str(source), temporary)
        else:
            shutil.copyfile(source, temporary)
    if move and source.parent.name.startswith(_TEMP_PREFIX):
        # The file came from a node's own work folder (a fetch's): gone with its last file.
        with contextlib.suppress(OSError):
            source.parent.rmdir()


def remove_stale_partials(folder: Path) -> None:
    """Delete the temporary files and work folders (named ``.partial-*``) that a killed run left in
    ``folder`` or below it."""
    if not folder.is_dir():
        return
    for stale in sorted(folder.rglob(f"{_TEMP_PREFIX}*"), key=lambda path: len(path.parts)):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


class StagingFolderDataset(AbstractDataset[None, Path]):
    """A hidden work folder beside a dataset's final place, loaded as its path (made when missing).

    Nodes that produce a file with a tool that writes to a path (a download, a video encoder) make
    it in here; the output's dataset then moves it into place with a rename on the same file system.
    Its name starts with the temporary prefix (``.partial-``), so readers of the folder around it
    never list it and the next run's start removes whatever a killed run left
    (`sweep_stale_partials`).

    Example (catalog)::

        conversion_staging:
          type: faceswap_pipeline.datasets.StagingFolderDataset
          path: data/07_model_output/.partial-conversion
    """

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        if not self._path.name.startswith(_TEMP_PREFIX):
            raise DatasetError(
                f"a staging folder's name must start with {_TEMP_PREFIX!r}, got {self._path}"
            )
        self.metadata = metadata

    def load(self) -> Path:
        self._path.mkdir(parents=True, exist_ok=True)
        return self._path.resolve()

    def save(self, data: None) -> None:
        raise DatasetError(
            f"StagingFolderDataset({self._path}) is a work folder that nodes read, not an output"
        )

    def _exists(self) -> bool:
        return True  # made on load

    def _describe(self) -> dict[str, Any]:
        return {"staging": str(self._path)}


class VideoFolderDataset(AbstractDataset[dict[str, Path], dict[str, Path]]):
    """A folder of video files, loaded as ``{file name: absolute path}``.

    Videos are not read into memory: nodes get paths and stream them (PyAV). Saving moves each given
    file into the folder under its key, atomically; files already there and not in the dict are
    kept.

    Example (catalog)::

        "{person}_raw_videos":
          type: faceswap_pipeline.datasets.VideoFolderDataset
          path: data/01_raw/videos/{person}
    """

    def __init__(
        self, path: str, suffixes: tuple[str, ...] = VIDEO_SUFFIXES, metadata: dict | None = None
    ):
        self._path = Path(path)
        self._suffixes = tuple(s.lower() for s in suffixes)
        self.metadata = metadata

    def load(self) -> dict[str, Path]:
        if not self._path.is_dir():
            return {}
        return {
            item.name: item.resolve()
            for item in sorted(self._path.iterdir())
            if item.is_file()
            and item.suffix.lower() in self._suffixes
            and not item.name.startswith(".")
        }

    def save(self, data: dict[str, Path]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(
                f"VideoFolderDataset({self._path}) saves a dict of name -> path, got"
                f" {type(data).__name__}"
            )
        if not data:  # nothing to place (the conversion fetched no URL): no empty folder
            return
        self._path.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self._path)
        for name, source in data.items():
            destination = path_inside(self._path, name)
            if Path(source).resolve() == destination:
                continue  # already in place (a file reused from an earlier run)
            atomic_place(Path(source), destination, move=True)

    def _exists(self) -> bool:
        return bool(self.load())

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "suffixes": self._suffixes}


class VideoFileDataset(AbstractDataset[Path, Path]):
    """One video file, loaded as its path; saving moves a finished file into place atomically."""

    def __init__(self, filepath: str, metadata: dict | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Path:
        if not self._filepath.is_file():
            raise DatasetError(
                f"video {self._filepath} does not exist yet; run the pipeline that makes it"
            )
        return self._filepath.resolve()

    def save(self, data: Path) -> None:
        source = Path(data)
        if not source.is_file():
            raise DatasetError(f"cannot save video to {self._filepath}: {source} is not a file")
        if source.resolve() != self._filepath.resolve():
            atomic_place(source, self._filepath, move=True)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


ImageOrLoader = np.ndarray | bytes | Callable[[], np.ndarray | bytes]


@transferable  # DDP rank processes receive the face loaders (see faceswap_pipeline.distributed)
def _read_rgb(path: Path) -> np.ndarray:
    import cv2  # heavy import kept out of Kedro's start-up

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{path} is not an image OpenCV can read")
    return np.ascontiguousarray(bgr[:, :, ::-1])


class ImageFolderDataset(
    AbstractDataset[dict[str, ImageOrLoader], dict[str, Callable[[], np.ndarray]]]
):
    """A folder tree of images, loaded lazily as ``{partition id: loader of an RGB uint8 (H, W, 3)
    array}``.

    Partition ids are paths relative to the folder without the suffix (``d6-1a2b/000123_t001``).
    Saving takes arrays or callables returning arrays (called one at a time: lazy saving keeps
    memory flat), or, with the ``.png`` suffix, PNG file bytes (written as they are, not
    re-encoded); writes each image to a temporary name and renames it. Existing images are kept
    unless ``overwrite`` is set, in which case the folder is emptied first.

    Args:
        path: the folder.
        suffix: file suffix of saved images (``.png`` lossless, ``.jpg``).
        load_suffixes: suffixes read on load (reference photos come as JPEG or PNG).
        png_compression: 0 (fast, big) … 9 (slow, small); 1 is a good trade for face crops.
        overwrite: empty the folder before saving.
    """

    def __init__(
        self,
        path: str,
        suffix: str = ".png",
        load_suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg"),
        png_compression: int = 1,
        overwrite: bool = False,
        metadata: dict | None = None,
    ):
        self._path = Path(path)
        self._suffix = suffix
        self._load_suffixes = tuple(s.lower() for s in load_suffixes)
        self._png_compression = png_compression
        self._overwrite = overwrite
        self.metadata = metadata

    def load(self) -> dict[str, Callable[[], np.ndarray]]:
        if not self._path.is_dir():
            return {}
        loaders: dict[str, Callable[[], np.ndarray]] = {}
        for item in sorted(self._path.rglob("*")):
            if (
                item.is_file()
                and item.suffix.lower() in self._load_suffixes
                and not item.name.startswith(".")
            ):
                partition = item.relative_to(self._path).with_suffix("").as_posix()
                # A partial of a transferable function, not a lambda: DDP's rank processes receive
                # it.
                loaders[partition] = functools.partial(_read_rgb, item)
        return loaders

    def save(self, data: dict[str, ImageOrLoader]) -> None:
        import cv2

        if not isinstance(data, dict):
            raise DatasetError(
                f"ImageFolderDataset({self._path}) saves a dict of id -> image, got"
                f" {type(data).__name__}"
            )
        if self._overwrite and self._path.exists():
            shutil.rmtree(self._path)
        self._path.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self._path)
        params = (
            [cv2.IMWRITE_PNG_COMPRESSION, self._png_compression] if self._suffix == ".png" else []
        )
        for partition, image in data.items():
            array = image() if callable(image) else image
            destination = path_inside(self._path, partition + self._suffix)
            if isinstance(array, bytes) and self._suffix == ".png":
                # Already a PNG (face extraction keeps its crops encoded): written as is, not
                # re-encoded.
                if not array.startswith(_PNG_SIGNATURE):
                    raise DatasetError(
                        f"image {partition!r} was given as bytes that are not a PNG file"
                    )
                encoded = np.frombuffer(array, np.uint8)
            else:
                require_rgb_image(
                    array, f"image {partition!r} must be an RGB uint8 (H, W, 3) array", DatasetError
                )
                ok, encoded = cv2.imencode(
                    self._suffix, np.ascontiguousarray(array[:, :, ::-1]), params
                )
                if not ok:
                    raise DatasetError(f"could not encode image {partition!r} as {self._suffix}")
            with atomic_output(destination) as temporary:
                temporary.write_bytes(encoded.tobytes())

    def _exists(self) -> bool:
        return bool(self.load())

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "suffix": self._suffix}

    def preview(self, max_images: int = 16, tile_px: int = 128) -> ImagePreview:
        """A mosaic of up to ``max_images`` images spread evenly over the folder, for Kedro-Viz.

        Returns:
            A PNG, base64-encoded (Kedro-Viz picks its image renderer from the ``ImagePreview``
            name).
        """
        import base64

        import cv2

        loaders = list(self.load().values())
        if not loaders:
            return ImagePreview("")
        picks = [
            loaders[i]
            for i in np.linspace(0, len(loaders) - 1, min(max_images, len(loaders))).astype(int)
        ]
        tiles = [
            cv2.resize(load(), (tile_px, tile_px), interpolation=cv2.INTER_AREA) for load in picks
        ]
        columns = min(4, len(tiles))
        rows = -(-len(tiles) // columns)
        mosaic = np.zeros((rows * tile_px, columns * tile_px, 3), np.uint8)
        for i, tile in enumerate(tiles):
            row, column = divmod(i, columns)
            mosaic[
                row * tile_px : (row + 1) * tile_px, column * tile_px : (column + 1) * tile_px
            ] = tile
        _, encoded = cv2.imencode(".png", mosaic[:, :, ::-1])
        return ImagePreview(base64.b64encode(encoded.tobytes()).decode("ascii"))
