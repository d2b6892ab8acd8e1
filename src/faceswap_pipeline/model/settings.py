"""How a swap model trains: the training engine's settings types (frozen, no unknown keys).

`SwapLightningModule` takes the optimizer, loss and augmentation settings; `model.trainer`
builds the Lightning `Trainer` from `TrainingSettings`, for a pair (`pipelines/training`) and
for the face prior (`model.pretrained`) alike. The training parameters parse the YAML straight
into these models; every default is written here once. Pydantic only: importing this loads no
torch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from faceswap_pipeline.strict_model import StrictModel


class AugmentationConfig(StrictModel):
    """faceit's augmentation ranges; `strength` scales all of them (0 = identity). Frozen; every
    default is written here once (`training.augmentation` parses straight into it;
    `model.augmentation.augment_faces` reads it).

    Attributes:
        strength: global multiplier of every range below, 0 disables augmentation.
        rotation_deg: maximum rotation either way, degrees (faceit: 10).
        zoom: maximum relative zoom either way (faceit: 0.05).
        shift: maximum shift either way, as a fraction of the model region's side (faceit: 0.05).
        flip: mirror half of the faces horizontally.
        warp: multiplier of faceit's random-warp jitter (1 = N(0, 5 px) on a 160 px region).
        warp_grid: control points per side of the jittered grid (faceit: 5).
        warp_from_step: the optimizer step (counted over all runs) from which the random warp is
            on; before it the faces are not warped (`at_step`). 0: from the first step.
    """

    strength: float = Field(1.0, ge=0)
    rotation_deg: float = Field(10.0, ge=0, le=90)
    zoom: float = Field(0.05, ge=0, lt=1)
    shift: float = Field(0.05, ge=0, le=0.5)
    flip: bool = True
    warp: float = Field(1.0, ge=0)
    warp_grid: int = Field(5, ge=2)
    warp_from_step: int = Field(0, ge=0)

    def at_step(self, step: int) -> AugmentationConfig:
        """The augmentation of optimizer step `step`: without the random warp before
        `warp_from_step`, as configured from it."""
        if step >= self.warp_from_step or self.warp == 0:
            return self
        return self.model_copy(update={"warp": 0.0})


class OptimizerSettings(StrictModel):
    """The optimizer of every network's weights (faceit's Adam), and its learning rate over the
    optimizer steps (`learning_rate_factor`).

    `schedule: cosine` lowers the rate from `lr` along half a cosine to `lr · final_lr_fraction`
    at step `decay_steps` (counted over all runs, resumes included) and holds it there;
    `warmup_steps` first raise it linearly from 0. `constant` keeps `lr` (after any warm-up).
    `clip_grad_norm` bounds a step's gradients (Lightning's `gradient_clip_val`, by norm).

    `average_decay` keeps an exponential moving average of the swap network's weights beside the
    trained ones (`SwapLightningModule.average`): validation, previews and the exported model use
    it. Its decay after n updates is `min(average_decay, (1 + n) / (10 + n))`, so a run averages
    about its last ninth of steps until n reaches the decay's own horizon.
    """

    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(5e-5, gt=0, description="faceit's 5e-5, for days of training")
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    decay_steps: int | None = Field(
        None, ge=1, description="the step at which `cosine` reaches its final rate"
    )
    final_lr_fraction: float = Field(0.05, ge=0, le=1)
    clip_grad_norm: float | None = Field(
        None,
        gt=0,
        description="rescale a step's gradients whose total L2 norm is above this (None: never)",
    )
    average_decay: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="decay of the moving average of the weights that the model is used by"
        " (None: the trained weights themselves)",
    )

    @model_validator(mode="after")
    def _cosine_needs_its_horizon(self) -> OptimizerSettings:
        if self.schedule == "cosine" and self.decay_steps is None:
            raise ValueError(
                "schedule: cosine needs decay_steps, the optimizer step at which the learning"
                " rate reaches lr · final_lr_fraction (e.g. the steps a run of max_minutes makes)"
            )
        if self.decay_steps is not None and self.decay_steps <= self.warmup_steps:
            raise ValueError(
                f"decay_steps ({self.decay_steps}) must be more than warmup_steps"
                f" ({self.warmup_steps})"
            )
        return self

    def learning_rate_factor(self, step: int) -> float:
        """The learning rate at optimizer step `step` (0-based, over all runs), as a share of
        `lr`."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / (self.decay_steps - self.warmup_steps))
        floor = self.final_lr_fraction
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


# The adversaries a pair's training can have, by the loss weight that turns each on (> 0). Each
# brings weights and optimizer state of its own, so a checkpoint fits only a run with the same ones.
ADVERSARY_WEIGHTS = {"code": "code_identity_weight", "face": "face_adversary_weight"}


def adversaries_in(loss: Mapping[str, Any]) -> tuple[str, ...]:
    """The adversaries (names in `ADVERSARY_WEIGHTS`) whose weight is above 0 in `loss`, a
    `LossSettings` dump or the loss block a checkpoint saved (a missing weight counts as 0)."""
    return tuple(name for name, key in ADVERSARY_WEIGHTS.items() if float(loss.get(key, 0.0)) > 0)


class LossSettings(StrictModel):
    """`(1 - ssim_weight) · L1 + ssim_weight · (1 - SSIM) / 2 + gradient_weight · edge L1`, eyes
    and mouth weighted extra (`model.losses.reconstruction_loss`), `face_feature_weight` · the
    face-feature distance (`model.face_features.face_feature_loss`), and the optional adversaries'
    terms (`SwapLightningModule`)."""

    ssim_weight: float = Field(0.5, ge=0, le=1)
    gradient_weight: float = Field(
        0.0, ge=0, description="L1 of the image gradients, against blur (0 = none)"
    )
    face_feature_weight: float = Field(
        0.0,
        ge=0,
        description="weight of the perceptual distance in the face detector's features, against"
        " blur (0 = none)",
    )
    eye_mouth_weight: float = Field(
        3.0, ge=1, description="weight of the eyes and mouth (from the 68 landmarks); 1 = none"
    )
    code_identity_weight: float = Field(
        0.0,
        ge=0,
        description="weight of the adversary that tells A's codes from B's (0 = none)",
    )
    face_adversary_weight: float = Field(
        0.0,
        ge=0,
        description="weight of the adversaries that tell each person's real faces from drawn ones"
        " (0 = none)",
    )
    swap_adversary_weight: float = Field(
        0.0,
        ge=0,
        description="weight of the face adversaries' term on the swaps: each person's"
        " discriminator also judges the other person's faces drawn by this person's decoder"
        " (0 = none; needs face_adversary_weight > 0)",
    )

    @model_validator(mode="after")
    def _swaps_need_the_face_adversary(self) -> LossSettings:
        if self.swap_adversary_weight > 0 and self.face_adversary_weight <= 0:
            raise ValueError(
                "loss.swap_adversary_weight needs the face adversary's discriminators: set"
                " loss.face_adversary_weight above 0 too (e.g. 0.1), or swap_adversary_weight to 0"
            )
        return self

    @property
    def with_landmark_mask(self) -> bool:
        """Whether the faces need their eyes-and-mouth channel (only a weight above 1 reads it)."""
        return self.eye_mouth_weight > 1.0

    @property
    def with_code_adversary(self) -> bool:
        """Whether training has the code discriminator (its weights and optimizer state)."""
        return self.code_identity_weight > 0

    @property
    def with_face_adversary(self) -> bool:
        """Whether training has the face discriminators (their weights and optimizer state)."""
        return self.face_adversary_weight > 0

    @property
    def adversaries(self) -> tuple[str, ...]:
        """The adversaries training has, by their names in `ADVERSARY_WEIGHTS`."""
        return adversaries_in(self.model_dump())


class TrainerSettings(StrictModel):
    """Lightning `Trainer` settings; `precision: auto` is bf16-mixed on a CUDA GPU that has it,
    else 32-true."""

    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    # "auto" with several devices is DDP too; both start their ranks from the training node
    # (faceswap_pipeline.distributed), never by re-running `kedro run`.
    strategy: Literal["auto", "ddp"] = "auto"
    num_nodes: int = Field(1, ge=1)
    precision: str = "auto"


class TrainingSettings(StrictModel):
    """How long, how and from what a training run goes: budget, cadences, checkpoints, the
    optimizer, loss and augmentation, and the Lightning `Trainer`.

    Cadences are in optimizer steps. `max_steps` counts over all runs (resumes included),
    `max_minutes` this run only (None: no time limit). `preview_every_n_steps: 0` renders the
    preview grid only at the end.
    """

    batch_size: int = Field(64, ge=1, description="faces per person per step, all processes")
    max_steps: int = Field(100_000, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    val_every_n_steps: int = Field(250, ge=1)
    checkpoint_every_n_steps: int = Field(250, ge=1)
    checkpoint_dir: str = "data/06_models/checkpoints"
    resume: bool = True
    preview_every_n_steps: int = Field(250, ge=0)
    preview_faces: int = Field(6, ge=1, le=32)
    log_every_n_steps: int = Field(10, ge=1)
    compile: bool = False
    seed: int = 42
    progress_bar: bool = False
    optimizer: OptimizerSettings = OptimizerSettings()
    loss: LossSettings = LossSettings()
    augmentation: AugmentationConfig = AugmentationConfig()
    trainer: TrainerSettings = TrainerSettings()


# The settings whose best value depends on whether a pair starts from a base model, and what
# "auto" (their default in `training`) means in each case: (from scratch, from a base model).
# From scratch, faceit's random warp is what keeps a fresh shared-encoder model from copying its
# input, and it needs no more. From a base model that takes its decoders too (`init_fresh: []`),
# the code adversary hides whose face a code is instead, the decoders learn the pair's faces
# unwarped, as the conversion shows them, and clipping bounds the gradient spike that collapsed one
# run in six: the fastest recipe measured (README "What you get after how long").
AUTO = "auto"
AUTO_SETTINGS: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("augmentation", "warp"): (1.0, 0.0),
    ("loss", "code_identity_weight"): (0.0, 0.1),
    ("optimizer", "clip_grad_norm"): (None, 1.0),
}


def resolve_auto_settings(training: Mapping[str, Any], from_base_model: bool) -> dict[str, Any]:
    """`training` (the YAML's block, or part of it) with each `AUTO_SETTINGS` key that is "auto"
    or not given set to its value from scratch or from a base model; a number given wins.

    Returns a new dict; the blocks it changes are copied, the others shared.
    """
    resolved = dict(training)
    for (block, key), (scratch, fine_tune) in AUTO_SETTINGS.items():
        settings = resolved.get(block)
        if settings is not None and not isinstance(settings, Mapping):
            continue  # not a block: the settings' own validation names it
        settings = dict(settings or {})
        if settings.get(key, AUTO) == AUTO:
            settings[key] = fine_tune if from_base_model else scratch
            resolved[block] = settings
    return resolved


def auto_settings_of(settings: TrainingSettings) -> dict[str, Any]:
    """The values `settings` has for the `AUTO_SETTINGS` keys, by dotted name (for the log)."""
    return {
        f"{block}.{key}": getattr(getattr(settings, block), key) for block, key in AUTO_SETTINGS
    }


def pretraining_settings(training: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a base model trains with: the pair training's (`training`, as in
    parameters_training.yml) with the pretraining's `changes` (`pretraining.training`; a mapping
    value is merged into the pair's, key by key).

    Each preset's `pretraining.training` sets its own `batch_size` (conf/base: 64 faces a step,
    the base models measured in benchmarks/README.md); one that does not takes the pair's.

    Returns:
        A new mapping, to be validated (`TrainingSettings`, or the pipeline's `TrainingParams`).
    """
    merged = copy.deepcopy(dict(training))
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged
