"""A contact sheet: a grid of face crops under a few lines of text, to judge an extraction at a
glance."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from faceswap_pipeline.arrays import require_rgb_image

_BACKGROUND = (32, 32, 32)
_TEXT_COLOUR = (235, 235, 235)
_LINE_HEIGHT = 22


def _text_block(lines: Sequence[str], width: int) -> np.ndarray:
    block = np.full((_LINE_HEIGHT * len(lines) + 8, width, 3), _BACKGROUND, dtype=np.uint8)
    for row, line in enumerate(lines):
        cv2.putText(
            block,
            line,
            (8, _LINE_HEIGHT * (row + 1) - 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            _TEXT_COLOUR,
            1,
            cv2.LINE_AA,
        )
    return block


def contact_sheet(
    sections: Sequence[tuple[str, Sequence[np.ndarray], Sequence[str]]],
    header: Sequence[str],
    *,
    columns: int = 10,
    thumbnail_size: int = 96,
) -> np.ndarray:
    """Lay crops out in titled grids under a text header.

    Args:
        sections: ``(title, crops, captions)``: crops are ``(S, S, 3)`` uint8 RGB (any S), captions
            one short text per crop (or empty).
        header: lines of text at the top (counts, settings).
        columns: thumbnails per row.
        thumbnail_size: side of each thumbnail in pixels.

    Returns:
        ``(H, W, 3)`` uint8 RGB image.
    """
    if columns < 1 or thumbnail_size < 8:
        raise ValueError(
            f"columns must be >= 1 and thumbnail_size >= 8, got {columns}, {thumbnail_size}"
        )
    width = columns * thumbnail_size
    parts = [_text_block(header, width)]
    for title, crops, captions in sections:
        parts.append(_text_block([title], width))
        if not crops:
            parts.append(_text_block(["(none)"], width))
            continue
        rows = -(-len(crops) // columns)
        grid = np.full((rows * thumbnail_size, width, 3), _BACKGROUND, dtype=np.uint8)
        for i, crop in enumerate(crops):
            require_rgb_image(crop, f"crop {i} of section {title!r} must be (S, S, 3) uint8 RGB")
            thumbnail = cv2.resize(
                crop, (thumbnail_size, thumbnail_size), interpolation=cv2.INTER_AREA
            )
            caption = captions[i] if i < len(captions) else ""
            if caption:
                thumbnail[-14:] = (thumbnail[-14:] * 0.35).astype(
                    np.uint8
                )  # a dark strip keeps the text legible
                cv2.putText(
                    thumbnail,
                    caption,
                    (3, thumbnail_size - 4),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.33,
                    (255, 255, 255),
                    1,
                    cv2.LINE_AA,
                )
            row, column = divmod(i, columns)
            grid[
                row * thumbnail_size : (row + 1) * thumbnail_size,
                column * thumbnail_size : (column + 1) * thumbnail_size,
            ] = thumbnail
        parts.append(grid)
    return np.vstack(parts)
