"""The swap model: networks, augmentation, losses, the Lightning training parts and model files.

A plain Python API (no Kedro): `load_swap_model(path)` then `model.swap(faces, to="b")`.
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

__all__ = [
    "ARCHITECTURES",
    "AugmentationConfig",
    "ModelConfig",
    "ModelFileError",
    "SwapModel",
    "augment_faces",
    "crop_model_region",
    "load_swap_model",
    "model_region_box",
    "read_model_config",
    "save_swap_model",
    "source_size",
]
