"""Head pose (yaw, pitch, roll) from 68 landmarks: cv2.solvePnP on the rigid points of a mean face.

Only points that no expression moves are fitted: the four eye corners and five points of the nose.
The usual six-point model (nose tip, chin, outer eye corners, mouth corners; S. Mallick, "Head Pose
Estimation using OpenCV and Dlib", LearnOpenCV 2016), which this module used until 2026-12-07, reads
expressions as head turns: on d6's face-pulling clip a frontal head with a round open mouth read 33°
of yaw (this model: 3°), a head turned a little with the mouth pulled aside 23-25° (this model:
7-9°), and its frame-to-frame yaw changed by a median 2.1° against 0.5° here (benchmarks/README.md,
"The pose measure").

The 3D points are in millimetres in the camera's axes (x right, y down, z away from the camera),
origin the nose tip, so a face looking straight into the camera has yaw, pitch and roll 0. Widths
are adult anthropometric means (outer eye corners 90 mm apart, inner ones 32 mm; L. G. Farkas,
"Anthropometry of the Head and Face", 1994); heights and depths agree with MediaPipe's canonical
face model to within ~6 mm (outer eye corners 44 mm behind the nose tip there, 45 mm here). The
camera is a pinhole with focal length the frame's longer side and no distortion: good for comparing
two faces in the same frame, not for absolute angles of a calibrated rig.
"""

from __future__ import annotations

import cv2
import numpy as np

# iBUG 300-W indices of the rigid points and where they sit on a mean head, in mm.
POSE_LANDMARKS = (27, 30, 31, 33, 35, 36, 39, 42, 45)
MEAN_FACE_3D = np.array(
    [
        [0.0, -40.0, 22.0],  # top of the nose bridge, between the eyes
        [0.0, 0.0, 0.0],  # nose tip
        [-13.0, 10.0, 22.0],  # nostril's outer edge, image's left
        [0.0, 12.0, 18.0],  # base of the nose, between the nostrils
        [13.0, 10.0, 22.0],  # nostril's outer edge, image's right
        [-45.0, -35.0, 45.0],  # outer corner of the eye on the image's left
        [-16.0, -36.0, 33.0],  # inner corner of that eye
        [16.0, -36.0, 33.0],  # inner corner of the eye on the image's right
        [45.0, -35.0, 45.0],  # outer corner of that eye
    ],
    dtype=np.float64,
)
# Rows of MEAN_FACE_3D: the nose tip and the two outer eye corners, which give the starting guess.
_NOSE_TIP, _OUTER_EYE_LEFT, _OUTER_EYE_RIGHT = 1, 5, 8


def camera_matrix(image_size: tuple[int, int]) -> np.ndarray:
    """The assumed pinhole camera for a frame of ``(width, height)`` pixels: ``(3, 3)`` float64."""
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size must be (width, height) > 0, got {image_size}")
    focal = float(max(width, height))
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def rotation_to_angles(rotation: np.ndarray) -> np.ndarray:
    """Euler angles of ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``: ``(3,)`` float64 degrees (yaw, pitch,
    roll)."""
    pitch, yaw, roll = cv2.RQDecomp3x3(np.asarray(rotation, dtype=np.float64))[0]
    return np.array([yaw, pitch, roll], dtype=np.float64)


def angles_to_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` for angles in degrees: ``(3, 3)`` float64."""
    a, b, c = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Yaw, pitch and roll of a face from its 68 landmarks.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` frame pixels (dlib's iBUG 300-W layout).
        image_size: the frame's ``(width, height)`` in pixels.

    Returns:
        ``(3,)`` float64 degrees ``(yaw, pitch, roll)``: yaw turns about the vertical axis, pitch
        about the horizontal one, roll in the image plane; NaN when the landmarks hold NaN or PnP
        fails.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2) points, got shape {points.shape}")
    return fit_face_model(
        points[list(POSE_LANDMARKS)],
        MEAN_FACE_3D,
        image_size,
        nose_tip=_NOSE_TIP,
        outer_eye_corners=(_OUTER_EYE_LEFT, _OUTER_EYE_RIGHT),
    )


def fit_face_model(
    image_points: np.ndarray,
    model_points: np.ndarray,
    image_size: tuple[int, int],
    *,
    nose_tip: int,
    outer_eye_corners: tuple[int, int],
) -> np.ndarray:
    """Yaw, pitch and roll of a 3D face model fitted to where its points lie in a frame.

    Args:
        image_points: ``(N, 2)`` frame pixels of the model's points, in the model's order.
        model_points: ``(N, 3)`` the points on the model (x right, y down, z away from the camera).
        image_size: the frame's ``(width, height)`` in pixels.
        nose_tip: the row of the nose tip; outer_eye_corners: the rows of the outer eye corners
            (the image's left one first). They place the solver's frontal start.

    Returns:
        ``(3,)`` float64 degrees ``(yaw, pitch, roll)``; NaN when a point is NaN or PnP fails.
    """
    image_points = np.asarray(image_points, dtype=np.float64)
    if not np.isfinite(image_points).all():
        return np.full(3, np.nan)
    camera = camera_matrix(image_size)
    focal, centre = camera[0, 0], camera[:2, 2]
    left, right = outer_eye_corners
    eye_distance = np.linalg.norm(image_points[left] - image_points[right])
    if eye_distance <= 0:
        return np.full(3, np.nan)
    # Start from a frontal face at the distance its eye span implies: without a start, the iterative
    # solver sometimes lands in a wrong minimum (a face upside down, or turned 40° the wrong way).
    depth = focal * (model_points[right, 0] - model_points[left, 0]) / eye_distance
    translation = np.append((image_points[nose_tip] - centre) * depth / focal, depth).reshape(3, 1)
    found, rotation_vector, _ = cv2.solvePnP(
        np.asarray(model_points, dtype=np.float64),
        image_points,
        camera,
        np.zeros(4),
        np.zeros((3, 1)),
        translation,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not found:
        return np.full(3, np.nan)
    return rotation_to_angles(cv2.Rodrigues(rotation_vector)[0])


def angle_difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Absolute differences of angles in degrees, wrapped into [0, 180] (inputs of any equal
    shape)."""
    difference = (
        np.abs(np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)) % 360.0
    )
    return np.minimum(difference, 360.0 - difference)
