"""A model trained for other people than the configuration says is refused before converting
anything.

Training records the mean identity descriptor of each person in the model file; the conversion
compares them with the current `{person}_identity` tables. Real descriptors: person A (d6), person B
(d9) and a third man (d18).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from faceswap_pipeline.faces.identity import identity_descriptors
from faceswap_pipeline.model import ModelConfig, SwapModel, load_swap_model, save_swap_model
from faceswap_pipeline.model.model_file import people_record
from faceswap_pipeline.pipelines.conversion.nodes import check_model_people, convert_video
from tests.helpers.faces import largest_face_descriptors


def _identity(video: Path, start_s: float, count: int = 3) -> pd.DataFrame:
    """`{person}_identity` rows: descriptors of the face in ``count`` frames, one a second from
    ``start_s``."""
    frames, descriptors = largest_face_descriptors(video, start_s, count)
    return pd.DataFrame(
        {"video": video.name, "track": 0, "frame_index": frames, "descriptor": descriptors.tolist()}
    )


@pytest.fixture(scope="module")
def identities(shared_videos) -> dict[str, pd.DataFrame]:
    """Training-time and later (other frames) identities of A and B, and a stranger's."""
    return {
        "a_trained": _identity(shared_videos / "person_a_d6.mp4", 0.0),
        "b_trained": _identity(shared_videos / "person_b_d9.mp4", 0.0),
        "a_now": _identity(shared_videos / "person_a_d6.mp4", 20.0),
        "b_now": _identity(shared_videos / "person_b_d9.mp4", 10.0),
        "stranger": _identity(shared_videos / "single_d18.mp4", 2.0),
    }


@pytest.fixture(scope="module")
def trained_model(identities, tmp_path_factory) -> SwapModel:
    """A tiny model as training saves it: with the record of A's and B's faces, through the model
    file."""
    torch.manual_seed(0)
    model = SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1)).eval()
    # What training records: each person's descriptors and videos (`model_file.people_record`).
    model.people = {
        person: people_record(identity_descriptors(identity), list(identity["video"]))
        for person, identity in (("a", identities["a_trained"]), ("b", identities["b_trained"]))
    }
    folder = save_swap_model(model, tmp_path_factory.mktemp("model") / "swap_model")
    loaded, _ = load_swap_model(folder)
    return loaded


def test_the_model_file_records_both_people(trained_model, identities):
    people = trained_model.people
    assert set(people) == {"a", "b"}
    assert people["a"]["descriptors"] == 3 and people["a"]["videos"] == ["person_a_d6.mp4"]
    expected = np.stack(identities["a_trained"]["descriptor"].map(np.asarray)).mean(axis=0)
    np.testing.assert_allclose(people["a"]["descriptor_mean"], expected, atol=1e-6)


def test_the_same_people_in_other_frames_pass(trained_model, identities):
    check_model_people(trained_model, identities["a_now"], identities["b_now"])


def test_another_person_is_named(trained_model, identities):
    with pytest.raises(
        ValueError,
        match=r"trained on other people .* person_a_identity \(distance 0\.\d\d\) differ",
    ):
        check_model_people(trained_model, identities["stranger"], identities["b_now"])


def test_people_swapped_between_a_and_b_are_both_named(trained_model, identities):
    with pytest.raises(
        ValueError,
        match=r"person_a_identity \(distance .*\), person_b_identity \(distance .*\) differ",
    ):
        check_model_people(trained_model, identities["b_now"], identities["a_now"])


def test_the_conversion_refuses_before_writing_anything(
    trained_model, identities, shared_videos, staging
):
    conversion = {"video": str(shared_videos / "single_d18.mp4")}
    with pytest.raises(ValueError, match="person_a_identity .* differ from those the model learnt"):
        convert_video(
            trained_model,
            identities["stranger"],
            identities["b_now"],
            {},
            {},
            conversion,
            0.2,
            staging,
        )
    assert not staging.exists()  # where the conversion would have made its output


def test_a_model_without_a_record_converts_with_a_warning(identities, caplog):
    model = SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1))
    with caplog.at_level(logging.WARNING):
        check_model_people(model, identities["stranger"], identities["b_now"])
    assert "does not record whom it was trained on" in caplog.text
