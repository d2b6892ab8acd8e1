"""Training data: both people's aligned faces, a held-out split by video or time span, and the
batches.

A face is decoded once (`AlignedFaceDataset`: one callable per face, as the `aligned_faces` dataset
gives them), resized to the model's source size (see `augmentation.source_size`), with an extra
channel marking eyes and mouth when landmarks are known, into each person's face bank
(`model.face_bank`). Training batches are then drawn by index from the banks on the training device
(`FaceSwapDataModule`); augmentation happens there too, in the LightningModule.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset

from faceswap_pipeline.arrays import require_rgb_image
from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.model.augmentation import source_size
from faceswap_pipeline.model.losses import landmark_region_mask
from faceswap_pipeline.model.networks import PERSONS
from faceswap_pipeline.model.sharding import ShardedOrder, validation_share

logger = logging.getLogger(__name__)


class TooFewFacesError(FaceswapError, ValueError):
    """A person has fewer aligned faces than training needs."""


@dataclass(frozen=True)
class FaceItem:
    """One aligned face: its id, a loader of the RGB uint8 `(S, S, 3)` crop, and its 68 landmarks.

    Attributes:
        face_id: the partition id, `<video stem>/<frame:06d>_t<track:03d>`.
        load: returns the aligned crop, RGB uint8 `(S, S, 3)`.
        landmarks68: float `(68, 2)` in crop pixels of a `crop_size` crop, or None when unknown.
    """

    face_id: str
    load: Callable[[], np.ndarray]
    landmarks68: np.ndarray | None = None


def assign_validation_split(
    faces: pd.DataFrame, val_fraction: float, whole_videos: bool = True
) -> pd.Series:
    """Choose held-out faces by whole videos, or by each video's last time span when there is one
    video.

    Neighbouring frames are nearly identical, so interleaved frames would measure memory, not
    generalisation: validation takes whole videos when a person has several and the last videos hold
    a fair share (at most twice `val_fraction`), else the last `val_fraction` of each video's faces
    in time.

    Args:
        faces: one row a face with columns `video` and `time_s` (seconds; NaN allowed, then the row
            order is the time order).
        val_fraction: the share of faces to hold out, in [0, 0.5].
        whole_videos: False: always the last time span of each video, so that every video trains
            (the pretraining's many people: a whole video held out is a person it never learns).

    Returns:
        A boolean Series aligned with `faces`: True = validation.
    """
    if not 0.0 <= val_fraction <= 0.5:
        raise ValueError(f"val_fraction must be in [0, 0.5], got {val_fraction}")
    is_validation = pd.Series(False, index=faces.index)
    if val_fraction == 0 or faces.empty:
        return is_validation
    wanted = max(1, int(round(len(faces) * val_fraction)))
    videos = sorted(faces["video"].unique())
    if whole_videos and len(videos) > 1:
        counts = faces["video"].value_counts()
        chosen: list[str] = []
        for video in reversed(videos[1:]):  # never hold out the first video: training needs one
            chosen.append(video)
            if counts[chosen].sum() >= wanted:
                break
        if counts[chosen].sum() <= 2 * wanted:
            return faces["video"].isin(chosen)
    for _, group in faces.groupby("video", sort=False):
        order = group.assign(_row=np.arange(len(group))).sort_values(
            ["time_s", "_row"], na_position="last"
        )
        held = int(round(len(group) * val_fraction))
        if held:
            is_validation.loc[order.index[-held:]] = True
    return is_validation


def check_face_counts(
    train_counts: dict[str, int], val_counts: dict[str, int], minimum: int
) -> None:
    """Fail with one sentence naming each person short of training faces, their counts and the
    minimum."""
    short = [
        f"person_{person} has {train_counts[person]} training faces (+{val_counts.get(person, 0)}"
        " held out)"
        for person in PERSONS
        if train_counts.get(person, 0) < minimum
    ]
    if short:
        raise TooFewFacesError(
            f"too few aligned faces to train: {'; '.join(short)}; at least {minimum} per person are"
            " needed (training.min_faces_per_person). Add longer or more videos for that person,"
            " or loosen the face_extraction filters, then re-run face_extraction."
        )


class AlignedFaceDataset(Dataset):
    """One person's aligned faces as uint8 tensors `(C, T, T)`, T = the model's source size.

    C is 3 (RGB) or 4 (RGB + 255 on eyes and mouth) when `with_landmark_mask`. Crops whose size is
    not `crop_size` are resized, with one warning per dataset.
    """

    def __init__(
        self,
        items: Sequence[FaceItem],
        input_size: int,
        coverage: float,
        crop_size: int,
        with_landmark_mask: bool,
        person: str = "?",
    ) -> None:
        self.items = list(items)
        self.target_size = source_size(input_size, coverage)
        self.crop_size = crop_size
        self.with_landmark_mask = with_landmark_mask
        self.person = person
        self._warned_size = False

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Tensor:
        item = self.items[index]
        image = item.load()
        require_rgb_image(
            image,
            f"aligned face {item.face_id!r} of person_{self.person} must be an RGB uint8"
            " (H, W, 3) array",
        )
        height, width = image.shape[:2]
        if (height, width) != (self.crop_size, self.crop_size) and not self._warned_size:
            self._warned_size = True
            warnings.warn(
                f"person_{self.person}'s aligned faces are not all"
                f" {self.crop_size}x{self.crop_size} (e.g. {item.face_id!r} is {width}x{height}):"
                " resizing them, which stretches faces that are not square; re-run face_extraction"
                " so every crop has one size.",
                UserWarning,
                stacklevel=2,
            )
        size = self.target_size
        # INTER_AREA on uint8 is far cheaper than torch's anti-aliased resize on a CPU, and the same
        # box-filter result up to rounding (`crop_model_region` resizes that way at inference time).
        resized = cv2.resize(
            np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA
        )
        channels = [torch.from_numpy(resized).permute(2, 0, 1)]
        if self.with_landmark_mask:
            mask = np.zeros((size, size), dtype=np.uint8)
            if item.landmarks68 is not None:
                # Landmarks are in pixels of a crop_size crop; a resized crop keeps them relative.
                region = landmark_region_mask(item.landmarks68, size, size / self.crop_size)
                mask = (region * 255).astype(np.uint8)
            channels.append(torch.from_numpy(mask)[None])
        return torch.cat(channels)


def _to_tensor(faces: np.ndarray | Tensor) -> Tensor:
    """A uint8 `(N, C, T, T)` tensor sharing memory with `faces` (a memory-mapped bank stays on
    disk)."""
    if isinstance(faces, Tensor):
        return faces
    with warnings.catch_warnings():
        # A read-only memory map: training only reads it, so torch's warning does not apply.
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.from_numpy(faces)


class ResidentTrainBatches:
    """Endless training batches `{"a": uint8 (B, C, T, T), "b": ...}` drawn by index from face
    banks.

    Each person's faces are visited in a fresh random order per pass (as a shuffled loader with
    `drop_last` would), the smaller person's cycling, so every step sees both people. Under DDP
    every rank draws the same orders (the same seed) and takes its own part of each global batch
    (`model.sharding.ShardedOrder`): B = `batch_size // world_size`. Faces are gathered on the
    banks' device: no decoding, no copies through the host when resident. The orders are functions
    of the seed and the step (`model.sharding.stream_seed`): started at a resumed run's step, the
    batches are the uninterrupted run's.

    Args:
        faces: `{"a": uint8 (N, C, T, T), ...}` banks (on the training device, or memory-mapped on
            the host when they do not fit; batches then go to the device one at a time).
        indices: `{"a": int64 (M,)}` the rows of each bank to train on.
        batch_size: faces per person per step over all ranks (at most M are drawn).
        seed: seeds the orders; the same on every rank.
        rank, world_size: this process's global rank and the number of processes.
        start_step: the optimizer step of the first batch (0, or where a resumed run is).

    Raises:
        ValueError: `batch_size` is not a multiple of `world_size`, or a person has fewer faces
            than there are ranks.
    """

    def __init__(
        self,
        faces: dict[str, Tensor],
        indices: dict[str, Tensor],
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
    ) -> None:
        self.faces = faces
        self.orders = {
            p: ShardedOrder(
                rows,
                batch_size,
                rank,
                world_size,
                seed,
                stream=PERSONS.index(p),
                device=faces[p].device,
                start_step=start_step,
            )
            for p, rows in indices.items()
        }

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        while True:
            yield {
                p: self.faces[p].index_select(0, order.next()) for p, order in self.orders.items()
            }


class ResidentValBatches:
    """Each person's held-out faces once, in order: `{"a": uint8 (B, C, T, T) | None, "b": ...}`.

    A person's entry is None once their faces are exhausted (Lightning's `max_size` mode did the
    same).
    """

    def __init__(
        self, faces: dict[str, Tensor], indices: dict[str, Tensor], batch_size: int
    ) -> None:
        self.faces = faces
        self.indices = {p: rows.to(faces[p].device) for p, rows in indices.items()}
        self.batch_size = batch_size

    def __len__(self) -> int:
        return max(-(-len(rows) // self.batch_size) for rows in self.indices.values())

    def __iter__(self) -> Iterator[dict[str, Tensor | None]]:
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield {
                person: (
                    self.faces[person].index_select(0, rows[start : start + self.batch_size])
                    if start < len(rows)
                    else None
                )
                for person, rows in self.indices.items()
            }


def fits_on_device(nbytes: int, device: torch.device, share: float = 0.5) -> bool:
    """Whether `nbytes` of faces may live on `device`: at most `share` of its free memory (CUDA).

    A CPU keeps the banks memory-mapped: the page cache holds what fits in RAM, the rest stays on
    disk.
    """
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= share * free


class FaceSwapDataModule(L.LightningDataModule):
    """Batches of both people's faces (or of one person's alone, when only they are given: the
    pretraining's everyone-as-one), drawn on the training device from each person's face bank.

    Training batches are `{"a": uint8 (N, C, T, T), "b": ...}` (see `ResidentTrainBatches`),
    validation batches each person's held-out faces once (`ResidentValBatches`). On a GPU the banks
    are copied to it once, when they take at most half its free memory; otherwise (and on a CPU)
    they stay memory-mapped and each batch is gathered on the host. Under DDP `batch_size` is the
    batch of all
    processes together: each rank draws its own part of it (`model.sharding`), and validates its own
    share of the held-out faces.

    Args:
        faces: `{"a": uint8 (N, C, T, T) array or tensor, "b": ...}`: the banks (`FaceBank.faces`).
        train_indices, val_indices: `{"a": rows of the bank, ...}` to train and to validate on.
        batch_size: faces per person per step, over all processes.
        seed: seeds the training order (the same on every rank).
    """

    def __init__(
        self,
        faces: dict[str, np.ndarray | Tensor],
        train_indices: dict[str, Sequence[int] | np.ndarray],
        val_indices: dict[str, Sequence[int] | np.ndarray],
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        # Both people for a pair; one alone for the pretraining's single autoencoder.
        self.persons = tuple(person for person in PERSONS if person in train_indices) or PERSONS
        for person in self.persons:
            if not len(train_indices.get(person, ())):
                raise TooFewFacesError(f"person_{person} has no training faces")
        self.batch_size = batch_size
        self.seed = seed
        self.faces = {p: _to_tensor(faces[p]) for p in self.persons}
        self.train_indices = {
            p: torch.as_tensor(np.asarray(train_indices[p], dtype=np.int64)) for p in self.persons
        }
        self.val_indices = {
            p: torch.as_tensor(np.asarray(val_indices.get(p, ()), dtype=np.int64))
            for p in self.persons
        }
        self._rank, self._world_size = 0, 1

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        self._rank, self._world_size = trainer.global_rank, trainer.world_size
        device = trainer.strategy.root_device
        nbytes = sum(faces.nbytes for faces in self.faces.values())
        if next(iter(self.faces.values())).device != device and fits_on_device(nbytes, device):
            logger.info("face banks on %s: %.2f GB", device, nbytes / 1e9)
            self.faces = {p: faces.to(device) for p, faces in self.faces.items()}

    def train_dataloader(self) -> ResidentTrainBatches:
        # Called once the checkpoint is restored: a resumed run's batches go on from its step.
        step = self.trainer.global_step if self.trainer is not None else 0
        return ResidentTrainBatches(
            self.faces,
            self.train_indices,
            self.batch_size,
            self.seed,
            self._rank,
            self._world_size,
            start_step=step,
        )

    def val_dataloader(self) -> ResidentValBatches | list:
        indices = {
            p: validation_share(rows, self._rank, self._world_size)
            for p, rows in self.val_indices.items()
            if len(rows)
        }
        return ResidentValBatches(self.faces, indices, self.batch_size) if indices else []

    def preview_faces(self, count: int) -> dict[str, Tensor]:
        """`count` faces per person spread evenly over the held-out set (the training set if none).

        Returns:
            `{"a": uint8 (K, C, T, T), "b": ...}` on the host, K <= count.
        """
        previews = {}
        for person in self.persons:
            rows = (
                self.val_indices[person]
                if len(self.val_indices[person])
                else self.train_indices[person]
            )
            picks = np.unique(
                np.linspace(0, len(rows) - 1, num=min(count, len(rows))).round().astype(int)
            )
            previews[person] = self.faces[person][
                rows[torch.from_numpy(picks)].to(self.faces[person].device)
            ].cpu()
        return previews
