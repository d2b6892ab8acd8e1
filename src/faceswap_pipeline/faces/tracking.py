"""Linking detections frame to frame into tracks, by box overlap (IoU), greedily best pair first.

Talking-head and interview footage moves little between sampled frames; a track survives a few
frames without a match (a missed detection, a hand in front of the face) before it is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceswap_pipeline.arrays import require_rgb_image


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Args:
        boxes_a: ``(N, 4)`` ``x0, y0, x1, y1``.
        boxes_b: ``(M, 4)``.

    Returns:
        ``(N, M)`` float64 in [0, 1].
    """
    boxes_a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = np.clip(boxes_a[:, 2:] - boxes_a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(boxes_b[:, 2:] - boxes_b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    missed: int = 0


class IouTracker:
    """Assigns a track id to each detection of each successive frame.

    Args:
        iou_threshold: a detection continues a track when their boxes overlap at least this much.
        max_missed: frames a track may go unmatched before it is closed.
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5):
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0 frames, got {max_missed}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._next_id = 0

    def end_all(self) -> None:
        """Close every open track (at a shot cut): the next faces start new tracks."""
        self._tracks = []

    def update(self, boxes: np.ndarray) -> np.ndarray:
        """Match one frame's boxes to the open tracks.

        Args:
            boxes: ``(N, 4)`` ``x0, y0, x1, y1`` of this frame's detections.

        Returns:
            ``(N,)`` int64 track ids (new ids for faces that continue no track).
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        matched_tracks: set[int] = set()
        if self._tracks and len(boxes):
            overlaps = box_iou(np.stack([track.box for track in self._tracks]), boxes)
            for flat in np.argsort(-overlaps, axis=None):
                slot, detection = np.unravel_index(flat, overlaps.shape)
                if overlaps[slot, detection] < self.iou_threshold:
                    break
                if slot in matched_tracks or track_ids[detection] >= 0:
                    continue
                track = self._tracks[slot]
                track.box, track.missed = boxes[detection], 0
                track_ids[detection] = track.track_id
                matched_tracks.add(int(slot))
        for slot, track in enumerate(self._tracks):
            if slot not in matched_tracks:
                track.missed += 1
        self._tracks = [track for track in self._tracks if track.missed <= self.max_missed]
        for detection in np.flatnonzero(track_ids < 0):
            track_ids[detection] = self._next_id
            self._tracks.append(_Track(self._next_id, boxes[detection]))
            self._next_id += 1
        return track_ids


class ShotCutDetector:
    """Flags a shot cut when a frame differs from the previous one as a whole.

    Faces at the same place on both sides of a cut overlap, but are rarely the same person: tracks
    must end at cuts. The measure is the mean absolute difference of 32 x 32 grey thumbnails
    (0-255); within a shot it stays near 1-5 even with motion, across a cut it jumps past 25.

    Args:
        threshold: the difference above which a cut is declared (``<= 0``: never).
    """

    def __init__(self, threshold: float = 20.0):
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, image: np.ndarray) -> bool:
        """Whether ``image`` (``(H, W, 3)`` uint8 RGB) starts a new shot (the first frame does
        not)."""
        import cv2

        require_rgb_image(image, "is_cut() takes an (H, W, 3) uint8 RGB image")
        grey = cv2.cvtColor(
            cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY
        )
        thumbnail = grey.astype(np.float32)
        previous, self._previous = self._previous, thumbnail
        if previous is None or self.threshold <= 0:
            return False
        return float(np.abs(thumbnail - previous).mean()) > self.threshold
