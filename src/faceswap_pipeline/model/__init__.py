"""The swap model: networks, augmentation, losses, the Lightning training parts and model files.

A plain Python API (no Kedro): `load_swap_model(path)` then `model.swap(faces, to="b")`; a face prior
with `pretrain_base_model(...)`, `save_base_model`, and `init_swap_model_from_base(model, path)`.
"""

from faceswap_pipeline.model.augmentation import (
    AugmentationConfig,
    augment_faces,
    crop_model_region,
    model_region_box,
    source_size,
)
from faceswap_pipeline.model.model_file import (
    ModelFileError,
    load_swap_model,
    read_model_config,
    save_swap_model,
)
from faceswap_pipeline.model.networks import ARCHITECTURES, ModelConfig, SwapModel
from faceswap_pipeline.model.pretrained import (
    BaseModel,
    BaseModelMismatchError,
    PretrainingSettings,
    init_swap_model_from_base,
    load_base_model,
    pretrain_base_model,
    save_base_model,
)

__all__ = [
    "ARCHITECTURES",
    "AugmentationConfig",
    "BaseModel",
    "BaseModelMismatchError",
    "ModelConfig",
    "ModelFileError",
    "SwapModel",
    "augment_faces",
    "PretrainingSettings",
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
