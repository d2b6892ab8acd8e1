"""Tracking: IoU linking frame to frame, tracks surviving short misses, and ending at shot cuts."""

from __future__ import annotations

import numpy as np
import pytest

from faceswap_pipeline.faces.tracking import IouTracker, ShotCutDetector, box_iou


def test_box_iou():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    iou = box_iou(boxes, boxes)
    assert iou[0, 0] == 1.0 and iou[0, 2] == 0.0
    assert iou[0, 1] == pytest.approx(50 / 150)


def test_moving_faces_keep_their_ids_and_new_ones_get_new_ids():
    tracker = IouTracker(iou_threshold=0.3, max_missed=2)
    first = tracker.update(np.array([[0, 0, 50, 50], [200, 0, 250, 50]], float))
    second = tracker.update(
        np.array([[205, 3, 255, 53], [4, 2, 54, 52], [400, 400, 450, 450]], float)
    )
    assert list(second[:2]) == [first[1], first[0]]
    assert second[2] not in first


def test_a_track_survives_short_misses_then_closes():
    tracker = IouTracker(iou_threshold=0.3, max_missed=2)
    (face,) = tracker.update(np.array([[0, 0, 50, 50]], float))
    tracker.update(np.zeros((0, 4)))
    tracker.update(np.zeros((0, 4)))
    assert tracker.update(np.array([[2, 2, 52, 52]], float))[0] == face
    for _ in range(3):
        tracker.update(np.zeros((0, 4)))
    assert tracker.update(np.array([[2, 2, 52, 52]], float))[0] != face


def test_shot_cut_ends_tracks():
    cuts = ShotCutDetector(threshold=20)
    dark, bright = np.full((90, 160, 3), 30, np.uint8), np.full((90, 160, 3), 200, np.uint8)
    assert not cuts.is_cut(dark)
    assert not cuts.is_cut(dark + 3)
    assert cuts.is_cut(bright)
    tracker = IouTracker()
    (face,) = tracker.update(np.array([[0, 0, 50, 50]], float))
    tracker.end_all()
    assert tracker.update(np.array([[0, 0, 50, 50]], float))[0] != face


def test_bad_parameters():
    with pytest.raises(ValueError, match="iou_threshold"):
        IouTracker(iou_threshold=0)
    with pytest.raises(ValueError, match="max_missed"):
        IouTracker(max_missed=-1)
