"""The metric functions on known cases: synthetic points and poses, then real frames of
single_d18."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceswap_pipeline.evaluation.identity import identity_scores
from faceswap_pipeline.evaluation.landmarks import (
    inter_ocular_distance,
    landmark_error,
    landmark_jitter,
)
from faceswap_pipeline.evaluation.pose import (
    MEAN_FACE_3D,
    POSE_LANDMARKS,
    angle_difference,
    angles_to_rotation,
    camera_matrix,
    head_pose,
)
from faceswap_pipeline.evaluation.temporal import flicker_ratio, region_change
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.identity import landmarks68
from faceswap_pipeline.video.decode import iter_frames


def _face_points() -> np.ndarray:
    """68 points of a plausible face: eyes 100 px apart (outer corners 36 and 45)."""
    rng = np.random.default_rng(0)
    points = rng.uniform(100, 300, size=(68, 2))
    points[36], points[45] = (150.0, 180.0), (250.0, 180.0)
    return points


def test_landmark_error_of_a_known_shift_is_the_shift_over_the_eye_distance():
    points = _face_points()
    assert inter_ocular_distance(points) == pytest.approx(100.0)
    assert landmark_error(points, points) == 0.0
    assert landmark_error(points + [3.0, 4.0], points) == pytest.approx(5.0 / 100.0)
    batch = np.stack([points, points + [6.0, 8.0]])
    np.testing.assert_allclose(landmark_error(batch, np.stack([points, points])), [0.0, 0.1])


def test_landmark_error_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="68, 2"):
        landmark_error(np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="differ in shape"):
        landmark_error(np.zeros((2, 68, 2)), np.zeros((68, 2)))


def test_jitter_is_zero_for_steady_motion_and_measures_back_and_forth():
    points = _face_points()
    steady = np.stack([points + [2.0 * t, 0.0] for t in range(6)])
    jitter = landmark_jitter(steady)
    assert np.isnan(jitter[0]) and np.isnan(jitter[-1])
    np.testing.assert_allclose(jitter[1:-1], 0.0, atol=1e-12)
    # Points jumping ±1 px each frame: second difference 4 px, / 100 px eye distance.
    shaking = np.stack([points + [(-1.0) ** t, 0.0] for t in range(6)])
    np.testing.assert_allclose(landmark_jitter(shaking)[1:-1], 0.04)
    # A missing face (NaN) leaves its neighbours unmeasured, not zero.
    steady[3] = np.nan
    assert np.isnan(landmark_jitter(steady)[2:5]).all()


def _projected_face(yaw: float, pitch: float, roll: float, size=(640, 480)) -> np.ndarray:
    """68 landmarks whose pose points are the mean face turned by the angles, 60 cm from the
    camera."""
    rotation_vector = cv2.Rodrigues(angles_to_rotation(yaw, pitch, roll))[0]
    projected = cv2.projectPoints(
        MEAN_FACE_3D,
        rotation_vector,
        np.array([0.0, 0.0, 600.0]),
        camera_matrix(size),
        np.zeros(4),
    )[0].reshape(-1, 2)
    points = np.full((68, 2), 320.0)
    points[list(POSE_LANDMARKS)] = projected
    return points


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (25.0, -10.0, 5.0), (-30.0, 15.0, -12.0)])
def test_head_pose_recovers_a_known_rotation(angles):
    estimated = head_pose(_projected_face(*angles), (640, 480))
    np.testing.assert_allclose(estimated, angles, atol=0.5)


def test_angle_difference_wraps_around():
    assert angle_difference(179.0, -179.0) == pytest.approx(2.0)
    np.testing.assert_allclose(angle_difference([10.0, -5.0], [4.0, 5.0]), [6.0, 10.0])


def test_head_pose_of_a_real_face_rotated_in_the_image_plane(d18):
    """Rotating a real frame by 15° about the face turns the roll by 15° and leaves yaw and pitch
    alone."""
    frame = next(iter_frames(d18)).rgb
    detector = RetinaFaceDetector(det_size=320)
    box = detector.detect([frame])[0].boxes[0]
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    rotated = cv2.warpAffine(
        frame,
        cv2.getRotationMatrix2D(centre, 15.0, 1.0),
        frame.shape[1::-1],
        borderMode=cv2.BORDER_REPLICATE,
    )
    rotated_box = detector.detect([rotated])[0].boxes[0]
    size = (frame.shape[1], frame.shape[0])
    upright = head_pose(landmarks68(frame, box), size)
    turned = head_pose(landmarks68(rotated, rotated_box), size)
    # cv2 turns the picture anticlockwise for a positive angle: the face's roll changes by -15°.
    assert turned[2] - upright[2] == pytest.approx(-15.0, abs=2.0)
    # Yaw and pitch stay put to within the estimator's noise: dlib's landmarks on the turned picture
    # are not exactly the upright ones turned (1.0° of yaw here; the six-point model with the mouth
    # corners and chin swung 4.2°).
    assert angle_difference(turned[:2], upright[:2]).max() < 2.5


def test_identity_scores_are_distances_to_each_person_s_centre():
    target = np.zeros((2, 128))
    target[1, 0] = 1.0  # centre (0.5, 0, ...); each reference lies 0.5 from it
    source = np.zeros((1, 128))
    source[0, 1] = 2.0
    faces = np.zeros((3, 128))
    faces[1, 1] = 1.8  # near the source
    faces[2, 0] = 0.9  # near the target
    scores = identity_scores(faces, target, source)
    to_target = [0.5, np.hypot(0.5, 1.8), 0.4]
    to_source = [2.0, 0.2, np.hypot(0.9, 2.0)]
    np.testing.assert_allclose(scores.distance_to_target, to_target)
    np.testing.assert_allclose(scores.distance_to_source, to_source)
    assert scores.share_closer_to_target == pytest.approx(2 / 3)
    assert scores.mean_distance_to_target == pytest.approx(np.mean(to_target))
    assert scores.target_spread == pytest.approx(0.5)
    assert scores.margin == pytest.approx(np.mean(np.subtract(to_source, to_target)))
    empty = identity_scores(np.zeros((0, 128)), target, source)
    assert np.isnan(empty.share_closer_to_target) and np.isnan(empty.margin)
    assert empty.target_spread == pytest.approx(0.5)
    with pytest.raises(ValueError, match="target_references"):
        identity_scores(faces, np.zeros((0, 128)), source)


def test_region_change_and_flicker_ratio():
    previous = np.zeros((40, 40, 3), np.uint8)
    current = previous.copy()
    current[10:20, 10:20] = 100  # a grey square appears: luma 100 on a quarter of the box
    assert region_change(previous, current, np.array([10, 10, 20, 20])) == pytest.approx(
        100.0, abs=0.1
    )
    assert region_change(previous, current, np.array([0, 0, 20, 20])) == pytest.approx(
        25.0, abs=0.1
    )
    assert np.isnan(region_change(previous, current, np.array([50, 50, 60, 60])))
    assert flicker_ratio(np.array([2.0, 4.0, np.nan]), np.array([2.0, 4.0, 1.0])) == 1.0
    assert flicker_ratio(np.array([4.0, 8.0]), np.array([2.0, 4.0])) == 2.0
    assert np.isnan(flicker_ratio(np.array([1.0]), np.array([0.0])))


@pytest.mark.parametrize(
    ("clip", "start_s", "end_s"), [("person_a_d6.mp4", 32.5, 32.8), ("person_b_d9.mp4", 17.6, 18.7)]
)
def test_head_pose_of_a_talking_head_stays_upright(shared_videos, clip, start_s, end_s):
    """Frames where a solver without a frontal start found an upside-down face (roll ~180°) or a yaw
    60°
    off: these people talk to the camera, so every pose must stay near upright."""
    detector = RetinaFaceDetector(det_size=320)
    poses = []
    for frame in iter_frames(shared_videos / clip, start_s=start_s, end_s=end_s, sample_fps=10.0):
        box = detector.detect([frame.rgb])[0].boxes[0]
        poses.append(
            head_pose(landmarks68(frame.rgb, box), (frame.rgb.shape[1], frame.rgb.shape[0]))
        )
    yaw, pitch, roll = np.array(poses).T
    assert len(poses) >= 3
    assert np.abs(roll).max() < 20 and np.abs(pitch).max() < 30 and np.abs(yaw).max() < 35


@pytest.mark.parametrize(
    ("time_s", "expression"),
    [(26.13, "round open mouth, wide eyes"), (28.90, "lips pulled down to one side")],
)
def test_head_pose_does_not_read_an_expression_as_a_head_turn(shared_videos, time_s, expression):
    """Frames 784 and 867 of d6's face-pulling clip: a head facing the camera, pulling a face. A
    model with the mouth corners and chin read them as turned 33° and 26°; the rigid points read
    them frontal."""
    frame = next(iter_frames(shared_videos / "person_a_d6.mp4", start_s=time_s)).rgb
    box = RetinaFaceDetector(det_size=320).detect([frame])[0].boxes[0]
    yaw, pitch, roll = head_pose(landmarks68(frame, box), (frame.shape[1], frame.shape[0]))
    assert abs(yaw) < 10, f"{expression}: yaw {yaw:.1f}°"
    assert abs(pitch) < 15 and abs(roll) < 15, f"{expression}: pitch {pitch:.1f}°, roll {roll:.1f}°"
