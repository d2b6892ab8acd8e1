"""The streaming evaluator on real clips: an unswapped video scores as the source, a shifted one as
its shift."""

from __future__ import annotations

import numpy as np
import pytest

from faceswap_pipeline.evaluation.identity import identity_spread
from faceswap_pipeline.evaluation.landmarks import inter_ocular_distance
from faceswap_pipeline.evaluation.summary import metrics_table, video_metrics
from faceswap_pipeline.evaluation.verdict import (
    DETAIL_KEPT,
    DISTANCE_TO_TARGET,
    SHARE_NEARER_TARGET,
    judge_metrics,
)
from faceswap_pipeline.evaluation.video import (
    PER_FRAME_COLUMNS,
    VideoEvaluationSettings,
    evaluate_swapped_video,
    spread_positions,
)
from tests.helpers.derived_clips import CLIP_END_S, CLIP_FRAMES, SHIFT_PX

SETTINGS = VideoEvaluationSettings(max_described_faces=4, report={"frames": 2})


@pytest.fixture(scope="module")
def unswapped(d18, unswapped_clip, identities):
    return evaluate_swapped_video(
        d18,
        unswapped_clip,
        identities["d9"],
        identities["d18"],
        end_s=CLIP_END_S,
        settings=SETTINGS,
    )


def test_an_unswapped_video_scores_as_the_source(unswapped):
    table = unswapped.per_frame
    assert list(table.columns) == PER_FRAME_COLUMNS
    assert (
        len(table) == CLIP_FRAMES and table["face_found"].all() and table["output_face_found"].all()
    )
    metrics = video_metrics(table)
    # Identity: the man of single_d18, never the target (person B of d9).
    assert metrics["identity/described_faces"] == 4
    assert metrics["identity/share_closer_to_target"] == 0.0
    assert (
        metrics["identity/mean_distance_to_source"]
        < 0.45
        < metrics["identity/mean_distance_to_target"]
    )
    # Landmarks and pose as the source's; only compression separates them.
    assert metrics["landmarks/error"] < 0.01
    assert metrics["pose/error_deg"] < 1.0
    # The face is untouched: all its detail is kept (the re-encode at crf 14 loses a little).
    assert 0.85 < metrics["detail/sharpness_ratio"] <= 1.05
    # No added flicker or jitter (a re-encode at crf 14 changes each frame by a fraction of a
    # level).
    assert metrics["temporal/flicker_ratio"] == pytest.approx(1.0, abs=0.05)
    assert metrics["temporal/jitter_ratio"] == pytest.approx(1.0, abs=0.2)
    assert metrics["coverage/swapped_share"] == 1.0
    assert len(unswapped.report_frames) == 2
    pair = next(iter(unswapped.report_frames.values()))
    assert pair.shape == (240, 480, 3) and pair.dtype == np.uint8
    assert set(metrics_table(metrics)["metric"]) == set(metrics)


def test_the_same_video_gives_exactly_zero_error_and_a_flicker_ratio_of_one(d18, identities):
    """The source itself as the output: every difference is exactly zero."""
    result = evaluate_swapped_video(
        d18,
        d18,
        identities["d9"],
        identities["d18"],
        swapped=[True] * 216,
        settings=VideoEvaluationSettings(max_described_faces=1, report={"frames": 0}),
    )
    metrics = video_metrics(result.per_frame)
    assert metrics["landmarks/error"] == 0.0
    assert metrics["pose/error_deg"] == 0.0
    assert metrics["temporal/flicker_ratio"] == 1.0


def test_a_shifted_video_gives_the_matching_landmark_error(d18, shifted_clip, identities):
    result = evaluate_swapped_video(
        d18,
        shifted_clip,
        identities["d9"],
        identities["d18"],
        end_s=CLIP_END_S,
        settings=VideoEvaluationSettings(max_described_faces=1, report={"frames": 0}),
    )
    table = result.per_frame
    assert table["output_face_found"].all()
    # Every landmark moved by the shift: the error is its length over the source's eye distance.
    expected = np.hypot(*SHIFT_PX) / inter_ocular_distance(result.landmarks_source)
    np.testing.assert_allclose(table["landmark_error"], expected, rtol=0.15)
    displacement = np.nanmean(result.landmarks_output - result.landmarks_source, axis=(0, 1))
    np.testing.assert_allclose(displacement, SHIFT_PX, atol=1.0)
    metrics = video_metrics(table)
    # A rigid shift keeps the pose (the camera model sees a slightly different direction, ~1°) and
    # adds no flicker.
    assert metrics["pose/error_deg"] < 2.0
    assert metrics["temporal/flicker_ratio"] == pytest.approx(1.0, abs=0.1)


def test_only_swapped_frames_are_measured_and_sampled(d18, unswapped_clip, identities):
    swapped = [10 <= position < 20 for position in range(CLIP_FRAMES)]
    result = evaluate_swapped_video(
        d18,
        unswapped_clip,
        identities["d9"],
        identities["d18"],
        swapped=swapped,
        end_s=CLIP_END_S,
        settings=VideoEvaluationSettings(max_described_faces=3, report={"frames": 1}),
    )
    described = result.per_frame.dropna(subset=["distance_to_target"])["position"].tolist()
    assert len(described) == 3 and all(10 <= p < 20 for p in described)
    assert list(result.report_frames) == ["000015"]
    assert video_metrics(result.per_frame)["coverage/swapped_share"] == pytest.approx(
        10 / CLIP_FRAMES
    )


def test_a_report_that_does_not_match_the_video_is_refused(d18, unswapped_clip, identities):
    with pytest.raises(ValueError, match="do not belong together"):
        evaluate_swapped_video(
            d18,
            unswapped_clip,
            identities["d9"],
            identities["d18"],
            swapped=[True] * 10,
            end_s=CLIP_END_S,
            settings=SETTINGS,
        )
    with pytest.raises(ValueError, match="fewer frames"):
        evaluate_swapped_video(
            d18, unswapped_clip, identities["d9"], identities["d18"], settings=SETTINGS
        )


def test_spread_positions():
    assert spread_positions(range(10), 2) == [2, 7]
    assert spread_positions([3, 4], 5) == [3, 4]
    assert spread_positions([], 3) == []


def test_a_blurred_copy_of_the_source_is_not_convincing(d18, blurred_clip, identities):
    """A blur follows pose and expression perfectly; the verdict still names detail and identity."""
    result = evaluate_swapped_video(
        d18, blurred_clip, identities["d9"], identities["d18"], end_s=CLIP_END_S, settings=SETTINGS
    )
    metrics = video_metrics(result.per_frame, target_spread=identity_spread(identities["d9"]))
    assert metrics["detail/sharpness_ratio"] < 0.3
    verdict = judge_metrics(metrics)
    assert not verdict.convincing
    failed = {criterion.metric for criterion in verdict.failed}
    assert DETAIL_KEPT in failed
    assert {SHARE_NEARER_TARGET, DISTANCE_TO_TARGET} & failed
    assert verdict.text.startswith("not convincing yet: ") and "blurred" in verdict.text


def test_the_target_s_own_frames_pass_identity(d18, unswapped_clip, identities):
    """d18's own frames judged as if d18 were the target: nearer it, within its spread, sharp:
    convincing."""
    result = evaluate_swapped_video(
        d18,
        unswapped_clip,
        identities["d18"],
        identities["d9"],
        end_s=CLIP_END_S,
        settings=SETTINGS,
    )
    metrics = video_metrics(result.per_frame, target_spread=identity_spread(identities["d18"]))
    assert metrics["identity/share_closer_to_target"] == 1.0
    assert metrics["identity/mean_distance_to_target"] <= 0.45
    assert metrics["identity/margin"] > 0.3
    assert judge_metrics(metrics).convincing, judge_metrics(metrics).text
