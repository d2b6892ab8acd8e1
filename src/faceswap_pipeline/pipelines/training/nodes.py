"""Training nodes: choose the training and held-out faces, then train the swap model with
Lightning."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from faceswap_pipeline.distributed import runs_on_every_rank
from faceswap_pipeline.model.settings import auto_settings_of
from faceswap_pipeline.pipelines.training.params import TrainingParams, parse_training_params

if TYPE_CHECKING:
    from faceswap_pipeline.model.trainer import TrainingRun

logger = logging.getLogger(__name__)

PERSONS = ("a", "b")
TRAINING_FACE_COLUMNS = [
    "person",
    "face_id",
    "video",
    "frame_index",
    "time_s",
    "split",
    "landmarks68_crop",
]
_FACE_ID = re.compile(r"^(?P<video>.+)/(?P<frame>\d+)_t(?P<track>\d+)$")


def person_faces_table(
    person: str, aligned_faces: dict[str, Callable], face_alignments: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per aligned face: its id, video, frame index, time and 68 landmarks (None when
    unknown)."""
    rows = []
    for face_id in sorted(aligned_faces):
        match = _FACE_ID.match(face_id)
        video, frame = (
            (match["video"], int(match["frame"]))
            if match
            else (face_id.rsplit("/", 1)[0] if "/" in face_id else "", -1)
        )
        rows.append({"person": person, "face_id": face_id, "video": video, "frame_index": frame})
    faces = pd.DataFrame(rows, columns=["person", "face_id", "video", "frame_index"])
    alignments = face_alignments if face_alignments is not None else pd.DataFrame()
    if {"face_id", "time_s", "landmarks68_crop"} <= set(alignments.columns):
        kept = alignments.dropna(subset=["face_id"]).drop_duplicates("face_id").set_index("face_id")
        faces["time_s"] = faces["face_id"].map(kept["time_s"]).astype(float)
        faces["landmarks68_crop"] = faces["face_id"].map(kept["landmarks68_crop"])
        faces["landmarks68_crop"] = faces["landmarks68_crop"].map(
            lambda points: (
                [float(v) for v in points] if points is not None and len(points) == 136 else None
            )
        )
    else:
        faces["time_s"] = np.nan
        faces["landmarks68_crop"] = None
    # Without a time stamp the frame index keeps the order in time.
    faces["time_s"] = faces["time_s"].fillna(faces["frame_index"].astype(float))
    return faces


def select_training_faces(
    aligned_faces_a: dict[str, Callable[[], np.ndarray]],
    face_alignments_a: pd.DataFrame,
    aligned_faces_b: dict[str, Callable[[], np.ndarray]],
    face_alignments_b: pd.DataFrame,
    training: dict[str, Any],
) -> pd.DataFrame:
    """List both people's faces and hold some out for validation, by whole video or by a time span.

    Args:
        aligned_faces_a: person A's aligned faces, `{partition id: loader}` (only the ids are used).
        face_alignments_a: person A's alignment table (for `time_s` and `landmarks68_crop`; may be
            empty).
        aligned_faces_b: person B's aligned faces.
        face_alignments_b: person B's alignment table.
        training: `params:training` (uses `val_fraction` and `min_faces_per_person`).

    Returns:
        One row a face, columns `TRAINING_FACE_COLUMNS`; `split` is "train" or "val".

    Raises:
        TooFewFacesError: a person has fewer training faces than `training.min_faces_per_person`.
    """
    from faceswap_pipeline.model.data import assign_validation_split, check_face_counts

    params = parse_training_params(training)
    tables = []
    for person, faces, alignments in (
        ("a", aligned_faces_a, face_alignments_a),
        ("b", aligned_faces_b, face_alignments_b),
    ):
        table = person_faces_table(person, faces, alignments)
        held_out = assign_validation_split(table, params.val_fraction)
        table["split"] = np.where(held_out, "val", "train")
        tables.append(table)
    faces = pd.concat(tables, ignore_index=True)[TRAINING_FACE_COLUMNS]
    counts = faces.groupby(["person", "split"]).size()
    train_counts = {p: int(counts.get((p, "train"), 0)) for p in PERSONS}
    val_counts = {p: int(counts.get((p, "val"), 0)) for p in PERSONS}
    check_face_counts(train_counts, val_counts, params.min_faces_per_person)
    for person in PERSONS:
        videos = faces[faces["person"] == person].groupby("split")["video"].agg(set)
        by_video = not (videos.get("val", set()) & videos.get("train", set()))
        logger.info(
            "person_%s: %d faces for training, %d held out for validation (by %s)",
            person,
            train_counts[person],
            val_counts[person],
            "video" if by_video else "time span",
        )
    return faces


def face_items(table: pd.DataFrame, aligned_faces: dict[str, Callable], person: str) -> list:
    """The `model.data.FaceItem`s of the rows of `table` (a `person_faces_table`'s), loaded
    lazily."""
    from faceswap_pipeline.model.data import FaceItem

    missing = [face_id for face_id in table["face_id"] if face_id not in aligned_faces]
    if missing:
        raise ValueError(
            f"training_faces lists {len(missing)} faces of person_{person} that are not in"
            f" person_{person}_aligned_faces (e.g. {missing[0]!r}); re-run the whole training"
            " pipeline"
        )
    return [
        FaceItem(
            face_id=row.face_id,
            load=aligned_faces[row.face_id],
            landmarks68=(
                None
                if row.landmarks68_crop is None
                else np.asarray(row.landmarks68_crop, dtype=np.float32).reshape(68, 2)
            ),
        )
        for row in table.itertuples()
    ]


def build_face_banks(
    aligned_faces_a: dict[str, Callable[[], np.ndarray]],
    aligned_faces_b: dict[str, Callable[[], np.ndarray]],
    training_faces: pd.DataFrame,
    training: dict[str, Any],
    face_banks_before: dict[str, Any],
) -> dict[str, Any]:
    """Each person's faces decoded once at the model's source size, unless the bank on disk has
    them.

    Args:
        aligned_faces_a, aligned_faces_b: each person's aligned faces, `{partition id: loader}`.
        training_faces: the table from `select_training_faces` (its order is the banks' order).
        training: `params:training` (the model's sizes; the eyes/mouth channel when weighted).
        face_banks_before: the banks already on disk (`training_face_banks_before`), `{}` if none.

    Returns:
        `{"a": FaceBank | FaceBankBuild, "b": ...}`: a bank whose faces and sizes are unchanged is
        reused; a build is decoded by the `training_face_banks` dataset as it saves.
    """
    from faceswap_pipeline.model.face_bank import FaceBankBuild, plan_face_bank

    params = parse_training_params(training)
    aligned = {"a": aligned_faces_a, "b": aligned_faces_b}
    banks = {}
    for person in PERSONS:
        rows = training_faces[training_faces["person"] == person]
        banks[person] = plan_face_bank(
            face_items(rows, aligned[person], person),
            params.input_size,
            params.coverage,
            params.crop_size,
            with_landmark_mask=params.loss.eye_mouth_weight > 1.0,
            person=person,
            existing=face_banks_before.get(person),
        )
        built = isinstance(banks[person], FaceBankBuild)
        logger.info(
            "person_%s: face bank of %d faces %s",
            person,
            len(rows),
            "to build" if built else "unchanged, reused",
        )
    return banks


def active_mlflow_logger():
    """Lightning's MLFlowLogger writing into kedro-mlflow's active run, or None when there is none.

    The one place a node reaches MLflow itself (docs/architecture.md): Lightning logs step metrics
    and preview grids while it trains, which no catalog dataset can. Pair training and pretraining
    both build their logger here.
    """
    import mlflow
    from lightning.pytorch.loggers import MLFlowLogger

    run = mlflow.active_run()
    if run is None:
        return None
    # tracking_uri explicitly: MLFlowLogger's default is read when lightning is imported, not now.
    return MLFlowLogger(run_id=run.info.run_id, tracking_uri=mlflow.get_tracking_uri())


def base_model_folder(init_from: str | None, base_model: Path | None) -> Path | None:
    """The base model folder `training.init_from` names: the catalog's `base_model`, a path, or
    None."""
    if init_from is None:
        return None
    if init_from == "base_model":
        if base_model is None:
            raise ValueError(
                "training.init_from is 'base_model' but no base_model dataset was given to training"
            )
        return Path(base_model)
    return Path(init_from).expanduser()


def _people_trained_on(
    identity_a: pd.DataFrame | None, identity_b: pd.DataFrame | None
) -> dict[str, dict] | None:
    """`{"a": people_record, "b": ...}` from both identity tables; None when they were not given."""
    from faceswap_pipeline.faces.identity import identity_descriptors
    from faceswap_pipeline.model.model_file import people_record

    if identity_a is None or identity_b is None:
        return None
    people = {}
    for person, identity in (("a", identity_a), ("b", identity_b)):
        descriptors = identity_descriptors(identity)
        videos = [str(v) for v in identity["video"]] if "video" in identity else []
        people[person] = people_record(descriptors, videos)
    return people


def _validation_swap_callback(
    val_items: dict[str, list],
    identities: dict[str, pd.DataFrame | None],
    params: TrainingParams,
    evaluation: dict[str, Any] | None,
):
    """The callback that swaps and judges held-out faces at every validation, or None when it cannot
    (no identity tables, no held-out faces with landmarks) or is turned off
    (`validation_swaps.faces: 0`).
    """
    from faceswap_pipeline.evaluation.identity import identity_centre
    from faceswap_pipeline.evaluation.validation_swaps import (
        ValidationSwapCallback,
        pick_held_out_faces,
    )
    from faceswap_pipeline.pipelines.evaluation.params import parse_params as parse_evaluation

    count = params.validation_swaps.faces
    if count == 0:
        return None
    if any(identities[p] is None or len(identities[p]) == 0 for p in PERSONS):
        logger.info("no identity tables: the validation swaps are not judged (run face_extraction)")
        return None
    faces = {person: pick_held_out_faces(val_items[person], count) for person in PERSONS}
    if not any(faces.values()):
        logger.info("no held-out faces with landmarks: the validation swaps are not judged")
        return None
    from faceswap_pipeline.faces.identity import identity_descriptors

    centres = {p: identity_centre(identity_descriptors(identities[p])) for p in PERSONS}
    return ValidationSwapCallback(
        faces,
        centres,
        parse_evaluation(evaluation or {}).verdict.thresholds(),
        params.stop_when_convincing,
    )


def _face_rows(
    training_faces: pd.DataFrame, banks: dict[str, Any], params: TrainingParams
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each person's training and held-out rows in their face bank: `({"a": rows, ...}, {...})`."""
    from faceswap_pipeline.model.face_bank import bank_rows

    train_rows, val_rows = {}, {}
    for person in PERSONS:
        rows = training_faces[training_faces["person"] == person]
        train_rows[person], val_rows[person] = bank_rows(
            banks[person], rows["face_id"], rows["split"], person, params.val_max_faces
        )
    return train_rows, val_rows


def _face_counts(train_rows: dict[str, np.ndarray], val_rows: dict[str, np.ndarray]) -> dict:
    """`{"train_a": n, "train_b": n, "val_a": n, "val_b": n}`."""
    return {
        f"{split}_{person}": len(rows[person])
        for split, rows in (("train", train_rows), ("val", val_rows))
        for person in PERSONS
    }


def _stop_reason(run: TrainingRun, swap_check: Any | None, max_steps: int) -> str:
    """Why training stopped: "convincing", "max_minutes", "max_steps" or "stopped"."""
    if swap_check is not None and swap_check.stopped:
        return "convincing"
    return run.stop_reason(max_steps)


def _training_summary(
    run: TrainingRun,
    module: Any,
    swap_check: Any | None,
    faces: dict[str, int],
    initialised_from: dict[str, Any] | None,
    params: TrainingParams,
) -> dict[str, Any]:
    """`training_summary`: steps, stop reason, resume point, faces, final validation, images/s."""
    verdict = swap_check.latest_verdict if swap_check is not None else None
    summary = {
        "global_step": int(run.trainer.global_step),
        "stop_reason": _stop_reason(run, swap_check, params.max_steps),
        **run.summary(module),
        "initialised_from": initialised_from,
        "faces": faces,
        "final_validation": run.final_validation,
        "validation_swaps": (
            {
                "metrics": swap_check.latest,
                "verdict": verdict.to_dict() if verdict else None,
            }
            if swap_check is not None
            else None
        ),
    }
    logger.info(
        "training stopped at step %d (%s); validation %s",
        run.trainer.global_step,
        summary["stop_reason"],
        ", ".join(f"{k}={v:.4f}" for k, v in run.final_validation.items() if not math.isnan(v)),
    )
    return summary


@runs_on_every_rank
def train_swap_model(  # noqa: PLR0913  # a Kedro node: one argument per dataset it reads
    aligned_faces_a: dict[str, Callable[[], np.ndarray]],
    aligned_faces_b: dict[str, Callable[[], np.ndarray]],
    training_faces: pd.DataFrame,
    training: dict[str, Any],
    person_a_identity: pd.DataFrame | None = None,
    person_b_identity: pd.DataFrame | None = None,
    evaluation: dict[str, Any] | None = None,
    base_model: Path | None = None,
    training_face_banks: dict[str, Any] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Train the shared-encoder swap model, resuming from the last checkpoint when there is one.

    Stops at `training.max_steps` (over all runs) or after `training.max_minutes` of this run;
    checkpoints into `training.checkpoint_dir` (`model.trainer.run_training`). Step metrics and
    previews go to kedro-mlflow's active run. Under DDP this process is rank 0 and the other ranks
    run this same call (`runs_on_every_rank`).

    Args:
        aligned_faces_a, aligned_faces_b: `{partition id: loader of RGB uint8 (S, S, 3)}`: the
            validation swaps' whole held-out crops (training draws from the face banks).
        training_faces: the table from `select_training_faces`; training: `params:training`.
        person_a_identity, person_b_identity: `{person}_identity`: the model records their means
            (`swap_model.people`); the validation swaps are judged against them.
        evaluation: `params:evaluation` (its `verdict` thresholds).
        base_model: the `base_model` folder, used when `training.init_from` is "base_model".
        training_face_banks: `{"a": FaceBank, "b": ...}` (None: built in memory).

    Returns:
        `(swap_model, training_preview, training_summary)`: the `SwapModel` (CPU, eval mode), the
        last preview grid (rows A, A→A, A→B, B, B→B, B→A) and the summary dict.

    Raises:
        CheckpointMismatchError, BaseModelMismatchError: a checkpoint or base model of another
            configuration; NonFiniteLossError: the loss diverged (the last good checkpoint is kept);
            TrainingCollapsedError: the model collapsed to one flat colour (no model is written).
    """
    import lightning as L
    from PIL import Image

    from faceswap_pipeline.model.ddp import strategy_of
    from faceswap_pipeline.model.trainer import run_training

    params = parse_training_params(training)
    L.seed_everything(params.seed, workers=True, verbose=False)
    if training_face_banks is None:
        plans = build_face_banks(aligned_faces_a, aligned_faces_b, training_faces, training, {})
        training_face_banks = {person: plan.build() for person, plan in plans.items()}
    train_rows, val_rows = _face_rows(training_faces, training_face_banks, params)
    datamodule = _datamodule(training_face_banks, train_rows, val_rows, params)
    module, resume, initialised_from = _module_to_train(params, base_model)
    faces = _face_counts(train_rows, val_rows)
    mlflow_logger = active_mlflow_logger()
    if mlflow_logger is not None:
        mlflow_logger.log_hyperparams({f"faces.{key}": count for key, count in faces.items()})
    val_items = _held_out_items(
        {"a": aligned_faces_a, "b": aligned_faces_b}, training_faces, val_rows
    )
    identities = {"a": person_a_identity, "b": person_b_identity}
    swap_check = _validation_swap_callback(val_items, identities, params, evaluation)
    run = run_training(
        module,
        datamodule,
        params,
        resume,
        mlflow_logger=mlflow_logger,
        extra_callbacks=[swap_check] if swap_check is not None else [],
        has_validation=any(len(val_rows[p]) for p in PERSONS),
        # DDP started from this node for several processes.
        strategy=strategy_of(params),
    )
    summary = _training_summary(run, module, swap_check, faces, initialised_from, params)
    grid = run.preview_grid(module)
    swap_model = module.export_model()
    swap_model.people = _people_trained_on(person_a_identity, person_b_identity)
    return swap_model, Image.fromarray(grid), summary


def _module_to_train(params: TrainingParams, base_model: Path | None) -> tuple[Any, Any, Any]:
    """The LightningModule, the checkpoint to resume from, and the base model it started from."""
    from faceswap_pipeline.model.lightning_module import SwapLightningModule
    from faceswap_pipeline.model.pretrained import start_from_base_model
    from faceswap_pipeline.model.trainer import find_resume

    model_config = params.swap_model_config()
    module = SwapLightningModule(
        model_config,
        params.optimizer,
        params.loss,
        params.augmentation,
        params.compile,
        frozen=params.init_frozen,
        seed=params.seed,
    )
    resume = find_resume(params, model_config)
    initialised_from = start_from_base_model(
        module.model,
        base_model_folder(params.init_from, base_model),
        resume.checkpoint,
        params.init_fresh,
        params.init_frozen,
    )
    if params.init_from is not None:
        # Said whether applied or resumed: these values hold for the whole fine-tune.
        logger.info(
            "from a base model: %s (where training says auto; a value set wins)",
            ", ".join(f"{key} {value}" for key, value in auto_settings_of(params).items()),
        )
    return module, resume, initialised_from


def _datamodule(
    banks: dict[str, Any],
    train_rows: dict[str, np.ndarray],
    val_rows: dict[str, np.ndarray],
    params: TrainingParams,
) -> Any:
    """Both people's batches, drawn from their face banks (`model.data.FaceSwapDataModule`)."""
    from faceswap_pipeline.model.data import FaceSwapDataModule

    return FaceSwapDataModule(
        {p: banks[p].faces for p in PERSONS},
        train_rows,
        val_rows,
        batch_size=params.batch_size,
        seed=params.seed,
    )


def _held_out_items(
    aligned: dict[str, dict[str, Callable]],
    training_faces: pd.DataFrame,
    val_rows: dict[str, np.ndarray],
) -> dict[str, list]:
    """Each person's held-out faces as `FaceItem`s (whole crops, for the validation swaps)."""
    items = {}
    for person in PERSONS:
        rows = training_faces[training_faces["person"] == person]
        items[person] = face_items(rows.iloc[val_rows[person]], aligned[person], person)
    return items
