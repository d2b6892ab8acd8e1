"""The swap model: networks, augmentation, losses, the Lightning training parts and model files.

A plain Python API (no Kedro): `load_swap_model(path)` then `model.swap(faces, to="b")`; a face
prior with `pretrain_base_model(...)`, `save_base_model`, and `init_swap_model_from_base(model,
path)`. The names below load their module (and torch) when first used, so that `model.settings`
(Pydantic only) is light to import.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "augmentation": ("augment_faces", "crop_model_region", "model_region_box", "source_size"),
    "model_file": ("ModelFileError", "load_swap_model", "read_model_config", "save_swap_model"),
    "networks": ("ARCHITECTURES", "ModelConfig", "SwapModel"),
    "pretrained": (
        "BaseModel",
        "BaseModelMismatchError",
        "init_swap_model_from_base",
        "load_base_model",
        "pretrain_base_model",
        "save_base_model",
    ),
    "settings": (
        "AugmentationConfig",
        "LossSettings",
        "OptimizerSettings",
        "TrainerSettings",
        "TrainingSettings",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "ARCHITECTURES",
    "AugmentationConfig",
    "BaseModel",
    "BaseModelMismatchError",
    "LossSettings",
    "ModelConfig",
    "ModelFileError",
    "OptimizerSettings",
    "SwapModel",
    "TrainerSettings",
    "TrainingSettings",
    "augment_faces",
    "crop_model_region",
    "init_swap_model_from_base",
    "load_base_model",
    "load_swap_model",
    "model_region_box",
    "pretrain_base_model",
    "read_model_config",
    "save_base_model",
    "save_swap_model",
    "source_size",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
