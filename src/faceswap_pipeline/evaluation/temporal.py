"""Is the swap stable over time? Frame-to-frame change inside the face region, output against
source.

A viewer sees flicker as change between neighbouring frames that the original does not have. The
ratio of the output's change to the source's in the same region is 1.0 when the swap adds none.
"""

from __future__ import annotations

import numpy as np

from faceswap_pipeline.arrays import require_rgb_image

# ITU-R BT.601 luma weights: flicker is seen in brightness more than in colour.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _check_frame(frame: np.ndarray, name: str) -> None:
    require_rgb_image(frame, f"{name} must be an (H, W, 3) uint8 RGB frame")


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """A box ``x0, y0, x1, y1`` (float pixels) as whole pixels inside a ``width`` x ``height``
    frame, or None when nothing of it is inside."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64).reshape(4)
    left, top = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def region_change(previous: np.ndarray, current: np.ndarray, box: np.ndarray) -> float:
    """Mean absolute change of brightness between two frames inside a box.

    Args:
        previous, current: ``(H, W, 3)`` uint8 RGB frames of one size.
        box: ``x0, y0, x1, y1`` frame pixels (clipped to the frame).

    Returns:
        The mean of ``|luma(current) - luma(previous)|`` in the box, in [0, 255]; NaN when the box
        lies outside the frame.
    """
    _check_frame(previous, "previous")
    _check_frame(current, "current")
    if previous.shape != current.shape:
        raise ValueError(f"frames differ in size: {previous.shape} vs {current.shape}")
    clipped = clip_box(box, current.shape[1], current.shape[0])
    if clipped is None:
        return float("nan")
    left, top, right, bottom = clipped
    before = previous[top:bottom, left:right].astype(np.float32) @ _LUMA
    after = current[top:bottom, left:right].astype(np.float32) @ _LUMA
    return float(np.abs(after - before).mean())


def flicker_ratio(output_changes: np.ndarray, source_changes: np.ndarray) -> float:
    """How much more the output changes between frames than the source, in the same face regions.

    Args:
        output_changes: ``(T,)`` per-frame ``region_change`` of the output (NaN: no face, skipped).
        source_changes: ``(T,)`` the same for the source video.

    Returns:
        ``sum(output) / sum(source)`` over frames where both are known: 1.0 = no added flicker,
        above 1 = the swap flickers; NaN when no frame counts or the source never changes.
    """
    output_changes = np.asarray(output_changes, dtype=np.float64)
    source_changes = np.asarray(source_changes, dtype=np.float64)
    if output_changes.shape != source_changes.shape or output_changes.ndim != 1:
        raise ValueError(
            "output_changes and source_changes must be (T,) arrays of one length, got"
            f" {output_changes.shape} and {source_changes.shape}"
        )
    known = np.isfinite(output_changes) & np.isfinite(source_changes)
    source_total = source_changes[known].sum()
    if not known.any() or source_total <= 0:
        return float("nan")
    return float(output_changes[known].sum() / source_total)
