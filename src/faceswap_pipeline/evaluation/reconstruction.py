"""How well the model redraws each person's held-out faces: SSIM and L1, prepared exactly as
validation does.

Faces go through the training DataModule's `AlignedFaceDataset` (resize to the model's source size)
and `crop_model_region`, and are scored with the training loss's `ssim`, so the figures match
`val/ssim_*`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from faceswap_pipeline.model.augmentation import crop_model_region
from faceswap_pipeline.model.data import AlignedFaceDataset, FaceItem
from faceswap_pipeline.model.losses import ssim
from faceswap_pipeline.model.networks import PERSONS, SwapModel


@dataclass(frozen=True)
class ReconstructionScores:
    """Per-face scores of a model redrawing one person's faces with that person's decoder.

    Attributes:
        ssim: ``(N,)`` float64 mean SSIM per face, 1 = identical (Wang et al. 2004, Gaussian
            window).
        l1: ``(N,)`` float64 mean absolute error per face, RGB in [0, 1].
    """

    ssim: np.ndarray
    l1: np.ndarray


def reconstruction_scores(
    model: SwapModel,
    faces: Sequence[Callable[[], np.ndarray]],
    person: str,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> ReconstructionScores:
    """SSIM and L1 of ``model(face, person)`` against the face itself, over the model region.

    Args:
        model: a trained `SwapModel`.
        faces: loaders of aligned crops, each RGB uint8 ``(S, S, 3)`` with S =
            ``model.config.crop_size``.
        person: ``"a"`` or ``"b"``: whose faces these are (and so whose decoder redraws them).
        batch_size: faces per forward pass.
        device: where to run the model.

    Returns:
        Per-face SSIM and L1 (empty arrays when ``faces`` is empty).
    """
    if person not in PERSONS:
        raise ValueError(f"person must be 'a' or 'b', got {person!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    config = model.config
    items = [FaceItem(face_id=f"face {i}", load=load) for i, load in enumerate(faces)]
    dataset = AlignedFaceDataset(
        items,
        config.input_size,
        config.coverage,
        config.crop_size,
        with_landmark_mask=False,
        person=person,
    )
    was_training = model.training
    model = model.to(device).eval()
    ssim_values, l1_values = [], []
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            batch = torch.stack(
                [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            )
            target = crop_model_region(
                batch.to(device).float() / 255.0, config.input_size, config.coverage
            )
            prediction = model(target, person).float()
            ssim_values.append(ssim(prediction, target).double().cpu().numpy())
            l1_values.append((prediction - target).abs().mean(dim=(1, 2, 3)).double().cpu().numpy())
    model.train(was_training)
    if not ssim_values:
        return ReconstructionScores(np.zeros(0), np.zeros(0))
    return ReconstructionScores(np.concatenate(ssim_values), np.concatenate(l1_values))
