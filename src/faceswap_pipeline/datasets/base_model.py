"""The `base_model` catalog dataset: a face prior's folder (safetensors weights + JSON), read
lazily."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class BaseModelDataset(AbstractDataset):
    """A pretrained `BaseModel` in a folder (`model.safetensors` + `config.json`), as the
    pretraining writes it.

    load → the folder's `Path`, read nothing: training opens it only when `training.init_from` asks
    for it (so a pair without a base model never needs one), checking its configuration first.
    save(`BaseModel`) → both files written atomically (temporary name, then rename).

    Args:
        path: the model folder, e.g. `data/06_models/base_model`.
    """

    def __init__(self, path: str, metadata: dict | None = None) -> None:
        # `_filepath` (a PurePosixPath) is what kedro-mlflow's MlflowArtifactDataset logs as the
        # artifact.
        self._filepath = PurePosixPath(Path(path).as_posix())
        self.metadata = metadata

    def load(self) -> Path:
        return Path(self._filepath)

    def save(self, data: Any) -> None:
        from faceswap_pipeline.model.pretrained import BaseModel, save_base_model

        if not isinstance(data, BaseModel):
            raise DatasetError(
                f"BaseModelDataset({self._filepath}) saves a BaseModel, got {type(data).__name__}"
            )
        save_base_model(data, Path(self._filepath))

    def _exists(self) -> bool:
        from faceswap_pipeline.model.model_file import WEIGHTS_FILE

        return (Path(self._filepath) / WEIGHTS_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath)}
