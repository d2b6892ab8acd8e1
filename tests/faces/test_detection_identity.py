"""Detection and identity on the real photos: face counts, coordinates mapped back, who is who."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch

from faceswap_pipeline.faces.detection import RetinaFaceDetector, choose_providers
from faceswap_pipeline.faces.extraction import describe_largest_face
from faceswap_pipeline.faces.identity import (
    SAME_PERSON_DISTANCE,
    descriptor_distances,
    dlib_model_file,
)


def _photo(shared_photos, name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(shared_photos / name))[:, :, ::-1])


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    return RetinaFaceDetector(
        det_size=640, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
    )


@pytest.mark.parametrize(
    ("name", "faces"),
    [("obama_and_biden.jpg", 3), ("two_people.jpg", 2), ("obama_small.jpg", 1), ("obama.jpg", 1)],
)
def test_counts_faces_in_photos(detector, shared_photos, name, faces):
    found = detector.detect([_photo(shared_photos, name)])[0]
    assert len(found) == faces
    assert found.boxes.shape == (faces, 4) and found.landmarks5.shape == (faces, 5, 2)
    assert np.all(np.diff(found.scores) <= 0)  # best first


def test_boxes_are_in_frame_pixels_whatever_the_detection_size(shared_photos):
    photo = _photo(shared_photos, "obama.jpg")  # 910 x 1137
    small = RetinaFaceDetector(det_size=320).detect([photo])[0]
    large = RetinaFaceDetector(det_size=960).detect([photo])[0]
    assert len(small) == len(large) == 1
    # dlib's own detector puts this face at (349, 142)-(617, 409) in the photo.
    np.testing.assert_allclose(small.boxes[0], large.boxes[0], atol=0.06 * 270)
    x0, y0, x1, y1 = large.boxes[0]
    assert 300 < x0 < 400 and 50 < y0 < 200 and 200 < x1 - x0 < 330
    left_eye, right_eye, nose = large.landmarks5[0][:3]
    assert 349 < left_eye[0] < nose[0] < right_eye[0] < 617
    assert 142 < left_eye[1] < nose[1] < 409


def test_batches_give_the_same_faces_as_single_frames(shared_photos):
    detector = RetinaFaceDetector(det_size=320, batch_size=3)
    photo = _photo(shared_photos, "two_people.jpg")
    batch = detector.detect([photo, photo[:, ::-1].copy(), photo])
    single = detector.detect([photo])[0]
    np.testing.assert_allclose(batch[0].boxes, single.boxes, atol=1e-3)
    np.testing.assert_allclose(batch[2].boxes, single.boxes, atol=1e-3)
    assert len(batch[1]) == 2


def test_provider_choice_falls_back_to_the_cpu(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="faceswap_pipeline.faces.detection")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_providers(["NoSuchExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(None)[-1] == "CPUExecutionProvider"
    # Without a GPU, CUDA's absence is no news: nothing said at INFO.
    assert not caplog.records
    # With one, an onnxruntime without CUDA costs the user its speed: said, with the fix.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_providers(["NoSuchExecutionProvider"]) == ["CPUExecutionProvider"]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "NoSuchExecutionProvider" in record.getMessage()
    assert "onnxruntime-gpu" in record.getMessage()


def test_bad_images_are_refused(detector):
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([np.zeros((64, 64, 3), np.float32)])
    with pytest.raises(ValueError, match="one size"):
        detector.detect([np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)])
    with pytest.raises(ValueError, match="det_size"):
        RetinaFaceDetector(det_size=8)


def test_identity_separates_people_and_the_largest_face_is_described(detector, shared_photos):
    assert dlib_model_file("shape_predictor_68_face_landmarks.dat").is_file()
    descriptors = {}
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        descriptors[name], count = describe_largest_face(_photo(shared_photos, name), detector)
        assert count == 1 and descriptors[name].shape == (128,)
    same = descriptor_distances(descriptors["obama2.jpg"][None], descriptors["obama.jpg"][None])[0]
    other = descriptor_distances(descriptors["biden.jpg"][None], descriptors["obama.jpg"][None])[0]
    assert same < SAME_PERSON_DISTANCE < other
    _, faces = describe_largest_face(_photo(shared_photos, "obama_and_biden.jpg"), detector)
    assert faces == 3
    none, faces = describe_largest_face(np.full((200, 200, 3), 128, np.uint8), detector)
    assert none is None and faces == 0


def test_a_face_cut_by_the_frame_edge_is_still_aligned(detector, shared_photos):
    from faceswap_pipeline.faces.alignment import alignment_matrix, warp_face
    from faceswap_pipeline.faces.identity import landmarks68

    photo = _photo(shared_photos, "obama_partial_face.jpg")
    found = detector.detect([photo])[0]
    assert len(found) == 1 and found.boxes[0, 0] < 0  # the box reaches past the left edge
    crop = warp_face(photo, alignment_matrix(found.landmarks5[0], 256, 0.2), 256)
    assert crop.shape == (256, 256, 3) and crop.std() > 10  # filled by reflection, not a black band
    assert np.isfinite(landmarks68(photo, found.boxes[0])).all()


def test_dominant_identity_is_the_one_with_most_faces():
    from faceswap_pipeline.faces.identity import dominant_identity

    rng = np.random.default_rng(0)
    person, stranger = (
        rng.normal(0, 0.09, 128),
        rng.normal(0, 0.09, 128),
    )  # ~1.0 apart, like two people
    samples = lambda centre, n: centre + rng.normal(0, 0.01, (n, 128))  # noqa: E731
    tracks = [samples(stranger, 3), samples(person, 4), samples(person, 2), samples(stranger, 1)]
    weights = [
        300.0,
        250.0,
        200.0,
        10.0,
    ]  # the stranger has the longest track, the person more faces
    chosen = dominant_identity(tracks, weights, threshold=0.6)
    assert len(chosen) == 6
    assert np.linalg.norm(chosen.mean(axis=0) - person) < 0.1
    with pytest.raises(ValueError, match="one weight per track"):
        dominant_identity(tracks, weights[:2])
