"""Reconstruction SSIM/L1 on real aligned faces: bounded, and better once the model has learnt the
faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceswap_pipeline.evaluation.reconstruction import reconstruction_scores
from faceswap_pipeline.faces.alignment import alignment_matrix, warp_face
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.model import ModelConfig, SwapModel, crop_model_region
from faceswap_pipeline.model.losses import reconstruction_loss
from faceswap_pipeline.video.decode import iter_frames


@pytest.fixture(scope="module")
def d18_faces(d18) -> list[np.ndarray]:
    """Six aligned 256 px crops of single_d18, one per second."""
    detector = RetinaFaceDetector(det_size=320)
    crops = []
    for frame in iter_frames(d18, sample_fps=1.0):
        found = detector.detect([frame.rgb])[0]
        crops.append(warp_face(frame.rgb, alignment_matrix(found.landmarks5[0], 256, 0.2), 256))
    return crops[:6]


def test_scores_are_bounded_and_improve_when_the_model_learns_the_faces(d18_faces):
    torch.manual_seed(0)
    model = SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1))
    loaders = [lambda crop=crop: crop for crop in d18_faces]
    before = reconstruction_scores(model, loaders, "a", batch_size=4)
    assert before.ssim.shape == before.l1.shape == (6,)
    assert np.all((before.ssim > -1) & (before.ssim < 1)) and np.all(
        (before.l1 > 0) & (before.l1 < 1)
    )

    batch = torch.stack([torch.from_numpy(c).permute(2, 0, 1).float() / 255.0 for c in d18_faces])
    target = crop_model_region(batch, 64, model.config.coverage)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(15):
        optimiser.zero_grad()
        reconstruction_loss(model(target, "a"), target).backward()
        optimiser.step()
    after = reconstruction_scores(model, loaders, "a", batch_size=4)
    assert after.ssim.mean() > before.ssim.mean() + 0.05  # 0.45 -> 0.55 in 15 steps
    assert after.l1.mean() < before.l1.mean()
    # Person B's decoder never saw these faces: it redraws them worse.
    other = reconstruction_scores(model, loaders, "b")
    assert other.ssim.mean() < after.ssim.mean()


def test_no_faces_and_bad_person(d18_faces):
    model = SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1))
    empty = reconstruction_scores(model, [], "b")
    assert empty.ssim.shape == (0,)
    with pytest.raises(ValueError, match="person"):
        reconstruction_scores(model, [], "c")
