r"""Does the head pose read a pulled face as a turned head? The evaluation's pose (the rigid points
of a mean face: eye corners and nose) against the six-point model it replaced on 2026-12-07 (nose
tip, chin, outer eye corners, mouth corners; S. Mallick, LearnOpenCV 2016), on the same dlib
landmarks.

Per clip, every frame's largest face: the yaw's spread, its change from one frame to the next (a
talking head turns a degree or two between frames; points that move with the mouth swing the yaw
further), its correlation with the mouth's opening, and the frames each model reads most turned.
With `--swapped`, a converted video of the first clip: its faces against the source's in the same
frames (the output face is the detection that overlaps the source's most), the pose error of each
model per angle and how much of the source's yaw the swapped faces follow. Prints; asserts nothing.

    .venv/bin/python benchmarks/pose_measure.py [--clips person_a_d6.mp4 person_b_d9.mp4 ...] \
        [--swapped data/07_model_output/swapped.mp4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from shared_faces import SHARED_VIDEOS, log_warnings_only

from faceswap_pipeline.evaluation.pose import angle_difference, fit_face_model, head_pose
from faceswap_pipeline.evaluation.settings import EvaluationDetectionSettings
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.identity import landmarks68
from faceswap_pipeline.faces.tracking import box_iou
from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.probe import probe_video

# The model the evaluation used before: iBUG indices and 3D points (units ~0.1 mm, same axes).
SIX_POINT_LANDMARKS = (30, 8, 36, 45, 48, 54)
SIX_POINT_FACE_3D = np.array(
    [
        [0.0, 0.0, 0.0],  # nose tip
        [0.0, 330.0, 65.0],  # chin
        [-225.0, -170.0, 135.0],  # outer eye corners
        [225.0, -170.0, 135.0],
        [-150.0, 150.0, 125.0],  # mouth corners
        [150.0, 150.0, 125.0],
    ]
)
NO_FACE = np.full((68, 2), np.nan)
MATCH_IOU = EvaluationDetectionSettings().match_iou  # the evaluation's: the swapped face's twin


def six_point_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The replaced model's ``(yaw, pitch, roll)`` in degrees, from the same frontal start."""
    return fit_face_model(
        landmarks[list(SIX_POINT_LANDMARKS)],
        SIX_POINT_FACE_3D,
        image_size,
        nose_tip=0,
        outer_eye_corners=(2, 3),
    )


def clip_landmarks(
    detector: RetinaFaceDetector, clip: Path, swapped: Path | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``(frames, 68, 2)`` landmarks of each frame's largest face in ``clip`` (NaN: none) and of its
    twin in ``swapped`` (all NaN without one), and the frame size ``(width, height)``."""
    if swapped and probe_video(swapped).frame_count != probe_video(clip).frame_count:
        raise SystemExit(
            f"{swapped} does not have {clip.name}'s frames: convert the whole clip "
            "(no conversion.start_s, duration_s or trims) and measure again"
        )
    source_points, swapped_points = [], []
    frames = iter_frames(clip)
    pairs = (
        zip(frames, iter_frames(swapped), strict=True) if swapped else ((f, None) for f in frames)
    )
    size = (0, 0)
    for frame, output in pairs:
        size = (frame.rgb.shape[1], frame.rgb.shape[0])
        found = detector.detect([frame.rgb] + ([output.rgb] if output else []))
        if not len(found[0].boxes):
            source_points.append(NO_FACE)
            swapped_points.append(NO_FACE)
            continue
        boxes = found[0].boxes
        box = boxes[int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))]
        source_points.append(landmarks68(frame.rgb, box).astype(np.float64))
        twin = NO_FACE
        if output and len(found[1].boxes):
            overlaps = box_iou(box[None], found[1].boxes)[0]
            if overlaps.max() >= MATCH_IOU:
                twin = landmarks68(output.rgb, found[1].boxes[int(overlaps.argmax())])
        swapped_points.append(np.asarray(twin, dtype=np.float64))
    return np.array(source_points), np.array(swapped_points), size


def poses(points: np.ndarray, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """``(frames, 3)`` yaw, pitch, roll in degrees by each model."""
    return {
        "rigid points (now)": np.array([head_pose(p, size) for p in points]),
        "six points (before)": np.array([six_point_pose(p, size) for p in points]),
    }


def describe_clip(name: str, points: np.ndarray, by_model: dict[str, np.ndarray]) -> None:
    """One clip's yaw by each model; ``by_model``: ``poses(points, size)``."""
    eye_span = np.linalg.norm(points[:, 45] - points[:, 36], axis=1)
    mouth_open = np.linalg.norm(points[:, 66] - points[:, 62], axis=1) / eye_span
    print(f"\n{name}: {len(points)} frames, {np.isfinite(eye_span).sum()} with a face")
    for model, angles in by_model.items():
        yaw = angles[:, 0]
        step = np.abs(np.diff(yaw))
        known = np.isfinite(yaw)
        correlation = np.corrcoef(mouth_open[known], yaw[known])[0, 1]
        widest = np.argsort(-np.abs(np.nan_to_num(yaw)))[:3]
        print(
            f"  {model:20s} yaw {np.nanmean(yaw):5.1f} ± {np.nanstd(yaw):4.1f}° "
            f"(pitch ± {np.nanstd(angles[:, 1]):3.1f}, roll ± {np.nanstd(angles[:, 2]):3.1f}); "
            f"frame to frame {np.nanmedian(step):4.2f}° median, {np.nanpercentile(step, 95):5.2f}° "
            f"p95; r(mouth open, yaw) {correlation:+.2f}; most turned: "
            + ", ".join(f"frame {i} {yaw[i]:+.0f}°" for i in widest)
        )


def describe_swap(
    swapped: np.ndarray, by_source: dict[str, np.ndarray], by_swapped: dict[str, np.ndarray]
) -> None:
    """The swapped faces' poses against the source's, frame by frame, by each model."""
    print(f"\nswapped against source, {np.isfinite(swapped[:, 0, 0]).sum()} frames with both faces")
    for model, source_angles in by_source.items():
        swapped_angles = by_swapped[model]
        known = np.isfinite(source_angles).all(1) & np.isfinite(swapped_angles).all(1)
        error = angle_difference(swapped_angles[known], source_angles[known]).mean(0)
        yaw_source, yaw_swapped = source_angles[known, 0], swapped_angles[known, 0]
        slope = np.polyfit(yaw_source, yaw_swapped, 1)[0]
        print(
            f"  {model:20s} pose error {error.mean():.2f}° (yaw {error[0]:.2f}, pitch "
            f"{error[1]:.2f}, roll {error[2]:.2f}); the swaps follow {slope:.2f} of the source's "
            f"yaw (r {np.corrcoef(yaw_source, yaw_swapped)[0, 1]:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips", nargs="+", default=["person_a_d6.mp4", "person_b_d9.mp4"], metavar="CLIP"
    )
    parser.add_argument("--swapped", type=Path, help="a converted video of the first clip")
    args = parser.parse_args()
    log_warnings_only()
    detector = RetinaFaceDetector(det_size=320)
    for position, name in enumerate(args.clips):
        clip = Path(name) if Path(name).exists() else SHARED_VIDEOS / name
        swapped = args.swapped if position == 0 else None
        source_points, swapped_points, size = clip_landmarks(detector, clip, swapped)
        by_source = poses(source_points, size)
        describe_clip(clip.name, source_points, by_source)
        if swapped:
            describe_swap(swapped_points, by_source, poses(swapped_points, size))


if __name__ == "__main__":
    main()
