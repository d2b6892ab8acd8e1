"""`params:pretraining` is checked before work: the base model must fit the pairs, with its own
checkpoints."""

from __future__ import annotations

import pytest
import yaml

from faceswap_pipeline.pipelines.face_extraction.params import parse_params
from faceswap_pipeline.pipelines.pretraining.nodes import keep_every_identity
from faceswap_pipeline.pipelines.pretraining.params import (
    parse_pretraining_params,
    pretraining_training_params,
)
from tests.helpers import PROJECT_ROOT


def _conf(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / "base" / name).read_text())


def test_the_default_pretraining_takes_the_pair_model_and_its_own_budget_and_folder():
    training, pretraining = (
        _conf("parameters_training.yml")["training"],
        _conf("parameters_pretraining.yml")["pretraining"],
    )
    params = pretraining_training_params(training, pretraining)
    # 64 faces a step: the base models the README's tables were measured from.
    assert (params.architecture, params.width, params.batch_size) == (
        training["architecture"],
        training["width"],
        64,
    )
    assert (params.max_steps, params.max_minutes, params.checkpoint_dir) == (
        6400,
        None,
        "data/06_models/pretraining_checkpoints",
    )
    sources = parse_pretraining_params(pretraining).sources
    # The fifteen clips the README's d6->d9 base-model figures were measured from, each by URL and
    # its own checksum, and none of them the default pair's: a base model of other people.
    assert len(sources) == 15
    assert all(source.sha256 and source.url for source in sources)
    assert len({source.sha256 for source in sources}) == 15
    ingestion = _conf("parameters_ingestion.yml")
    pair = {
        source["sha256"]
        for person in ("person_a", "person_b")
        for source in ingestion[person]["sources"]
    }
    assert pair and not pair & {source.sha256 for source in sources}


def test_a_pretraining_batch_size_of_its_own_wins():
    training, pretraining = (
        _conf("parameters_training.yml")["training"],
        _conf("parameters_pretraining.yml")["pretraining"],
    )
    own = {**pretraining, "training": {**pretraining["training"], "batch_size": 24}}
    assert pretraining_training_params(training, own).batch_size == 24
    # Without one of its own the pretraining takes the pair's.
    unset = {key: value for key, value in pretraining["training"].items() if key != "batch_size"}
    without = {**pretraining, "training": unset}
    assert pretraining_training_params(training, without).batch_size == training["batch_size"]


def test_the_face_extraction_settings_keep_everyone_and_stay_the_pairs():
    face_extraction = _conf("parameters_face_extraction.yml")["face_extraction"]
    settings = parse_params(keep_every_identity(face_extraction))
    assert settings.identity.keep == "everyone"
    assert settings.model_dump(exclude={"identity"}) == parse_params(face_extraction).model_dump(
        exclude={"identity"}
    )
    assert parse_params(face_extraction).identity.keep == "person"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"training": {"width": 0.5}},
            r"pretraining.training: .*\['width'\] cannot differ from `training`",
        ),
        ({"training": {"max_minuts": 5}}, r"unknown training keys \['max_minuts'\]"),
        ({"sources": []}, r"pretraining.sources is empty"),
        ({"training": {"checkpoint_dir": "data/06_models/checkpoints"}}, r"is the pair training's"),
        # A value of `pretraining.training` is named there, not as the pair's `training` it merges
        # into.
        (
            {"training": {"max_steps": 0, "optimizer": {"average_decay": 2}}},
            r"^invalid parameters in conf/base/parameters_pretraining.yml: "
            r"pretraining.training.max_steps: Input should be greater than or equal to 1; "
            r"pretraining.training.optimizer.average_decay: .*$",
        ),
    ],
)
def test_bad_pretraining_parameters_are_named(change, message):
    training, pretraining = (
        _conf("parameters_training.yml")["training"],
        _conf("parameters_pretraining.yml")["pretraining"],
    )
    with pytest.raises(ValueError, match=message):
        pretraining_training_params(training, {**pretraining, **change})
