"""Blending the recoloured, warped-back face into the frame: feathered alpha or Poisson seamless
clone.

Every method has the same signature, `blend(face, frame, mask) -> blended`; pick one by name with
`get_blender`. Pixels where the mask is 0 are returned exactly as they were in `frame`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Blender = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
DEFAULT_BLENDER = "alpha"


def alpha_blend(face: np.ndarray, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`mask * face + (1 - mask) * frame`, per pixel.

    Args:
        face: (H, W, 3) uint8 RGB, the new face already in frame coordinates.
        frame: (H, W, 3) uint8 RGB, the original image (or region of it).
        mask: (H, W) float32 in [0, 1] (a feathered mask gives a soft seam).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    alpha = _check(face, frame, mask)
    # OpenCV's weighted sum, rounded to uint8 in one pass (numpy's float round trip costs ~6x more);
    # where alpha is 0 the frame's pixel comes back exactly.
    return cv2.blendLinear(face, frame, alpha, 1.0 - alpha)


def seamless_clone(face: np.ndarray, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson image editing (Pérez et al. 2003, OpenCV's `seamlessClone`, normal clone).

    The face's gradients are kept and its colours are solved to meet the frame at the mask's edge,
    where mask > 0.5; the result is then alpha-blended with the soft mask so the edge stays
    feathered.

    Args and Returns: as `alpha_blend`.
    """
    alpha = _check(face, frame, mask)
    binary = (alpha > 0.5).astype(np.uint8) * 255
    ys, xs = np.nonzero(binary)
    if len(xs) < 4:
        return alpha_blend(face, frame, alpha)
    # seamlessClone misbehaves when the mask touches the image border: pad by a margin.
    pad = 4
    face_padded = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    frame_padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    mask_padded = cv2.copyMakeBorder(binary, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    # The centre of the mask's bounding box, where OpenCV places the source's masked box.
    centre = (int((x0 + x1 + 1) // 2) + pad, int((y0 + y1 + 1) // 2) + pad)
    cloned_bgr = cv2.seamlessClone(
        np.ascontiguousarray(face_padded[..., ::-1]),
        np.ascontiguousarray(frame_padded[..., ::-1]),
        mask_padded,
        centre,
        cv2.NORMAL_CLONE,
    )
    cloned = np.ascontiguousarray(cloned_bgr[pad:-pad, pad:-pad, ::-1])
    return alpha_blend(cloned, frame, alpha)


BLENDERS: dict[str, Blender] = {"alpha": alpha_blend, "seamless": seamless_clone}


def get_blender(name: str) -> Blender:
    """The blender called `name` (one of `BLENDERS`)."""
    try:
        return BLENDERS[name]
    except KeyError:
        raise ValueError(
            f"unknown blend method {name!r}; choose one of {sorted(BLENDERS)}"
        ) from None


def _check(face: np.ndarray, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    for name, image in (("face", face), ("frame", frame)):
        if (
            not isinstance(image, np.ndarray)
            or image.dtype != np.uint8
            or image.ndim != 3
            or image.shape[2] != 3
        ):
            got = (
                f"{image.dtype} {image.shape}"
                if isinstance(image, np.ndarray)
                else type(image).__name__
            )
            raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {got}")
    alpha = np.asarray(mask, dtype=np.float32)
    if face.shape != frame.shape or alpha.shape != frame.shape[:2]:
        raise ValueError(
            f"face {face.shape}, frame {frame.shape} and mask {alpha.shape} must share (H, W)"
        )
    return np.clip(alpha, 0.0, 1.0)
