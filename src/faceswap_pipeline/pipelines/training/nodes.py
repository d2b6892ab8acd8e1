"""Training nodes: choose the training and held-out faces, then train the swap model with Lightning."""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from faceswap_pipeline.distributed import runs_on_every_rank
from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.strict_model import StrictModel

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
_DEFAULT_INPUT_SIZE = {"original": 64, "hires": 128}


class OptimizerParams(StrictModel):
    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(5e-5, gt=0)
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = Field(0.0, ge=0)


class LossParams(StrictModel):
    ssim_weight: float = Field(0.5, ge=0, le=1)
    eye_mouth_weight: float = Field(3.0, ge=1)


class AugmentationParams(StrictModel):
    strength: float = Field(1.0, ge=0)
    rotation_deg: float = Field(10.0, ge=0, le=90)
    zoom: float = Field(0.05, ge=0, lt=1)
    shift: float = Field(0.05, ge=0, le=0.5)
    flip: bool = True
    warp: float = Field(1.0, ge=0)
    warp_grid: int = Field(5, ge=2)


class TrainerParams(StrictModel):
    """Lightning `Trainer` settings; `precision: auto` is bf16-mixed on a CUDA GPU that has it, else 32-true."""

    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    # "auto" with several devices is DDP too; both start their ranks from the training node
    # (faceswap_pipeline.distributed), never by re-running `kedro run`.
    strategy: Literal["auto", "ddp"] = "auto"
    num_nodes: int = Field(1, ge=1)
    precision: str = "auto"


class ValidationSwapParams(StrictModel):
    """The swaps judged at every validation (see `evaluation.validation_swaps`)."""

    faces: int = Field(8, ge=0, le=256)


class TrainingParams(StrictModel):
    """`params:training`, validated before any work starts (see conf/base/parameters_training.yml)."""

    architecture: Literal["original", "hires"] = "original"
    input_size: int | None = None
    width: float = Field(1.0, ge=0.05, le=4.0)
    coverage: float = Field(0.625, ge=0.1, le=1.0)
    crop_size: int = Field(256, ge=16)
    batch_size: int = Field(64, ge=1)
    max_steps: int = Field(100_000, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    min_faces_per_person: int = Field(64, ge=2)
    val_fraction: float = Field(0.1, ge=0, le=0.5)
    val_every_n_steps: int = Field(250, ge=1)
    val_max_faces: int | None = Field(None, ge=1)
    checkpoint_every_n_steps: int = Field(250, ge=1)
    checkpoint_dir: str = "data/06_models/checkpoints"
    resume: bool = True
    preview_every_n_steps: int = Field(250, ge=0)
    preview_faces: int = Field(6, ge=1, le=32)
    log_every_n_steps: int = Field(10, ge=1)
    compile: bool = False
    seed: int = 42
    progress_bar: bool = False
    init_from: str | None = None
    optimizer: OptimizerParams = OptimizerParams()
    loss: LossParams = LossParams()
    augmentation: AugmentationParams = AugmentationParams()
    trainer: TrainerParams = TrainerParams()
    validation_swaps: ValidationSwapParams = ValidationSwapParams()
    stop_when_convincing: bool = False

    @model_validator(mode="before")
    @classmethod
    def _architecture_input_size(cls, data: Any) -> Any:
        """`input_size: null` is the architecture's own (the parameters are frozen once parsed)."""
        if isinstance(data, dict) and data.get("input_size") is None:
            architecture = data.get("architecture", "original")
            data = {**data, "input_size": _DEFAULT_INPUT_SIZE.get(architecture)}
        return data

    @model_validator(mode="after")
    def _input_size_fits(self) -> TrainingParams:
        from faceswap_pipeline.model.networks import SUPPORTED_INPUT_SIZES

        sizes = SUPPORTED_INPUT_SIZES[self.architecture]
        if self.input_size not in sizes:
            raise ValueError(
                f"input_size {self.input_size} does not fit architecture {self.architecture!r}, "
                f"which takes {' or '.join(map(str, sizes))}"
            )
        return self

    def model_config_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "input_size": self.input_size,
            "width": self.width,
            "coverage": self.coverage,
            "crop_size": self.crop_size,
        }


def parse_training_params(training: dict[str, Any]) -> TrainingParams:
    """Validate `params:training`; a bad value fails naming `training.<key>`."""
    return validate_parameters(
        TrainingParams, training, prefix="training", file="conf/base/parameters_training.yml"
    )


def _person_faces(
    person: str, aligned_faces: dict[str, Callable], face_alignments: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per aligned face: its id, video, frame index, time and 68 landmarks (None when unknown)."""
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
        face_alignments_a: person A's alignment table (for `time_s` and `landmarks68_crop`; may be empty).
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
        table = _person_faces(person, faces, alignments)
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


def _items(table: pd.DataFrame, aligned_faces: dict[str, Callable], person: str):
    from faceswap_pipeline.model.data import FaceItem

    missing = [face_id for face_id in table["face_id"] if face_id not in aligned_faces]
    if missing:
        raise ValueError(
            f"training_faces lists {len(missing)} faces of person_{person} that are not in "
            f"person_{person}_aligned_faces (e.g. {missing[0]!r}); re-run the whole training pipeline"
        )
    return [
        FaceItem(
            face_id=row.face_id,
            load=aligned_faces[row.face_id],
            landmarks68=None
            if row.landmarks68_crop is None
            else np.asarray(row.landmarks68_crop, dtype=np.float32).reshape(68, 2),
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
    """Each person's faces decoded once at the model's source size, unless the bank on disk has them.

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
            _items(rows, aligned[person], person),
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
            person, len(rows), "to build" if built else "unchanged, reused",
        )
    return banks


def _precision(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _active_mlflow_logger():
    """Lightning's MLFlowLogger writing into kedro-mlflow's active run, or None when there is none."""
    import mlflow
    from lightning.pytorch.loggers import MLFlowLogger

    run = mlflow.active_run()
    if run is None:
        return None
    # tracking_uri explicitly: MLFlowLogger's default is read when lightning is imported, not now.
    return MLFlowLogger(run_id=run.info.run_id, tracking_uri=mlflow.get_tracking_uri())


def _base_model_folder(init_from: str | None, base_model: Path | None) -> Path | None:
    """The base model folder `training.init_from` names: the catalog's `base_model`, a path, or None."""
    if init_from is None:
        return None
    if init_from == "base_model":
        if base_model is None:
            raise ValueError("training.init_from is 'base_model' but no base_model dataset was given to training")
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
    (no identity tables, no held-out faces with landmarks) or is turned off (`validation_swaps.faces: 0`)."""
    from faceswap_pipeline.evaluation.identity import identity_centre
    from faceswap_pipeline.evaluation.validation_swaps import HeldOutFace, ValidationSwapCallback
    from faceswap_pipeline.pipelines.evaluation.params import parse_params as parse_evaluation

    count = params.validation_swaps.faces
    if count == 0:
        return None
    if any(identities[p] is None or len(identities[p]) == 0 for p in PERSONS):
        logger.info("no identity tables: the validation swaps are not judged (run face_extraction)")
        return None
    faces = {}
    for person in PERSONS:
        usable = [item for item in val_items[person] if item.landmarks68 is not None]
        picks = np.unique(np.linspace(0, len(usable) - 1, min(count, len(usable))).round().astype(int))
        faces[person] = [HeldOutFace(usable[i].load(), usable[i].landmarks68) for i in picks] if usable else []
    if not any(faces.values()):
        logger.info("no held-out faces with landmarks: the validation swaps are not judged")
        return None
    from faceswap_pipeline.faces.identity import identity_descriptors

    centres = {p: identity_centre(identity_descriptors(identities[p])) for p in PERSONS}
    return ValidationSwapCallback(
        faces, centres, parse_evaluation(evaluation or {}).verdict.thresholds(), params.stop_when_convincing
    )


@runs_on_every_rank
def train_swap_model(
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

    Stops at `training.max_steps` (counted over all runs) or after `training.max_minutes` of this run,
    whichever comes first; checkpoints every `checkpoint_every_n_steps` into `training.checkpoint_dir`.
    Step metrics and preview grids go to kedro-mlflow's active run when there is one. Under DDP this
    process is rank 0; the other ranks run this same call in their own processes (`runs_on_every_rank`),
    and only this process's result is returned to Kedro.

    Args:
        aligned_faces_a: person A's aligned faces, `{partition id: loader of RGB uint8 (S, S, 3)}`; training
            reads the face banks, these only give the validation swaps their whole held-out crops.
        aligned_faces_b: person B's aligned faces.
        training_faces: the table from `select_training_faces`.
        training: `params:training`.
        person_a_identity, person_b_identity: each person's identity descriptors (`{person}_identity`);
            the model records their means (`swap_model.people`), so a conversion can refuse a model
            trained on other people than the configured ones; the validation swaps are judged against
            them.
        evaluation: `params:evaluation` (its `verdict` thresholds judge the validation swaps).
        base_model: the `base_model` catalog folder, used when `training.init_from` is "base_model".
        training_face_banks: `{"a": FaceBank, "b": ...}` from `build_face_banks` (memory-mapped), the
            faces training draws its batches from; None (a call outside the pipeline) builds them in
            memory from the aligned faces.

    Returns:
        `(swap_model, training_preview, training_summary)`: the trained `SwapModel` (CPU, eval mode),
        the last preview grid as a PIL image (rows A, A→A, A→B, B, B→B, B→A), and a summary dict
        (steps, stop reason, faces, final validation L1/SSIM per person, images/s).

    Raises:
        CheckpointMismatchError: the last checkpoint was trained for another model configuration.
        BaseModelMismatchError: `training.init_from` names a base model of another configuration.
        NonFiniteLossError: the loss became NaN or infinite; the last good checkpoint is kept.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from PIL import Image

    from faceswap_pipeline.model.callbacks import (
        ImagesPerSecondCallback,
        PreviewGridCallback,
        ProgressLogCallback,
        TimeBudgetCallback,
    )
    from faceswap_pipeline.model.checkpoint_io import AtomicCheckpointIO, resume_checkpoint
    from faceswap_pipeline.model.data import FaceSwapDataModule
    from faceswap_pipeline.model.ddp import training_strategy
    from faceswap_pipeline.model.face_bank import bank_rows
    from faceswap_pipeline.model.lightning_module import NonFiniteLossError, SwapLightningModule
    from faceswap_pipeline.model.networks import ModelConfig
    from faceswap_pipeline.model.pretrained import start_from_base_model

    params = parse_training_params(training)
    L.seed_everything(params.seed, workers=True, verbose=False)
    model_config = ModelConfig.from_dict(params.model_config_dict())

    aligned = {"a": aligned_faces_a, "b": aligned_faces_b}
    if training_face_banks is None:
        plans = build_face_banks(aligned_faces_a, aligned_faces_b, training_faces, training, {})
        training_face_banks = {person: plan.build() for person, plan in plans.items()}
    train_rows, val_rows, val_items = {}, {}, {}
    for person in PERSONS:
        rows = training_faces[training_faces["person"] == person]
        train_rows[person], val_rows[person] = bank_rows(
            training_face_banks[person], rows["face_id"], rows["split"], person, params.val_max_faces
        )
        val_items[person] = _items(rows.iloc[val_rows[person]], aligned[person], person)
    datamodule = FaceSwapDataModule(
        {p: training_face_banks[p].faces for p in PERSONS},
        train_rows,
        val_rows,
        batch_size=params.batch_size,
        seed=params.seed,
    )
    module = SwapLightningModule(
        model=model_config.to_dict(),
        optimizer=params.optimizer.model_dump(),
        loss=params.loss.model_dump(),
        augmentation=params.augmentation.model_dump(),
        compile=params.compile,
    )

    checkpoint_dir = Path(params.checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    resume_from, resumed_at_step = resume_checkpoint(checkpoint_dir, params.resume, model_config)
    initialised_from = start_from_base_model(
        module.model, _base_model_folder(params.init_from, base_model), resume_from
    )

    mlflow_logger = _active_mlflow_logger()
    if mlflow_logger is not None:
        mlflow_logger.log_hyperparams(
            {
                f"faces.{split}_{person}": len(rows[person])
                for split, rows in (("train", train_rows), ("val", val_rows))
                for person in PERSONS
            }
        )
    preview = PreviewGridCallback(
        datamodule.preview_faces(params.preview_faces), params.preview_every_n_steps
    )
    speed = ImagesPerSecondCallback(params.log_every_n_steps)
    callbacks: list[L.Callback] = [
        preview,
        speed,
        ProgressLogCallback(budget_minutes=params.max_minutes, speed=speed),
        ModelCheckpoint(
            dirpath=checkpoint_dir,
            every_n_train_steps=params.checkpoint_every_n_steps,
            save_top_k=0,
            save_last=True,
            enable_version_counter=False,
        ),
    ]
    swap_check = _validation_swap_callback(
        val_items, {"a": person_a_identity, "b": person_b_identity}, params, evaluation
    )
    if swap_check is not None:
        callbacks.append(swap_check)
    budget = None
    if params.max_minutes is not None:
        budget = TimeBudgetCallback(params.max_minutes * 60.0)
        callbacks.append(budget)
    has_validation = any(len(val_rows[p]) for p in PERSONS)
    trainer = L.Trainer(
        accelerator=params.trainer.accelerator,
        devices=params.trainer.devices,
        strategy=training_strategy(
            params.trainer.strategy, params.trainer.accelerator, params.trainer.devices,
            params.trainer.num_nodes, params.seed,
        ),
        num_nodes=params.trainer.num_nodes,
        # Each rank's share of every global batch is drawn by the data module (model.sharding).
        use_distributed_sampler=False,
        precision=_precision(params.trainer.precision),
        max_steps=params.max_steps,
        max_epochs=-1,
        val_check_interval=params.val_every_n_steps if has_validation else None,
        check_val_every_n_epoch=None,
        limit_val_batches=None if has_validation else 0,
        num_sanity_val_steps=0,
        log_every_n_steps=params.log_every_n_steps,
        logger=mlflow_logger if mlflow_logger is not None else False,
        callbacks=callbacks,
        enable_progress_bar=params.progress_bar,
        enable_model_summary=False,
        default_root_dir=checkpoint_dir,
        # Saved beside last.ckpt and renamed: a kill mid-save keeps the previous checkpoint whole.
        plugins=[AtomicCheckpointIO()],
    )
    # Batches are drawn at random with no notion of position in an epoch, so resuming mid-epoch
    # loses nothing; Lightning's warning about non-resumable data loaders does not apply.
    warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    except NonFiniteLossError as error:
        last = checkpoint_dir / "last.ckpt"
        kept = (
            f"the last good checkpoint is kept at {last}"
            if last.exists()
            else "no checkpoint had been saved yet"
        )
        raise NonFiniteLossError(f"{error} {kept}.") from error
    # The last steps since the periodic checkpoint are saved too: a re-run continues from here.
    trainer.save_checkpoint(checkpoint_dir / "last.ckpt", weights_only=False)

    final_metrics: dict[str, float] = {}
    if has_validation:
        results = trainer.validate(module, datamodule=datamodule, verbose=False)
        final_metrics = {
            key: float(value) for key, value in (results[0] if results else {}).items()
        }
    stop_reason = (
        "convincing"
        if swap_check is not None and swap_check.stopped
        else "max_minutes"
        if budget is not None and budget.stopped_early
        else "max_steps"
        if trainer.global_step >= params.max_steps
        else "stopped"
    )
    summary = {
        "global_step": int(trainer.global_step),
        "stop_reason": stop_reason,
        "resumed_from": str(resume_from) if resume_from else None,
        "resumed_at_step": resumed_at_step,
        "initialised_from": initialised_from,
        "faces": {
            f"{split}_{person}": len(rows[person])
            for split, rows in (("train", train_rows), ("val", val_rows))
            for person in PERSONS
        },
        "final_validation": final_metrics,
        "validation_swaps": {
            "metrics": swap_check.latest,
            "verdict": swap_check.latest_verdict.to_dict() if swap_check.latest_verdict else None,
        }
        if swap_check is not None
        else None,
        "images_per_s": speed.latest,
        "model": module.model_config.to_dict(),
        "precision": str(trainer.precision),
        "checkpoint": str(checkpoint_dir / "last.ckpt"),
    }
    logger.info(
        "training stopped at step %d (%s); validation %s",
        trainer.global_step,
        stop_reason,
        ", ".join(f"{k}={v:.4f}" for k, v in final_metrics.items() if not math.isnan(v)),
    )
    if preview.latest_grid is None:
        preview.render(trainer, module)
    swap_model = module.export_model()
    swap_model.people = _people_trained_on(person_a_identity, person_b_identity)
    return swap_model, Image.fromarray(preview.latest_grid), summary
