"""Typed pretraining parameters (`conf/base/parameters_pretraining.yml`), checked before any work.

The base model trains with the pair training's parameters (`training.params.TrainingParams`, the
training engine's settings), changed by `pretraining.training`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import field_validator

from faceswap_pipeline.config_loader import sets_key
from faceswap_pipeline.model.settings import pretraining_settings
from faceswap_pipeline.pipelines.parameters import InvalidParametersError, validate_parameters
from faceswap_pipeline.pipelines.training.params import TrainingParams, parse_training_params
from faceswap_pipeline.sources import VideoSource
from faceswap_pipeline.strict_model import StrictModel

# `training` keys the pretraining cannot change: the base model must fit the pairs trained with the
# same `training` settings, and it starts from scratch or its own checkpoint.
_FIXED_TRAINING_KEYS = (
    "architecture",
    "input_size",
    "width",
    "coverage",
    "crop_size",
    "init_from",
    "init_fresh",
    "init_frozen",
)
_FILE = "conf/base/parameters_pretraining.yml"


class PretrainingParams(StrictModel):
    """`params:pretraining` (conf/base/parameters_pretraining.yml)."""

    name: str = "pretraining faces"
    sources: list[VideoSource]
    training: dict[str, Any] = {}

    @field_validator("training")
    @classmethod
    def _known_training_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(TrainingParams.model_fields))
        if unknown:
            raise ValueError(f"unknown training keys {unknown}; it takes the keys of `training`")
        fixed = sorted(set(value) & set(_FIXED_TRAINING_KEYS))
        if fixed:
            raise ValueError(
                f"{fixed} cannot differ from `training` (the base model must fit the pairs "
                "trained with it); change them under `training` instead"
            )
        return value


def parse_pretraining_params(pretraining: dict[str, Any]) -> PretrainingParams:
    """Validate `params:pretraining`; a bad value fails naming `pretraining.<key>`."""
    params = validate_parameters(
        PretrainingParams,
        pretraining,
        prefix="pretraining",
        file=_FILE,
    )
    if not params.sources:
        raise ValueError(
            "pretraining.sources is empty: list videos of many people (`url:` or `path:`) in "
            "conf/base/parameters_pretraining.yml"
        )
    return params


def pretraining_training_params(
    training: dict[str, Any], pretraining: dict[str, Any]
) -> TrainingParams:
    """The pair training's parameters with the pretraining's changes (`pretraining.training`),
    merged by `model.settings.pretraining_settings`, validated.

    Raises:
        ValueError: a bad value, or a checkpoint folder shared with the pair training.
    """
    overrides = parse_pretraining_params(pretraining).training
    pair = parse_training_params(training)
    merged = pretraining_settings(training, overrides)
    merged["init_from"] = None
    try:
        params = parse_training_params(merged)
    except InvalidParametersError as error:
        # A wrong value of `pretraining.training` is named where the user set it.
        renamed = [
            (f"pretraining.{key}" if sets_key({"training": overrides}, key) else key, why)
            for key, why in error.problems
        ]
        ours = any(key.startswith("pretraining.") for key, _ in renamed)
        raise InvalidParametersError(_FILE if ours else error.file, renamed) from error
    if Path(params.checkpoint_dir).resolve() == Path(pair.checkpoint_dir).resolve():
        raise ValueError(
            "pretraining.training.checkpoint_dir is the pair training's "
            f"({params.checkpoint_dir}): the two would resume from each other's checkpoints; "
            "give the pretraining its own folder"
        )
    return params
