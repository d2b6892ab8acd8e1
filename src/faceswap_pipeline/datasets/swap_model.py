"""The `swap_model` catalog dataset: a model folder of safetensors weights and a JSON
configuration."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class SwapModelDataset(AbstractDataset):
    """A trained `SwapModel` in a folder (`model.safetensors` + `config.json`), loaded without
    pickle.

    load → `SwapModel` in eval mode on `map_location` (its configuration is `model.config`);
    save(`SwapModel`) → both files written atomically (temporary name, then rename).

    Args:
        path: the model folder, e.g. `data/06_models/swap_model`.
        map_location: the device to load the weights onto ("cpu", "cuda", ...).
    """

    def __init__(self, path: str, map_location: str = "cpu", metadata: dict | None = None) -> None:
        # `_filepath` (a PurePosixPath) is what kedro-mlflow's MlflowArtifactDataset logs as the
        # artifact.
        self._filepath = PurePosixPath(Path(path).as_posix())
        self._map_location = map_location
        self.metadata = metadata

    def load(self) -> Any:
        # torch is imported here, not at the top: the Kedro CLI imports every dataset class.
        from faceswap_pipeline.model import ModelFileError, load_swap_model

        try:
            model, _ = load_swap_model(Path(self._filepath), map_location=self._map_location)
        except ModelFileError as error:
            raise DatasetError(str(error)) from error
        return model

    def save(self, data: Any) -> None:
        from faceswap_pipeline.model import SwapModel, save_swap_model

        if not isinstance(data, SwapModel):
            raise DatasetError(
                f"SwapModelDataset({self._filepath}) saves a SwapModel, got {type(data).__name__}"
            )
        save_swap_model(data, Path(self._filepath))

    def _exists(self) -> bool:
        from faceswap_pipeline.model.model_file import WEIGHTS_FILE

        return (Path(self._filepath) / WEIGHTS_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "map_location": self._map_location}
