"""Streaming extraction on the real clips: one aligned face per frame of a talking head; crowds
tracked."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from faceswap_pipeline.faces.alignment import canonical_landmarks5, transform_points
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.extraction import ExtractionSettings, FaceExtractor
from faceswap_pipeline.video.decode import iter_frames

CROP = 256
MARGIN = 0.2


@pytest.fixture(scope="module")
def d6_faces(shared_videos):
    """person_a_d6.mp4 sampled at 4 frames/s across its whole length (~135 frames, every
    expression)."""
    extractor = FaceExtractor(
        RetinaFaceDetector(det_size=320), ExtractionSettings(crop_size=CROP, margin=MARGIN)
    )
    faces = [
        face
        for batch in extractor.run(iter_frames(shared_videos / "person_a_d6.mp4", sample_fps=4))
        for face in batch
    ]
    return extractor.counts, faces


def test_talking_head_gives_one_aligned_face_in_nearly_every_frame(d6_faces):
    counts, faces = d6_faces
    assert counts.frames_read >= 130
    passed_per_frame = Counter(face.frame_index for face in faces if face.reject_reason is None)
    one_face_frames = sum(1 for n in passed_per_frame.values() if n == 1)
    assert one_face_frames >= 0.95 * counts.frames_read
    kept = [face for face in faces if face.reject_reason is None]
    assert all(face.crop.shape == (CROP, CROP, 3) and face.crop.dtype == np.uint8 for face in kept)
    assert len({face.track for face in kept}) == 1  # one person, one shot: one track
    # Descriptors are a sample of the track, not one per face.
    described = [face for face in kept if face.descriptor is not None]
    assert 1 <= len(described) <= 8 and described[0].descriptor.shape == (128,)


def test_eyes_and_mouth_land_on_the_template(d6_faces):
    _, faces = d6_faces
    template = canonical_landmarks5(CROP, MARGIN)[[0, 1, 3, 4]]  # eyes and mouth corners
    kept = [face for face in faces if face.reject_reason is None]
    # The detector's landmarks, through the recorded transform: mean distance of the four points.
    errors = (
        np.array(
            [
                np.linalg.norm(
                    transform_points(face.landmarks5, face.transform)[[0, 1, 3, 4]] - template,
                    axis=1,
                ).mean()
                for face in kept
            ]
        )
        / CROP
    )
    assert np.mean(errors < 0.03) >= 0.95
    # dlib's independent 68 landmarks in the crop: eye centres (36-41, 42-47) on the template's
    # eyes.
    eye_errors = (
        np.array(
            [
                np.linalg.norm(
                    np.stack(
                        [face.landmarks68_crop[36:42].mean(0), face.landmarks68_crop[42:48].mean(0)]
                    )
                    - template[:2],
                    axis=1,
                ).max()
                for face in kept
            ]
        )
        / CROP
    )
    assert np.mean(eye_errors < 0.03) >= 0.95
    np.testing.assert_allclose(
        transform_points(kept[0].landmarks68, kept[0].transform),
        kept[0].landmarks68_crop,
        atol=1e-3,
    )


def test_crowd_faces_are_found_and_tracked(shared_videos):
    """crowd_1080p.mp4, its first 0.6 s: 4-8 small faces per frame, followed from frame to frame."""
    extractor = FaceExtractor(
        RetinaFaceDetector(det_size=960, batch_size=4),
        ExtractionSettings(min_face_size=0, identity={"max_descriptors_per_track": 1}),
    )
    faces = [
        face
        for batch in extractor.run(iter_frames(shared_videos / "crowd_1080p.mp4", end_s=0.6))
        for face in batch
    ]
    frames = extractor.counts.frames_read
    assert frames == 15
    per_frame = Counter(face.frame_index for face in faces)
    assert np.median([per_frame.get(i, 0) for i in range(frames)]) >= 3
    track_lengths = Counter(face.track for face in faces)
    long_tracks = [track for track, length in track_lengths.items() if length >= 0.8 * frames]
    assert len(long_tracks) >= 3
    # A track is one face: within a frame no two faces share a track.
    assert all(
        len({f.track for f in faces if f.frame_index == i}) == per_frame[i] for i in per_frame
    )
