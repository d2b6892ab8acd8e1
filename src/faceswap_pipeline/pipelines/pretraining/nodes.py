"""Pretraining nodes: fetch many people's videos, keep every face, train one autoencoder on them
all.

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

from faceswap_pipeline.distributed import runs_on_every_rank
from faceswap_pipeline.pipelines.ingestion.nodes import fetch_videos, offline_hint
from faceswap_pipeline.pipelines.pretraining.params import (
    parse_pretraining_params,
    pretraining_training_params,
)
from faceswap_pipeline.pipelines.training.params import TrainingParams

logger = logging.getLogger(__name__)

# Ingestion's offline hint, for the pretraining's folder and parameter file.
OFFLINE_HINT = offline_hint(
    "data/01_raw/videos/pretraining/", "parameters_pretraining.yml", "Pretraining"
)


def fetch_pretraining_videos(
    existing_raw_videos: dict[str, Path],
    pretraining: dict[str, Any],
    download: dict[str, Any],
    staging: Path,
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
    params = parse_pretraining_params(pretraining)
    person = {
        "name": params.name,
        "sources": [source.model_dump(exclude_none=True) for source in params.sources],
    }
    return fetch_videos(existing_raw_videos, person, download, staging, offline_hint=OFFLINE_HINT)


def keep_every_identity(face_extraction: dict[str, Any]) -> dict[str, Any]:
    """The face-extraction settings with `identity.keep: everyone`: every track of every person is
    kept.

    Args:
        face_extraction: `params:face_extraction` (the pair's settings: same crops, same filters).

    Returns:
        A copy with `identity.keep` set to "everyone".
    """
    settings = copy.deepcopy(dict(face_extraction))
    settings["identity"] = {**settings.get("identity", {}), "keep": "everyone"}
    return settings


def build_pretraining_face_bank(
    aligned_faces: dict[str, Any],
    face_alignments: pd.DataFrame,
    training: dict[str, Any],
    pretraining: dict[str, Any],
    face_banks_before: dict[str, Any],
) -> dict[str, Any]:
    """Every pretraining face decoded once at the model's source size (training faces, then the
    held-out ones), unless the bank on disk has them.

    Decoded once here rather than in the training node: a re-run does not decode them again,
    and under DDP every rank maps the one file rather than decoding every face itself.

    Args:
        aligned_faces, face_alignments, training, pretraining: as `pretrain_base_model`'s.
        face_banks_before: the bank already on disk (`pretraining.face_banks_before`), `{}` if
            none.

    Returns:
        `{"a": FaceBank | FaceBankBuild}` (the pretraining's one person): an unchanged bank is
        reused; a build is decoded by the `pretraining.face_banks` dataset as it saves.

    Raises:
        TooFewFacesError: fewer training faces than `min_faces_per_person`.
    """
    from faceswap_pipeline.model.face_bank import FaceBankBuild
    from faceswap_pipeline.model.pretrained import PRETRAINING_PERSON, plan_pretraining_bank
    from faceswap_pipeline.pipelines.training.nodes import face_items

    params = pretraining_training_params(training, pretraining)
    person = PRETRAINING_PERSON
    # The same split as `pretrain_base_model` makes (`split_pretraining_faces`, a table
    # operation): the bank holds its faces in that order.
    train_rows, val_rows, _ = split_pretraining_faces(aligned_faces, face_alignments, params)
    rows = pd.concat([train_rows, val_rows])
    bank = plan_pretraining_bank(
        face_items(rows, aligned_faces, person),
        params.swap_model_config(),
        params,
        existing=face_banks_before.get(person),
    )
    logger.info(
        "pretraining: face bank of %d faces %s",
        len(rows),
        "to build" if isinstance(bank, FaceBankBuild) else "unchanged, reused",
    )
    return {person: bank}


@runs_on_every_rank
def pretrain_base_model(
    aligned_faces: dict[str, Any],
    face_alignments: pd.DataFrame,
    training: dict[str, Any],
    pretraining: dict[str, Any],
    mlflow_run_id: str | None = None,
    face_banks: dict[str, Any] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Train the base model (shared encoder + one decoder) on every face, resuming its own
    checkpoint.

    Held-out faces are the last `val_fraction` of each video in time, so that every person in the
    sources trains (the README's base models were measured so; held out whole, two of the fifteen
    default clips were people it never learnt, and a pair's swaps from it came out further from
    the target). Under DDP (`trainer.devices` of several, as a pair's) this process is rank 0 and
    the other ranks run this same call (`runs_on_every_rank`); the pipeline and its MLflow run
    happen once.

    Args:
        aligned_faces: `pretraining_aligned_faces`, `{partition id: loader of RGB uint8 (S, S, 3)}`.
        face_alignments: `pretraining_face_alignments` (time and 68 landmarks of each face).
        training: `params:training`: the model configuration and every setting not changed below.
        pretraining: `params:pretraining`; its `training` changes the budget, checkpoint folder, ...
        mlflow_run_id: the MLflow run that pretrains (`pretraining.mlflow_run_id`), recorded in the
            base model; None without one.
        face_banks: `pretraining.face_banks` (`build_pretraining_face_bank`'s, memory-mapped);
            None: the faces are decoded in memory.

    Returns:
        `(base_model, pretraining_preview, pretraining_summary)`: the `BaseModel` (CPU, eval mode;
        its record says how many faces, videos and steps it saw), the last preview grid (rows:
        held-out faces, their reconstructions) as a PIL image, and a summary dict.

    Raises:
        TooFewFacesError: fewer training faces than `min_faces_per_person`.
        CheckpointMismatchError: its checkpoint is of another model configuration.
    """
    from PIL import Image

    from faceswap_pipeline.model.pretrained import PRETRAINING_PERSON
    from faceswap_pipeline.model.pretrained import pretrain_base_model as pretrain
    from faceswap_pipeline.pipelines.training.nodes import active_mlflow_logger, face_items

    params = pretraining_training_params(training, pretraining)
    person = PRETRAINING_PERSON
    train_rows, val_rows, videos = split_pretraining_faces(aligned_faces, face_alignments, params)
    train_items = face_items(train_rows, aligned_faces, person)
    val_items = face_items(val_rows, aligned_faces, person)
    logger.info(
        "pretraining on %d faces of %d videos; %d held out for validation (the end of each video)",
        len(train_items),
        videos,
        len(val_items),
    )
    mlflow_logger = active_mlflow_logger()
    if mlflow_logger is not None:
        mlflow_logger.log_hyperparams(
            {
                "pretraining.faces": len(train_items),
                "pretraining.validation_faces": len(val_items),
                "pretraining.videos": videos,
            }
        )
    bank = (face_banks or {}).get(person)
    result = pretrain(
        train_items, val_items, params.swap_model_config(), params, mlflow_logger, bank
    )
    result.base_model.record["pretraining_run_id"] = mlflow_run_id
    return result.base_model, Image.fromarray(result.preview), result.summary


def split_pretraining_faces(
    aligned_faces: dict[str, Any], face_alignments: pd.DataFrame, params: TrainingParams
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The training rows, the held-out rows (each video's end; at most `val_max_faces`, evenly
    spread) and how many videos they come from.

    Raises:
        TooFewFacesError: fewer training faces than `min_faces_per_person`.
    """
    from faceswap_pipeline.model.data import TooFewFacesError, assign_validation_split
    from faceswap_pipeline.model.pretrained import PRETRAINING_PERSON
    from faceswap_pipeline.pipelines.training.nodes import person_faces_table

    faces = person_faces_table(PRETRAINING_PERSON, aligned_faces, face_alignments)
    held_out = assign_validation_split(faces, params.val_fraction, whole_videos=False)
    train_rows, val_rows = faces[~held_out], faces[held_out]
    if len(train_rows) < params.min_faces_per_person:
        raise TooFewFacesError(
            f"too few faces to pretrain: {len(train_rows)} for training (+{len(val_rows)} held "
            f"out), at least {params.min_faces_per_person} needed "
            "(pretraining.training.min_faces_per_person). Add videos to pretraining.sources, or "
            "loosen the face_extraction filters."
        )
    if params.val_max_faces and len(val_rows) > params.val_max_faces:
        picks = np.linspace(0, len(val_rows) - 1, params.val_max_faces).round().astype(int)
        val_rows = val_rows.iloc[np.unique(picks)]
    return train_rows, val_rows, int(faces["video"].nunique())
