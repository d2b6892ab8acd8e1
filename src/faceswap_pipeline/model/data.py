"""Training data: both people's aligned faces, a held-out split by video or time span, and the loaders.

Faces are loaded lazily (one callable per face, as the `aligned_faces` dataset gives them), resized to
the model's source size (see `augmentation.source_size`) and returned as uint8 tensors, with an extra
channel marking eyes and mouth when landmarks are known. Augmentation happens later, on the device.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.model.augmentation import source_size
from faceswap_pipeline.model.losses import landmark_region_mask
from faceswap_pipeline.model.networks import PERSONS
from faceswap_pipeline.model.sharding import ShardedRandomSampler, ShardedSequentialSampler

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


def assign_validation_split(faces: pd.DataFrame, val_fraction: float) -> pd.Series:
    """Choose held-out faces by whole videos, or by each video's last time span when there is one video.

    Neighbouring frames are nearly identical, so interleaved frames would measure memory, not
    generalisation: validation takes whole videos when a person has several and the last videos hold
    a fair share (at most twice `val_fraction`), else the last `val_fraction` of each video's faces in time.

    Args:
        faces: one row a face with columns `video` and `time_s` (seconds; NaN allowed, then the row
            order is the time order).
        val_fraction: the share of faces to hold out, in [0, 0.5].

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
    if len(videos) > 1:
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
    """Fail with one sentence naming each person short of training faces, their counts and the minimum."""
    short = [
        f"person_{person} has {train_counts[person]} training faces (+{val_counts.get(person, 0)} held out)"
        for person in PERSONS
        if train_counts.get(person, 0) < minimum
    ]
    if short:
        raise TooFewFacesError(
            f"too few aligned faces to train: {'; '.join(short)}; at least {minimum} per person are needed "
            "(training.min_faces_per_person). Add longer or more videos for that person, or loosen the "
            "face_extraction filters, then re-run face_extraction."
        )


class AlignedFaceDataset(Dataset):
    """One person's aligned faces as uint8 tensors `(C, T, T)`, T = the model's source size.

    C is 3 (RGB) or 4 (RGB + 255 on eyes and mouth) when `with_landmark_mask`. Crops whose size is not
    `crop_size` are resized, with one warning per dataset.
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
        if (
            not isinstance(image, np.ndarray)
            or image.dtype != np.uint8
            or image.ndim != 3
            or image.shape[2] != 3
        ):
            raise ValueError(
                f"aligned face {item.face_id!r} of person_{self.person} must be an RGB uint8 (H, W, 3) "
                f"array, got {getattr(image, 'shape', type(image))} {getattr(image, 'dtype', '')}"
            )
        height, width = image.shape[:2]
        if (height, width) != (self.crop_size, self.crop_size) and not self._warned_size:
            self._warned_size = True
            warnings.warn(
                f"person_{self.person}'s aligned faces are not all {self.crop_size}x{self.crop_size} "
                f"(e.g. {item.face_id!r} is {width}x{height}): resizing them, which stretches faces "
                "that are not square; re-run face_extraction so every crop has one size.",
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


class FaceSwapDataModule(L.LightningDataModule):
    """Batches of both people's faces: `{"a": uint8 (N, C, T, T), "b": uint8 (N, C, T, T)}`, or of
    one person's alone when `train_items` holds only them (the pretraining's everyone-as-one).

    Training cycles the smaller person's faces so every step sees both people; validation returns
    each person's held-out faces once (a person's entry is None once they are exhausted). Under DDP
    `batch_size` is the batch of all processes together: each rank draws its own part of it
    (`model.sharding`), and validates its own share of the held-out faces.
    """

    def __init__(
        self,
        train_items: dict[str, Sequence[FaceItem]],
        val_items: dict[str, Sequence[FaceItem]],
        input_size: int,
        coverage: float,
        crop_size: int = 256,
        batch_size: int = 32,
        num_workers: int = 0,
        with_landmark_mask: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        # Both people for a pair; one alone for the pretraining's single autoencoder.
        self.persons = tuple(person for person in PERSONS if person in train_items) or PERSONS
        for person in self.persons:
            if not train_items.get(person):
                raise TooFewFacesError(f"person_{person} has no training faces")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

        def dataset(items: Sequence[FaceItem], person: str) -> AlignedFaceDataset:
            return AlignedFaceDataset(
                items, input_size, coverage, crop_size, with_landmark_mask, person
            )

        self.train_sets = {p: dataset(train_items[p], p) for p in self.persons}
        self.val_sets = {p: dataset(val_items.get(p, []), p) for p in self.persons}

    def _loader(self, faces: AlignedFaceDataset, train: bool) -> DataLoader:
        # The sharding is ours (Trainer(use_distributed_sampler=False)): one process or N, every
        # step trains on the same global batch.
        trainer = self.trainer
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        sampler = (
            ShardedRandomSampler(len(faces), self.batch_size, rank, world_size, self.seed)
            if train
            else ShardedSequentialSampler(len(faces), rank, world_size)
        )
        return DataLoader(
            faces,
            batch_size=sampler.per_rank if train else max(1, min(self.batch_size, len(sampler))),
            sampler=sampler,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> CombinedLoader:
        return CombinedLoader(
            {p: self._loader(self.train_sets[p], True) for p in self.persons}, mode="max_size_cycle"
        )

    def val_dataloader(self) -> CombinedLoader:
        loaders = {
            p: self._loader(self.val_sets[p], False) for p in self.persons if len(self.val_sets[p])
        }
        return CombinedLoader(loaders, mode="max_size")

    def preview_faces(self, count: int) -> dict[str, Tensor]:
        """`count` faces per person spread evenly over the held-out set (the training set if none).

        Returns:
            `{"a": uint8 (K, C, T, T), "b": ...}` with K <= count.
        """
        previews = {}
        for person in self.persons:
            faces = self.val_sets[person] if len(self.val_sets[person]) else self.train_sets[person]
            picks = np.unique(
                np.linspace(0, len(faces) - 1, num=min(count, len(faces))).round().astype(int)
            )
            previews[person] = torch.stack([faces[int(i)] for i in picks])
        return previews
