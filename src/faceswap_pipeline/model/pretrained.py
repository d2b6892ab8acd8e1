"""A face prior: the swap model's shared encoder and one decoder, trained on many people's faces at
once.

DeepFaceLab's answer to the cost of every new pair: learn faces in general once, then start each
pair from there. `pretrain_base_model` trains the same architecture as one autoencoder on everyone's
faces; `save_base_model`/`load_base_model` keep it in a model folder like the swap model's
(safetensors, no pickle), with a record of what it saw; `init_swap_model_from_base` starts a pair's
model from it, all but the parts it is told to leave fresh (the training leaves both decoders fresh,
`training.init_fresh`), refusing a base model of another configuration.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from faceswap_pipeline.model.model_file import (
    WEIGHTS_FILE,
    ModelFileError,
    unreadable_model_file_errors,
    write_model_folder,
)
from faceswap_pipeline.model.networks import (
    MODEL_PARTS,
    PERSONS,
    ModelConfig,
    SwapModel,
    check_model_parts,
    faces_for_model,
)
from faceswap_pipeline.model.settings import ADVERSARY_WEIGHTS, TrainingSettings

logger = logging.getLogger(__name__)

# The safetensors metadata `kind` that tells a base model from a swap model (which has none).
BASE_MODEL_KIND = "base_model"
# The person whose decoder slot the pretraining trains (the `SwapLightningModule` trains by person).
PRETRAINING_PERSON = "a"


class BaseModelMismatchError(ModelFileError):
    """A base model was pretrained for another model configuration than the pair's training."""


class BaseModel(nn.Module):
    """The shared encoder and one decoder of a `SwapModel` configuration, trained on many people.

    Attributes:
        config: the `ModelConfig` it was built for (a pair can start from it only with the same
            one).
        record: what it saw and how it was trained: `{"faces", "validation_faces", "videos" (the
            ones it learnt from), "steps", "final_validation", "recipe", "pretraining_run_id"}`
            (see `pretrain_base_model`); `{}` when unknown.
    """

    def __init__(self, config: ModelConfig, record: dict[str, Any] | None = None) -> None:
        super().__init__()
        template = SwapModel(config)
        self.config = config
        self.record: dict[str, Any] = dict(record or {})
        self.encoder = template.encoder
        self.decoder = template.decoders[PRETRAINING_PERSON]

    @classmethod
    def from_swap_model(cls, model: SwapModel, record: dict[str, Any] | None = None) -> BaseModel:
        """The base model in `model`'s encoder and pretraining decoder (weights copied to the
        CPU)."""
        base = cls(model.config, record)
        base.encoder.load_state_dict(model.encoder.state_dict())
        base.decoder.load_state_dict(model.decoders[PRETRAINING_PERSON].state_dict())
        return base.to(device="cpu", dtype=torch.float32).eval()

    def forward(self, faces: Tensor) -> Tensor:
        """Reconstruct faces: RGB float `(N, 3, S, S)` in [0, 1] → the same shape, S =
        `config.input_size`."""
        return self.decoder(self.encoder(faces))

    @torch.no_grad()
    def reconstruct(self, faces: Tensor) -> Tensor:
        """Inference: RGB float `(N, 3, H, W)` in [0, 1] (resized to the input size) → `(N, 3, S,
        S)` in [0, 1]."""
        faces = faces_for_model(self, faces, self.config.input_size)
        was_training = self.training
        self.eval()
        reconstructed = self(faces)
        self.train(was_training)
        return reconstructed.clamp(0.0, 1.0)


def save_base_model(model: BaseModel, directory: str | Path) -> Path:
    """Write a base model to `directory`: `model.safetensors` (metadata: kind, config, record) +
    `config.json`.

    Returns:
        The folder's path.
    """
    metadata = {
        "kind": BASE_MODEL_KIND,
        "config": json.dumps(model.config.to_dict(), indent=2, sort_keys=True),
        "record": json.dumps(model.record, sort_keys=True),
    }
    readable = json.dumps(
        {"kind": BASE_MODEL_KIND, "config": model.config.to_dict(), "record": model.record},
        indent=2,
        sort_keys=True,
    )
    return write_model_folder(directory, model, metadata, readable)


def read_base_model_info(directory: str | Path) -> tuple[ModelConfig, dict[str, Any]]:
    """The configuration and record of a saved base model, without loading its weights.

    Raises:
        ModelFileError: no base model there (missing, a swap model, unreadable).
    """
    from safetensors import safe_open

    weights_path = Path(directory) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelFileError(
            f"no base model at {Path(directory)} (no {WEIGHTS_FILE}); run `kedro run --pipelines"
            " pretraining` to make one, or set training.init_from to a base model folder or null"
        )
    try:
        with safe_open(weights_path, framework="pt") as weights:
            metadata = weights.metadata() or {}
        if metadata.get("kind") != BASE_MODEL_KIND:
            raise ModelFileError(
                f"{weights_path} is not a base model (a swap model, or another file); "
                "training.init_from takes a folder written by the pretraining pipeline"
            )
        return ModelConfig.from_dict(json.loads(metadata["config"])), json.loads(
            metadata.get("record") or "{}"
        )
    except ModelFileError:
        raise
    except unreadable_model_file_errors() as error:
        raise ModelFileError(
            f"{weights_path} is not a base model this version can read ({type(error).__name__}:"
            f" {error}); run the pretraining pipeline again"
        ) from error


def load_base_model(directory: str | Path, map_location: str | torch.device = "cpu") -> BaseModel:
    """Load a base model saved by `save_base_model`, in eval mode.

    Raises:
        ModelFileError: missing, not a base model, or weights that do not fit its configuration.
    """
    from safetensors.torch import load_file

    config, record = read_base_model_info(directory)
    model = BaseModel(config, record)
    weights_path = Path(directory) / WEIGHTS_FILE
    state = load_file(weights_path, device=str(map_location))
    expected = model.state_dict()
    wrong = sorted(set(expected) ^ set(state)) + [
        name
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if wrong:
        raise ModelFileError(
            f"the weights in {weights_path} do not fit the configuration it names ({len(wrong)}"
            f" tensors missing, unexpected or of another shape, e.g. {wrong[0]}); run the"
            " pretraining pipeline again"
        )
    model.load_state_dict(state)
    return model.to(map_location).eval()


def check_base_model_matches(directory: str | Path, expected: ModelConfig) -> dict[str, Any]:
    """Fail, naming every difference, when a base model was pretrained for another configuration.

    Returns:
        The base model's record.

    Raises:
        BaseModelMismatchError: the configurations differ.
        ModelFileError: no readable base model there.
    """
    found, record = read_base_model_info(directory)
    if found != expected:
        differences = found.differences(expected, "training says")
        raise BaseModelMismatchError(
            f"base model {Path(directory)} was pretrained for another model: {differences}."
            " Pretrain one with the same training settings (the pretraining takes architecture,"
            " input_size, width, coverage and crop_size from `training`), use those settings for"
            " the pair, or set training.init_from: null."
        )
    return record


def init_swap_model_from_base(
    model: SwapModel, directory: str | Path, fresh: Sequence[str] = ()
) -> dict[str, Any]:
    """Copy a base model's encoder into `model`'s encoder and its decoder into *both* decoders,
    except the parts named in `fresh`, which keep `model`'s own fresh initialisation.

    Why parts may stay fresh: the base model's decoder draws whoever it is given, so two decoders
    started from it turn A's faces back into A, and a swap stays the source for hundreds of steps.
    A decoder that reads the code afresh learns to draw its own person only, as one trained from
    scratch does, while the other parts keep what the prior learnt.

    Args:
        model: a freshly built swap model of the base model's configuration.
        directory: the base model folder.
        fresh: parts of `MODEL_PARTS` not taken from the base model.

    Returns:
        The base model's record (what it saw).

    Raises:
        BaseModelMismatchError: the base model was pretrained for another configuration.
        ModelFileError: no readable base model there.
        ValueError: an unknown part in `fresh`.
    """
    check_model_parts(fresh)
    check_base_model_matches(directory, model.config)
    base = load_base_model(directory)
    state = {f"encoder.{key}": value for key, value in base.encoder.state_dict().items()}
    for person in PERSONS:
        state.update(
            {f"decoders.{person}.{key}": value for key, value in base.decoder.state_dict().items()}
        )
    state = {key: value for key, value in state.items() if model.part_of(key) not in fresh}
    parameter = next(model.parameters())
    with torch.no_grad():
        model.load_state_dict(state, strict=not fresh)
    model.to(device=parameter.device, dtype=parameter.dtype)
    return base.record


def start_from_base_model(
    model: SwapModel,
    folder: Path | None,
    resuming_from: Path | None,
    fresh: Sequence[str] = (),
    frozen: Sequence[str] = (),
) -> dict[str, Any] | None:
    """Start a pair's training from a base model, unless it resumes from its own checkpoint.

    Args:
        model: the pair's freshly built swap model.
        folder: the base model folder (None: start from scratch).
        resuming_from: the pair checkpoint the run resumes from, if any: its weights win, so the
            base model is not applied (and said so in the log).
        fresh: the parts of the model not taken from the base model (see
            `init_swap_model_from_base`).
        frozen: the parts taken from it that the training leaves as they are (said in the log
            and the result; `SwapLightningModule(frozen=...)` freezes them).

    Returns:
        `{"path", "record", "fresh", "frozen"}` of the base model applied, or None when none was.

    Raises:
        BaseModelMismatchError: the base model was pretrained for another configuration.
        ModelFileError: no readable base model in `folder`.
    """
    if folder is None:
        return None
    if resuming_from is not None:
        logger.info(
            "resuming from %s: its weights win, the base model %s (training.init_from) is not"
            " applied",
            resuming_from,
            folder,
        )
        return None
    record = init_swap_model_from_base(model, folder, fresh)
    taken = [part for part in MODEL_PARTS if part not in fresh]
    logger.info(
        "starting from base model %s (pretrained %s steps on %s faces of %s videos); taken from"
        " it: %s; fresh (training.init_fresh): %s; frozen (training.init_frozen): %s",
        folder,
        record.get("steps", "?"),
        record.get("faces", "?"),
        len(record.get("videos", [])) or "?",
        ", ".join(taken) or "nothing",
        ", ".join(fresh) or "nothing",
        ", ".join(frozen) or "nothing",
    )
    return {"path": str(folder), "record": record, "fresh": list(fresh), "frozen": list(frozen)}


@dataclass
class PretrainingResult:
    """What `pretrain_base_model` returns.

    Attributes:
        base_model: the trained `BaseModel` (CPU, eval mode), its `record` filled in.
        preview: RGB uint8 grid, rows faces and reconstructions, one column per held-out face.
        summary: steps, stop reason, resume point, faces, videos, final validation, images/s.
    """

    base_model: BaseModel
    preview: np.ndarray
    summary: dict[str, Any]


def pretraining_run_settings(settings: TrainingSettings) -> TrainingSettings:
    """`settings` as the pretraining trains with them (and its checkpoints record): without the
    code adversary, since one person's batches hold no two people's codes to tell apart. The face
    adversary trains as `settings.loss` says (the pretraining's own weight,
    parameters_pretraining.yml): it works on one person's reconstructions as on a pair's."""
    no_code_adversary = {ADVERSARY_WEIGHTS["code"]: 0.0}
    return settings.model_copy(update={"loss": settings.loss.model_copy(update=no_code_adversary)})


def pretrain_base_model(
    train_faces: Sequence[Any],
    val_faces: Sequence[Any],
    config: ModelConfig,
    settings: TrainingSettings,
    mlflow_logger: Any | None = None,
    bank: Any | None = None,
) -> PretrainingResult:
    """Train the shared encoder and one decoder to reconstruct everyone's faces; resumable.

    The `SwapLightningModule` trains it with only the pretraining person's batches (its other
    decoder gets no gradient and is not saved), with the pair training's augmentation and loss, so
    the base model learns exactly the task a pair's decoders then specialise;
    `model.trainer.run_training` runs it as it runs a pair's training.

    Args:
        train_faces: `model.data.FaceItem`s (lazy loaders of RGB uint8 `(S, S, 3)` aligned crops, S
            = `config.crop_size`), of any number of people.
        val_faces: held-out faces (ideally of people or videos not in `train_faces`); may be empty.
        config: the model configuration (the pairs that start from the base model must share it).
        settings: budget, cadences, checkpoints, optimizer, loss, augmentation and trainer.
        mlflow_logger: a Lightning logger for step metrics and preview grids (None: no logging).
        bank: the faces already decoded (`model.face_bank.FaceBank` of `train_faces` then
            `val_faces`, e.g. the `pretraining.face_banks` dataset's, memory-mapped); None:
            decoded here, in memory (under DDP on every rank).

    Several processes (`settings.trainer`: devices, strategy ddp) train under DDP as a pair does:
    call this from a function decorated with `distributed.runs_on_every_rank` (the pretraining
    node is), whose other ranks run the same call.

    Returns:
        The base model, the last preview grid and a summary.

    Raises:
        CheckpointMismatchError: the checkpoint in `settings.checkpoint_dir` is of another
            configuration.
        NonFiniteLossError: the loss became NaN or infinite (the last good checkpoint is kept).
        TrainingCollapsedError: the model collapsed to one flat colour (no base model is written).
    """
    import lightning as L

    from faceswap_pipeline.model.ddp import strategy_of
    from faceswap_pipeline.model.lightning_module import SwapLightningModule
    from faceswap_pipeline.model.trainer import find_resume, run_training

    settings = pretraining_run_settings(settings)
    L.seed_everything(settings.seed, workers=True, verbose=False)
    datamodule = _pretraining_data(train_faces, val_faces, config, settings, bank)
    module = SwapLightningModule(
        config,
        settings.optimizer,
        settings.loss,
        settings.augmentation,
        settings.compile,
        seed=settings.seed,
    )
    run = run_training(
        module,
        datamodule,
        settings,
        find_resume(settings, config, parameters="pretraining.training"),
        mlflow_logger=mlflow_logger,
        has_validation=len(val_faces) > 0,
        # Several processes: DDP started from the caller's `runs_on_every_rank` call. The
        # second decoder (and its face discriminator) get no gradient here, which DDP must know.
        strategy=strategy_of(settings, find_unused_parameters=True),
    )
    videos = sorted({str(face.face_id).rsplit("/", 1)[0] for face in train_faces})  # it learnt
    person = PRETRAINING_PERSON
    final = {
        key.removesuffix(f"_{person}"): value
        for key, value in run.final_validation.items()
        if key.endswith(f"_{person}")
    }
    record = {
        "faces": len(train_faces),
        "validation_faces": len(val_faces),
        "videos": videos,
        "steps": int(run.trainer.global_step),
        "final_validation": {
            key: round(value, 6) for key, value in final.items() if math.isfinite(value)
        },
        "recipe": pretraining_recipe(settings),
    }
    summary = {**record, "stop_reason": run.stop_reason(settings.max_steps), **run.summary(module)}
    logger.info(
        "pretraining stopped at step %d (%s) on %d faces of %d videos; held-out reconstruction %s",
        run.trainer.global_step,
        summary["stop_reason"],
        len(train_faces),
        len(videos),
        ", ".join(f"{key}={value:.4f}" for key, value in record["final_validation"].items())
        or "not measured",
    )
    grid = run.preview_grid(module)
    base_model = BaseModel.from_swap_model(module.export_model(), record)
    return PretrainingResult(base_model, grid, summary)


def pretraining_recipe(settings: TrainingSettings) -> dict[str, Any]:
    """How a base model was trained, for its record: batch, seed, optimizer, loss and augmentation
    (JSON types). Base models that differ here give a pair different figures (a base model
    pretrained without the random warp reconstructs its held-out faces at SSIM 0.93 where one with
    it reaches 0.88), and the configuration alone does not tell them apart."""
    return {
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        **{
            block: getattr(settings, block).model_dump(mode="json")
            for block in ("optimizer", "loss", "augmentation")
        },
    }


def plan_pretraining_bank(
    faces: Sequence[Any], config: ModelConfig, settings: TrainingSettings, existing: Any = None
) -> Any:
    """The face bank of the pretraining's faces (training, then held-out) at `config`'s sizes:
    `existing` (a `FaceBank`) when it holds them, else a `FaceBankBuild` to decode
    (`model.face_bank.plan_face_bank`)."""
    from faceswap_pipeline.model.face_bank import plan_face_bank

    return plan_face_bank(
        tuple(faces),
        config.input_size,
        config.coverage,
        config.crop_size,
        with_landmark_mask=settings.loss.with_landmark_mask,
        person=PRETRAINING_PERSON,
        existing=existing,
    )


def _pretraining_data(
    train_faces: Sequence[Any],
    val_faces: Sequence[Any],
    config: ModelConfig,
    settings: TrainingSettings,
    bank: Any | None,
) -> Any:
    """Everyone's faces as the pretraining person's: a `FaceSwapDataModule` of one person, from
    `bank` or from the faces decoded once into a bank in memory.

    Raises:
        ValueError: `bank` holds other faces than `train_faces` then `val_faces`.
    """
    from faceswap_pipeline.model.data import FaceSwapDataModule

    person = PRETRAINING_PERSON
    faces = (*train_faces, *val_faces)
    if bank is None:
        bank = plan_pretraining_bank(faces, config, settings).build()
    elif tuple(bank.face_ids) != tuple(str(face.face_id) for face in faces):
        raise ValueError(
            f"the pretraining face bank holds {len(bank.face_ids)} faces, not the"
            f" {len(faces)} training and held-out faces in their order; build it from them"
        )
    return FaceSwapDataModule(
        {person: bank.faces},
        {person: np.arange(len(train_faces))},
        {person: np.arange(len(train_faces), len(faces))},
        batch_size=settings.batch_size,
        seed=settings.seed,
    )
