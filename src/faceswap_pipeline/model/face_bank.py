"""Each person's faces decoded once into one uint8 array at the model's source size: the face bank.

Training draws its batches by index from the bank held on the training device (see `model.data`), so
no face is decoded, resized or masked again during training. A bank is keyed by a fingerprint of
what went into it (face ids, landmarks, a sample of the pixels, sizes), so it is rebuilt only when
those change.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from faceswap_pipeline.model.augmentation import source_size
from faceswap_pipeline.model.data import AlignedFaceDataset, FaceItem
from faceswap_pipeline.rank_call_codec import transferable

# Bump when the bank's content for the same inputs changes (resize or mask drawing).
FACE_BANK_VERSION = 1
_FINGERPRINT_SAMPLES = 3


@transferable  # sent to DDP rank processes by the path of its array file (rank_call_codec)
@dataclass(frozen=True)
class FaceBank:
    """One person's faces as one array, in the order of `face_ids`.

    A DDP rank process receives a bank read from disk by its file, which it maps again; a bank built
    in memory cannot be sent (`transferred_by_file`); `train_swap_model` given no banks builds them
    on each rank.

    Attributes:
        faces: uint8 `(N, C, T, T)` (a `np.memmap` when read from disk), T = the model's source
            size; C is 3 (RGB) or 4 (RGB + 255 on eyes and mouth, from the 68 landmarks).
        face_ids: the N partition ids of `aligned_faces`, in order.
        key: the fingerprint it was built for (`face_bank_key`).
    """

    faces: np.ndarray
    face_ids: tuple[str, ...]
    key: str
    transferred_by_file: ClassVar[tuple[str, ...]] = ("faces",)

    def __post_init__(self) -> None:
        if (
            self.faces.dtype != np.uint8
            or self.faces.ndim != 4
            or len(self.faces) != len(self.face_ids)
        ):
            raise ValueError(
                f"a face bank holds uint8 (N, C, T, T) faces for N ids, got {self.faces.dtype} "
                f"{self.faces.shape} for {len(self.face_ids)} ids"
            )

    @property
    def nbytes(self) -> int:
        return int(self.faces.nbytes)


@dataclass(frozen=True)
class FaceBankBuild:
    """A bank still to be decoded: what `FaceBankFolderDataset.save` writes face by face, lazily.

    Attributes:
        items: the faces, in bank order.
        key: the fingerprint (`face_bank_key`).
        input_size, coverage, crop_size: the model's sizes (the bank holds `source_size` faces).
        with_landmark_mask: add the eyes/mouth channel.
        person: "a" or "b", for messages.
    """

    items: tuple[FaceItem, ...]
    key: str
    input_size: int
    coverage: float
    crop_size: int
    with_landmark_mask: bool
    person: str

    @property
    def face_ids(self) -> tuple[str, ...]:
        return tuple(item.face_id for item in self.items)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        size = source_size(self.input_size, self.coverage)
        return (len(self.items), 4 if self.with_landmark_mask else 3, size, size)

    def fill(self, out: np.ndarray, threads: int | None = None) -> None:
        """Decode, resize and mask every face into `out` (uint8 `shape`, e.g. a `np.memmap`).

        PNG decoding and OpenCV's resize release the GIL, so threads use every core without
        worker processes.
        """
        if out.shape != self.shape or out.dtype != np.uint8:
            raise ValueError(f"out must be uint8 {self.shape}, got {out.dtype} {out.shape}")
        faces = AlignedFaceDataset(
            self.items,
            self.input_size,
            self.coverage,
            self.crop_size,
            self.with_landmark_mask,
            self.person,
        )

        def put(index: int) -> None:
            out[index] = faces[index].numpy()

        workers = threads or min(16, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(put, range(len(faces))):
                pass

    def build(self) -> FaceBank:
        """The bank in memory (tests, notebooks; the catalog writes it to disk with `fill`
        instead)."""
        faces = np.empty(self.shape, dtype=np.uint8)
        self.fill(faces)
        return FaceBank(faces, self.face_ids, self.key)


def face_bank_key(
    items: Sequence[FaceItem],
    input_size: int,
    coverage: float,
    crop_size: int,
    with_landmark_mask: bool,
) -> str:
    """A fingerprint of everything a bank's content depends on, 16 hex digits.

    It covers the face ids in order, their landmarks, the sizes, whether the mask channel is drawn,
    and the pixels of the first, middle and last face (re-extracted faces keep their ids but not
    their pixels or landmarks). Three decodes: cheap next to decoding every face.
    """
    digest = hashlib.sha256()
    header = {
        "version": FACE_BANK_VERSION,
        "source_size": source_size(input_size, coverage),
        "crop_size": crop_size,
        "mask": with_landmark_mask,
        "ids": [item.face_id for item in items],
    }
    digest.update(json.dumps(header).encode())
    for item in items:
        if item.landmarks68 is not None:
            digest.update(np.asarray(item.landmarks68, dtype=np.float32).tobytes())
        else:
            digest.update(b"-")
    if items:
        picks = np.unique(np.linspace(0, len(items) - 1, _FINGERPRINT_SAMPLES).round().astype(int))
        for index in picks:
            digest.update(np.ascontiguousarray(items[int(index)].load()).tobytes())
    return digest.hexdigest()[:16]


def plan_face_bank(
    items: Sequence[FaceItem],
    input_size: int,
    coverage: float,
    crop_size: int,
    with_landmark_mask: bool,
    person: str,
    existing: FaceBank | None = None,
) -> FaceBank | FaceBankBuild:
    """The existing bank when it was built from the same faces and sizes, else a build to run.

    Args:
        items: one person's faces in bank order.
        existing: the bank already on disk, if any.
    """
    key = face_bank_key(items, input_size, coverage, crop_size, with_landmark_mask)
    if existing is not None and existing.key == key:
        return existing
    return FaceBankBuild(
        tuple(items), key, input_size, coverage, crop_size, with_landmark_mask, person
    )


def bank_rows(
    bank: FaceBank,
    face_ids: Sequence[str],
    splits: Sequence[str],
    person: str,
    val_max_faces: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The bank rows to train and to validate on, from the training-face table of one person.

    Args:
        bank: the person's bank, built from exactly these faces in this order.
        face_ids, splits: the table's `face_id` and `split` ("train"/"val") columns for the person.
        val_max_faces: keep at most this many held-out faces, spread evenly over the held-out span
            (so the estimate does not favour its start).

    Returns:
        `(train_rows, val_rows)`, int64 arrays of row numbers in the bank.

    Raises:
        ValueError: the bank was built from other faces (a stale bank: re-run the pipeline).
    """
    if tuple(face_ids) != bank.face_ids:
        raise ValueError(
            f"the face bank of person_{person} holds {len(bank.face_ids)} faces that are not the "
            f"{len(face_ids)} faces training_faces lists; re-run the whole training pipeline "
            "(kedro run --pipeline training) so that both are made from the same aligned faces"
        )
    splits = np.asarray(splits)
    train_rows = np.flatnonzero(splits == "train")
    val_rows = np.flatnonzero(splits == "val")
    if val_max_faces and len(val_rows) > val_max_faces:
        picks = np.linspace(0, len(val_rows) - 1, val_max_faces).round().astype(int)
        val_rows = val_rows[np.unique(picks)]
    return train_rows, val_rows
