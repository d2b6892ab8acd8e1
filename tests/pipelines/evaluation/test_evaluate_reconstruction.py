"""`evaluate_reconstruction` on real faces of two people (d6 and d9): next to the held-out faces'
SSIM, what a perfect swap of each onto the other would keep of the detail (`detail/target_own_*`),
from the target's own faces."""

from __future__ import annotations

import math

import pandas as pd
import torch
import yaml

from faceswap_pipeline.model import ModelConfig, SwapModel
from faceswap_pipeline.pipelines.evaluation.nodes import evaluate_reconstruction
from tests.helpers import PROJECT_ROOT
from tests.helpers.faces import as_loaders


def _training_faces(clip_faces, with_landmarks: bool = True) -> pd.DataFrame:
    """Both people's faces as the training's table has them, the last quarter held out."""
    tables = []
    for person in ("a", "b"):
        alignments = clip_faces[person][1]
        held_out = len(alignments) // 4
        split = ["train"] * (len(alignments) - held_out) + ["val"] * held_out
        tables.append(
            pd.DataFrame(
                {
                    "person": person,
                    "face_id": alignments["face_id"].to_numpy(),
                    "split": split,
                    "landmarks68_crop": (
                        alignments["landmarks68_crop"].to_numpy()
                        if with_landmarks
                        else [None] * len(alignments)
                    ),
                }
            )
        )
    return pd.concat(tables, ignore_index=True)


def test_a_perfect_swap_onto_the_plainer_face_keeps_less_of_the_detail(clip_faces):
    evaluation = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_evaluation.yml").read_text())
    torch.manual_seed(0)
    model = SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1))
    faces = {person: as_loaders(clip_faces[person][0]) for person in ("a", "b")}

    metrics = evaluate_reconstruction(
        model, faces["a"], faces["b"], _training_faces(clip_faces), evaluation["evaluation"]
    )
    assert metrics["reconstruction/faces_a"] > 5 and metrics["reconstruction/faces_b"] > 5
    # d6 (eye make-up, wide eyes, an open mouth) has more fine detail than d9: a perfect 64 px swap
    # of d6 onto d9 keeps well under the verdict's 0.6 of it, one of d9 onto d6 more than all of it.
    assert 0 < metrics["detail/target_own_a_to_b"] < 0.6
    assert metrics["detail/target_own_b_to_a"] > 1.0

    # Faces without landmarks (an old training table): not measured, no error.
    without = evaluate_reconstruction(
        model, faces["a"], faces["b"], _training_faces(clip_faces, False), evaluation["evaluation"]
    )
    assert math.isnan(without["detail/target_own_a_to_b"])
    assert without["reconstruction/ssim_a"] == metrics["reconstruction/ssim_a"]
