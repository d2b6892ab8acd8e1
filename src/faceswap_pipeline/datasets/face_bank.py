"""The training face banks on disk: one uint8 `.npy` array per person, memory-mapped when loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from faceswap_pipeline.atomic_files import atomic_output

_PERSONS = ("a", "b")


class FaceBankFolderDataset(AbstractDataset):
    """Each person's face bank as `person_<p>.npy` (uint8 `(N, C, T, T)`) + `person_<p>.json` (key,
    ids).

    load → `{"a": FaceBank, "b": ...}` for the complete banks in the folder (memory-mapped: nothing
    is read until used; `{}` when there are none). save(`{"a": FaceBank | FaceBankBuild, ...}`) → a
    bank already on disk under the same key is left alone; a `FaceBankBuild` is decoded face by face
    into a memory-mapped temporary file and renamed when complete, then its JSON written: an
    interrupted build leaves no bank (rebuilt by the next run), never a half-written one.

    Args:
        path: the folder, e.g. `data/05_model_input/face_bank`.
    """

    def __init__(self, path: str, metadata: dict | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _files(self, person: str) -> tuple[Path, Path]:
        return self._path / f"person_{person}.npy", self._path / f"person_{person}.json"

    def _load_person(self, person: str):
        import numpy as np

        from faceswap_pipeline.model.face_bank import FaceBank

        array_file, info_file = self._files(person)
        if not (array_file.is_file() and info_file.is_file()):
            return None
        try:
            info = json.loads(info_file.read_text())
            faces = np.load(array_file, mmap_mode="r")
            return FaceBank(faces, tuple(info["face_ids"]), str(info["key"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DatasetError(
                f"face bank {array_file} cannot be read ({error}); delete {self._path} and re-run "
                "the training pipeline: it is rebuilt from the aligned faces."
            ) from error

    def load(self) -> dict[str, Any]:
        banks = {person: self._load_person(person) for person in _PERSONS}
        return {person: bank for person, bank in banks.items() if bank is not None}

    def save(self, data: dict[str, Any]) -> None:
        import numpy as np

        from faceswap_pipeline.model.face_bank import FaceBank, FaceBankBuild

        if not isinstance(data, dict) or not set(data) <= set(_PERSONS):
            raise DatasetError(
                f"FaceBankFolderDataset({self._path}) saves {{'a': bank, 'b': bank}}, got"
                f" {data!r:.80}"
            )
        for person, bank in data.items():
            array_file, info_file = self._files(person)
            on_disk = self._load_person(person)
            if on_disk is not None and on_disk.key == bank.key:
                continue
            # The JSON goes first and comes last: without it the array counts as absent, so a kill
            # mid-write never pairs a new array with an old key.
            info_file.unlink(missing_ok=True)
            if isinstance(bank, FaceBankBuild):
                with atomic_output(array_file) as temporary:
                    out = np.lib.format.open_memmap(
                        temporary, mode="w+", dtype=np.uint8, shape=bank.shape
                    )
                    bank.fill(out)
                    out.flush()
                    del out
            elif isinstance(bank, FaceBank):
                with atomic_output(array_file) as temporary:
                    np.save(temporary, np.ascontiguousarray(bank.faces))
            else:
                raise DatasetError(
                    f"face bank of person_{person} must be a FaceBank, got {type(bank).__name__}"
                )
            with atomic_output(info_file) as temporary:
                temporary.write_text(json.dumps({"key": bank.key, "face_ids": list(bank.face_ids)}))

    def _exists(self) -> bool:
        return bool(self.load())

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
