"""Pretraining nodes: fetch many people's videos, keep every face, train one autoencoder on them all.

The steps are the pair's own, reused: ingestion's `fetch_videos`, face extraction's nodes (with
`identity.keep: everyone`), and the swap model's architecture, augmentation and loss, trained as one
encoder and one decoder by `model.pretrained.pretrain_base_model`.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.sources import VideoSource

logger = logging.getLogger(__name__)

# `training` keys the pretraining cannot change: the base model must fit the pairs trained with the
# same `training` settings, and it starts from scratch or its own checkpoint.
_FIXED_TRAINING_KEYS = ("architecture", "input_size", "width", "coverage", "crop_size", "init_from")


class PretrainingParams(BaseModel):
    """`params:pretraining` (conf/base/parameters_pretraining.yml)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "pretraining faces"
    sources: list[VideoSource]
    training: dict[str, Any] = {}

    @field_validator("training")
    @classmethod
    def _known_training_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        from faceswap_pipeline.pipelines.training.nodes import TrainingParams

        unknown = sorted(set(value) - set(TrainingParams.model_fields))
        if unknown:
            raise ValueError(f"unknown training keys {unknown}; it takes the keys of `training`")
        fixed = sorted(set(value) & set(_FIXED_TRAINING_KEYS))
        if fixed:
            raise ValueError(
                f"{fixed} cannot differ from `training` (the base model must fit the pairs trained with it); "
                "change them under `training` instead"
            )
        return value


def parse_pretraining_params(pretraining: dict[str, Any]) -> PretrainingParams:
    """Validate `params:pretraining`; a bad value fails naming `pretraining.<key>`."""
    params = validate_parameters(
        PretrainingParams, pretraining, prefix="pretraining", file="conf/base/parameters_pretraining.yml"
    )
    if not params.sources:
        raise ValueError(
            "pretraining.sources is empty: list videos of many people (`url:` or `path:`) in "
            "conf/base/parameters_pretraining.yml"
        )
    return params


def pretraining_training_params(training: dict[str, Any], pretraining: dict[str, Any]) -> Any:
    """The pair training's parameters with the pretraining's changes (`pretraining.training`) applied.

    Raises:
        ValueError: a bad value, or a checkpoint folder shared with the pair training.
    """
    from faceswap_pipeline.pipelines.training.nodes import parse_training_params

    overrides = parse_pretraining_params(pretraining).training
    merged = copy.deepcopy(dict(training))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    merged["init_from"] = None
    params = parse_training_params(merged)
    if Path(params.checkpoint_dir).resolve() == Path(parse_training_params(training).checkpoint_dir).resolve():
        raise ValueError(
            f"pretraining.training.checkpoint_dir is the pair training's ({params.checkpoint_dir}): the two would "
            "resume from each other's checkpoints; give the pretraining its own folder"
        )
    return params


def fetch_pretraining_videos(
    existing_raw_videos: dict[str, Path], pretraining: dict[str, Any], download: dict[str, Any], staging: Path
) -> tuple[dict[str, Path], pd.DataFrame]:
    """Ingestion's `fetch_videos` for the pretraining's sources (one "person" holding many people).

    Args:
        existing_raw_videos: `{file name: path}` already in `data/01_raw/videos/pretraining/`.
        pretraining: `params:pretraining` (`name`, `sources`, `training`).
        download: the download settings.
        staging: the work folder beside the raw video folder that fetched files are made in.

    Returns:
        As `fetch_videos`: `{file name: path}` for the raw video folder and the metadata table.
    """
    from faceswap_pipeline.pipelines.ingestion.nodes import fetch_videos

    params = parse_pretraining_params(pretraining)
    person = {"name": params.name, "sources": [source.model_dump(exclude_none=True) for source in params.sources]}
    return fetch_videos(existing_raw_videos, person, download, staging)


def keep_every_identity(face_extraction: dict[str, Any]) -> dict[str, Any]:
    """The face-extraction settings with `identity.keep: everyone`: every track of every person is kept.

    Args:
        face_extraction: `params:face_extraction` (the pair's settings: same crops, same filters).

    Returns:
        A copy with `identity.keep` set to "everyone".
    """
    settings = copy.deepcopy(dict(face_extraction))
    settings["identity"] = {**settings.get("identity", {}), "keep": "everyone"}
    return settings


def pretrain_base_model(
    aligned_faces: dict[str, Any],
    face_alignments: pd.DataFrame,
    training: dict[str, Any],
    pretraining: dict[str, Any],
) -> tuple[Any, Any, dict[str, Any]]:
    """Train the base model (shared encoder + one decoder) on every face, resuming its own checkpoint.

    Held-out faces are whole videos when the last ones hold a fair share (people the model never saw),
    else the last `val_fraction` of each video in time, as for a pair.

    Args:
        aligned_faces: `pretraining_aligned_faces`, `{partition id: loader of RGB uint8 (S, S, 3)}`.
        face_alignments: `pretraining_face_alignments` (time and 68 landmarks of each face).
        training: `params:training`: the model configuration and every setting not changed below.
        pretraining: `params:pretraining`; its `training` changes the budget, checkpoint folder, ...

    Returns:
        `(base_model, pretraining_preview, pretraining_summary)`: the `BaseModel` (CPU, eval mode; its
        record says how many faces, videos and steps it saw), the last preview grid (rows: held-out
        faces, their reconstructions) as a PIL image, and a summary dict.

    Raises:
        TooFewFacesError: fewer training faces than `min_faces_per_person`.
        CheckpointMismatchError: its checkpoint is of another model configuration.
    """
    import mlflow
    from PIL import Image

    from faceswap_pipeline.model.data import TooFewFacesError, assign_validation_split
    from faceswap_pipeline.model.networks import ModelConfig
    from faceswap_pipeline.model.pretrained import PRETRAINING_PERSON, PretrainingSettings
    from faceswap_pipeline.model.pretrained import pretrain_base_model as pretrain
    from faceswap_pipeline.pipelines.training.nodes import (
        _active_mlflow_logger,
        _items,
        _person_faces,
        _precision,
    )

    params = pretraining_training_params(training, pretraining)
    person = PRETRAINING_PERSON
    faces = _person_faces(person, aligned_faces, face_alignments)
    held_out = assign_validation_split(faces, params.val_fraction)
    train_rows, val_rows = faces[~held_out], faces[held_out]
    if len(train_rows) < params.min_faces_per_person:
        raise TooFewFacesError(
            f"too few faces to pretrain: {len(train_rows)} for training (+{len(val_rows)} held out), at least "
            f"{params.min_faces_per_person} needed (pretraining.training.min_faces_per_person). Add videos to "
            "pretraining.sources, or loosen the face_extraction filters."
        )
    if params.val_max_faces and len(val_rows) > params.val_max_faces:
        picks = np.linspace(0, len(val_rows) - 1, params.val_max_faces).round().astype(int)
        val_rows = val_rows.iloc[np.unique(picks)]
    train_items = _items(train_rows, aligned_faces, person)
    val_items = _items(val_rows, aligned_faces, person)
    logger.info(
        "pretraining on %d faces of %d videos, %d held out (videos %s)", len(train_items),
        faces["video"].nunique(), len(val_items), ", ".join(sorted(val_rows["video"].unique())) or "none",
    )
    mlflow_logger = _active_mlflow_logger()
    if mlflow_logger is not None:
        mlflow_logger.log_hyperparams({
            "pretraining.faces": len(train_items), "pretraining.validation_faces": len(val_items),
            "pretraining.videos": int(faces["video"].nunique()),
        })
    settings = PretrainingSettings(
        config=ModelConfig.from_dict(params.model_config_dict()),
        checkpoint_dir=Path(params.checkpoint_dir),
        precision=_precision(params.trainer.precision),
        with_landmark_mask=params.loss.eye_mouth_weight > 1.0,
        optimizer=params.optimizer.model_dump(), loss=params.loss.model_dump(),
        augmentation=params.augmentation.model_dump(),
        **params.model_dump(include={
            "batch_size", "max_steps", "max_minutes", "val_every_n_steps", "checkpoint_every_n_steps", "resume",
            "preview_every_n_steps", "preview_faces", "log_every_n_steps", "seed", "progress_bar",
        }),
        **params.trainer.model_dump(include={"accelerator", "devices", "strategy", "num_nodes"}),
    )
    result = pretrain(train_items, val_items, settings, mlflow_logger)
    run = mlflow.active_run()
    result.base_model.record["pretraining_run_id"] = run.info.run_id if run is not None else None
    return result.base_model, Image.fromarray(result.preview), result.summary
