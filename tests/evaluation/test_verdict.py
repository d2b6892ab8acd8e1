"""The verdict on known figures, and the detail measure on a real face: sharp, blurred,
untouched."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from faceswap_pipeline.evaluation.detail import (
    DETAIL_FACE_PX,
    detail_ratio,
    inner_face_detail,
    inner_face_mask,
    inner_faces,
)
from faceswap_pipeline.evaluation.verdict import (
    DETAIL_KEPT,
    DISTANCE_TO_TARGET,
    SHARE_NEARER_TARGET,
    VerdictThresholds,
    judge,
)
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.identity import landmarks68
from faceswap_pipeline.faces.quality import laplacian_variance
from faceswap_pipeline.video.decode import iter_frames


def test_all_three_criteria_must_hold():
    assert judge(0.95, 0.40, 0.8).convincing
    verdict = judge(0.95, 0.40, 0.8)
    assert verdict.text == "convincing" and verdict.to_dict()["failed"] == []


def test_each_failed_criterion_is_named_with_its_shortfall():
    verdict = judge(0.38, 0.65, 0.35)
    assert not verdict.convincing
    assert [c.metric for c in verdict.failed] == [
        SHARE_NEARER_TARGET,
        DISTANCE_TO_TARGET,
        DETAIL_KEPT,
    ]
    assert "38% of swapped faces" in verdict.text and "52% short" in verdict.text
    assert "0.65" in verdict.text and "0.20 too far" in verdict.text
    assert "keeps 0.35" in verdict.text and "0.25 short" in verdict.text
    as_json = verdict.to_dict()
    assert as_json["convincing"] is False and len(as_json["failed"]) == 3
    assert as_json["failed"][1] == {
        "metric": DISTANCE_TO_TARGET,
        "value": 0.65,
        "threshold": 0.45,
        "text": verdict.failed[1].text,
    }


def test_a_figure_that_was_not_measured_fails():
    verdict = judge(math.nan, None, 0.9)
    assert not verdict.convincing
    assert {c.metric for c in verdict.failed} == {SHARE_NEARER_TARGET, DISTANCE_TO_TARGET}
    assert all(c.value is None for c in verdict.failed)


def test_thresholds_are_parameters():
    lenient = VerdictThresholds(
        min_share_nearer_target=0.3, max_distance_to_target=0.7, min_detail_kept=0.3
    )
    assert judge(0.38, 0.65, 0.35, lenient).convincing
    assert judge(0.38, 0.65, 0.35, lenient).to_dict()["thresholds"]["min_detail_kept"] == 0.3


@pytest.fixture(scope="module")
def face(shared_videos):
    """A frame of single_d18 and its face's 68 landmarks."""
    frame = next(iter_frames(shared_videos / "single_d18.mp4", start_s=1.0)).rgb
    box = RetinaFaceDetector(det_size=320).detect([frame])[0].boxes[0]
    return frame, landmarks68(frame, box)


def test_detail_ratio_of_a_face_sharp_blurred_and_outside_the_face(face):
    frame, points = face
    assert detail_ratio(frame, frame, points) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(frame, (0, 0), 3.0)
    assert detail_ratio(blurred, frame, points) < 0.5
    # Only the inner face counts: blurring everything else changes nothing.
    mask = np.zeros(frame.shape[:2], bool)
    left, top = np.floor(points.min(axis=0)).astype(int) - 1
    inner = inner_face_mask(points - (left, top), (frame.shape[0] - top, frame.shape[1] - left))
    mask[top:, left:] = inner
    # The faces are compared shrunk to DETAIL_FACE_PX (~1/5 here), averaged over areas, and the
    # Laplacian reads one pixel around each: keep a ring of the original as wide as that reaches
    # (~5 shrunk pixels).
    keep = cv2.dilate(mask.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
    outside_blurred = np.where(keep[..., None], frame, blurred)
    assert detail_ratio(outside_blurred, frame, points) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same size"):
        detail_ratio(frame[:-1], frame, points)


def test_one_face_s_detail_is_the_ratio_s_measure_of_one_picture(face):
    """`inner_face_detail` (what differs between people, benchmarks/detail_between_people.py) is
    the measure whose ratio `detail_ratio` takes: a blur lowers it."""
    frame, points = face
    blurred = cv2.GaussianBlur(frame, (0, 0), 3.0)
    sharp, soft = inner_face_detail(frame, points), inner_face_detail(blurred, points)
    assert 0 < soft < sharp
    assert detail_ratio(blurred, frame, points) == pytest.approx(soft / sharp)


def test_detail_is_the_same_at_any_contrast_and_none_in_a_flat_face(face):
    """Detail is a share of the face's contrast: a face drawn at half its contrast (paler make-up,
    flatter light, a colour transfer that narrows the spread) is as sharp; a blur at any contrast
    is not; a flat face has none."""
    frame, points = face
    mean = frame.reshape(-1, 3).mean(axis=0)
    half_contrast = np.round((frame - mean) * 0.5 + mean).astype(np.uint8)
    assert detail_ratio(half_contrast, frame, points) == pytest.approx(1.0, abs=0.1)
    blurred = cv2.GaussianBlur(half_contrast, (0, 0), 3.0)
    assert detail_ratio(blurred, frame, points) < 0.5
    flat = np.empty_like(frame)
    flat[:] = np.round(mean).astype(np.uint8)
    assert detail_ratio(flat, frame, points) == 0.0


def test_two_people_s_sharp_faces_have_alike_detail(shared_videos):
    """d6 (eye make-up, strong light) and d18 (plain, soft light): the raw Laplacian variance of
    their untouched faces differs several times over, their detail as a share of the contrast does
    not, so a sharp swap of one onto the other is not failed for the other's make-up."""
    detector = RetinaFaceDetector(det_size=320)
    detail, raw = {}, {}
    for clip in ("person_a_d6.mp4", "single_d18.mp4"):
        shares, variances = [], []
        for frame in iter_frames(shared_videos / clip, start_s=1.0, end_s=6.0, sample_fps=1.0):
            points = landmarks68(frame.rgb, detector.detect([frame.rgb])[0].boxes[0])
            shares.append(inner_face_detail(frame.rgb, points))
            (shrunk,), mask = inner_faces([frame.rgb], points, DETAIL_FACE_PX)
            variances.append(laplacian_variance(shrunk, mask))
        detail[clip], raw[clip] = np.median(shares), np.median(variances)
    assert raw["person_a_d6.mp4"] / raw["single_d18.mp4"] > 2.5
    assert 1 / 1.6 < detail["person_a_d6.mp4"] / detail["single_d18.mp4"] < 1.6
