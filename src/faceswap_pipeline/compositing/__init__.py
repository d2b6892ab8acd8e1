"""Compositing a swapped face into its frame: masks, colour transfer, blending, warping back,
label."""

from faceswap_pipeline.compositing.blend import BLENDERS, DEFAULT_BLENDER, get_blender
from faceswap_pipeline.compositing.colour import (
    COLOUR_TRANSFERS,
    DEFAULT_COLOUR_TRANSFER,
    get_colour_transfer,
)
from faceswap_pipeline.compositing.label import draw_label
from faceswap_pipeline.compositing.masks import jaw_fitted_mask, landmark_hull_mask, mouth_mask
from faceswap_pipeline.compositing.warp import border_window, face_region, warp_crop_to_region

__all__ = [
    "BLENDERS",
    "border_window",
    "COLOUR_TRANSFERS",
    "DEFAULT_BLENDER",
    "DEFAULT_COLOUR_TRANSFER",
    "draw_label",
    "face_region",
    "get_blender",
    "get_colour_transfer",
    "jaw_fitted_mask",
    "landmark_hull_mask",
    "mouth_mask",
    "warp_crop_to_region",
]
