"""A small visible label on every converted frame saying that it is synthetic."""

from __future__ import annotations

import cv2
import numpy as np

from faceswap_pipeline.arrays import require_rgb_image

DEFAULT_LABEL_TEXT = "SYNTHETIC"


def draw_label(rgb: np.ndarray, text: str = DEFAULT_LABEL_TEXT) -> np.ndarray:
    """Draw `text` in white on a dark box in the frame's bottom-right corner, sized to the frame.

    Args:
        rgb: (H, W, 3) uint8 RGB; not modified.
        text: the label (ASCII; OpenCV's Hershey font).

    Returns:
        A labelled copy, (H, W, 3) uint8 RGB.
    """
    require_rgb_image(rgb, "rgb must be an (H, W, 3) uint8 RGB array")
    labelled = rgb.copy()
    height, width = rgb.shape[:2]
    # About 1/40 of the frame's shorter side tall: readable, but small.
    scale = max(0.3, min(height, width) / 1000)
    thickness = max(1, round(scale * 2))
    (text_width, text_height), baseline = cv2.getTextSize(
        text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness
    )
    pad = max(2, text_height // 3)
    x1, y1 = width - pad, height - pad
    x0, y0 = x1 - text_width - 2 * pad, y1 - text_height - baseline - 2 * pad
    box = labelled[max(0, y0) : y1, max(0, x0) : x1]
    box[:] = (box.astype(np.float32) * 0.4).astype(np.uint8)
    cv2.putText(
        labelled,
        text,
        (x0 + pad, y1 - pad - baseline),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return labelled
