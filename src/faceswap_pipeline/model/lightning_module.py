"""The LightningModule that trains a `SwapModel`: augmentation on the device, one step for train and
val."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import lightning as L
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel

from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.model.augmentation import augment_faces, crop_model_region
from faceswap_pipeline.model.face_features import FaceFeatures, face_feature_loss, face_features
from faceswap_pipeline.model.losses import reconstruction_loss, ssim
from faceswap_pipeline.model.networks import (
    PERSONS,
    CodeDiscriminator,
    FaceDiscriminator,
    ModelConfig,
    SwapModel,
    check_model_parts,
)
from faceswap_pipeline.model.settings import (
    ADVERSARY_WEIGHTS,
    AUTO_SETTINGS,
    AugmentationConfig,
    LossSettings,
    OptimizerSettings,
    adversaries_in,
)
from faceswap_pipeline.model.sharding import AUGMENTATION_STREAM, stream_seed

logger = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}

# The state_dict prefix of the moving average's weights (`SwapLightningModule.average`).
AVERAGE_PREFIX = "average."


def moving_average(decay: float) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
    """An exponential moving average for `AveragedModel(multi_avg_fn=...)` whose decay grows with
    the updates it has had: `min(decay, (1 + n) / (10 + n))` after n, so a short run averages about
    its last ninth of steps rather than keeping its random start (0.999 ** 1,200 is 0.3)."""

    def update(averaged: list[Tensor], current: list[Tensor], updates: Tensor) -> None:
        count = int(updates)
        kept = min(decay, (1 + count) / (10 + count))
        # torch's own EMA (`swa_utils.get_ema_multi_avg_fn`) updates this way, in one kernel.
        torch._foreach_lerp_(averaged, current, 1.0 - kept)

    return update


def saturated(faces: Tensor) -> Tensor:
    """Per face of `faces` (N, 3, H, W) in 0-1: 1.0 when 90 % of its values are within 0.01 of 0 or
    1, the flat colour of a collapsed model whose sigmoid output saturated; else 0.0. (N,).

    A fresh model draws a flat grey near 0.5, a trained one a face: neither is saturated.
    """
    extreme = (faces < 0.01) | (faces > 0.99)
    return (extreme.flatten(1).float().mean(dim=1) > 0.9).float()


class NonFiniteLossError(FaceswapError, RuntimeError):
    """The training loss became NaN or infinite; the step's weights were not updated."""


class TrainingCollapsedError(FaceswapError, RuntimeError):
    """The model draws one flat, saturated colour for most validation faces: a collapse that
    training does not recover from, so the run stops and writes no model."""


class CheckpointMismatchError(FaceswapError, ValueError):
    """A checkpoint was made for another model configuration, or cannot be read safely."""


class SwapLightningModule(L.LightningModule):
    """Trains one shared encoder and a decoder per person to reconstruct each person's faces.

    Batches are `{"a": uint8 (N, C, T, T), "b": ...}` from `FaceSwapDataModule`; channel 3, when
    present, marks eyes and mouth (255) for the loss weighting.

    With `loss.code_identity_weight > 0` it also trains a `CodeDiscriminator` on the shared code
    (the code adversary, `_code_identity_loss`), and with `loss.face_adversary_weight > 0` a
    `FaceDiscriminator` per person on the decoded faces (the face adversary,
    `_face_adversary_loss`); neither is part of the exported `SwapModel`.

    With `optimizer.average_decay` it keeps a moving average of the swap network's weights
    (`average`, updated after every optimizer step), and what the run is judged and exported by
    is that average (`network`): validation swaps it in, previews and `export_model` use it.
    Lightning's `EMAWeightAveraging` callback would average the discriminators too, and swap the
    trained weights back before the callbacks that judge a validation (`on_validation_end`) run.

    Args:
        model: the `ModelConfig` (or its `to_dict()`).
        optimizer, loss, augmentation: the settings (`model.settings`), or their fields as a dict
            (a checkpoint's hyperparameters); None: the defaults.
        compile: compile the network with `torch.compile` when training starts (pays on a GPU's long
            runs; its minutes of compilation do not on a CPU, see benchmarks/training_overhead.py).
        frozen: parts of the model (`model.networks.MODEL_PARTS`) that do not train: their weights
            stay as loaded (a base model's), and no gradient is computed for them.
        seed: the run's seed (`training.seed`): step n's augmentation on rank r is drawn from the
            stream `(seed, AUGMENTATION_STREAM, r, n)` (`model.sharding.stream_seed`).
    """

    def __init__(
        self,
        model: ModelConfig | Mapping[str, Any],
        optimizer: OptimizerSettings | Mapping[str, Any] | None = None,
        loss: LossSettings | Mapping[str, Any] | None = None,
        augmentation: AugmentationConfig | Mapping[str, Any] | None = None,
        compile: bool = False,
        frozen: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_model_parts(frozen)
        config = model if isinstance(model, ModelConfig) else ModelConfig.from_dict(model)
        self.model_config = config
        self.optimizer_settings = OptimizerSettings.model_validate(optimizer or {})
        self.loss_settings = LossSettings.model_validate(loss or {})
        self.augmentation = AugmentationConfig.model_validate(augmentation or {})
        self.seed = seed
        # This step's augmentation (`augmentation.at_step`): set at the start of every step.
        self._augmentation_now = self.augmentation.at_step(0)
        # Plain values, as every checkpoint so far holds them: checkpoints are read back with
        # torch.load(weights_only=True), which refuses other classes, and `load_from_checkpoint`
        # passes them back in here.
        self.save_hyperparameters(
            {
                "model": self.model_config.to_dict(),
                "optimizer": self.optimizer_settings.model_dump(),
                "loss": self.loss_settings.model_dump(),
                "augmentation": self.augmentation.model_dump(),
                "compile": compile,
                "frozen": list(frozen),
                "seed": seed,
            }
        )
        self.model = SwapModel(self.model_config)
        self.code_discriminator = (
            CodeDiscriminator(self.model.code_channels)
            if self.loss_settings.with_code_adversary
            else None
        )
        self.face_discriminators = (
            nn.ModuleDict({person: FaceDiscriminator(config.width) for person in PERSONS})
            if self.loss_settings.with_face_adversary
            else None
        )
        # Registered after every trained part: the optimizer takes the others in the order
        # that checkpoints of runs without an average hold them.
        decay = self.optimizer_settings.average_decay
        self.average = (
            AveragedModel(
                self.model, multi_avg_fn=moving_average(decay), use_buffers=True
            ).requires_grad_(False)
            if decay is not None
            else None
        )
        self._average_in_use = False
        self.compile_model = compile
        self._compiled = False
        self.frozen_parts = tuple(frozen)
        # The perceptual loss's frozen network, made on first use on the faces' device: held in a
        # tuple, outside the module tree, so that it is in no checkpoint, optimizer or DDP exchange.
        self._feature_network: tuple[FaceFeatures] | tuple[()] = ()

    def configure_model(self) -> None:
        """Frozen parts, channels-last weights and the optional compilation, once, before training
        starts (and before DDP wraps the model, which then leaves frozen weights out of its
        gradient exchange)."""
        self.freeze_parts()
        # NHWC lets cuDNN pick its tensor-core kernels on a GPU; on a CPU (oneDNN) the CPU preset's
        # forward and backward measured ~10-20 % faster too (benchmarks/training_overhead.py).
        self.model.to(memory_format=torch.channels_last)
        if self.average is not None:
            self.average.to(memory_format=torch.channels_last)
        if self.compile_model and not self._compiled:
            # The parts, not the whole model: the training step runs the encoder and the
            # decoders one by one, to hand the code to the code adversary in between.
            self.model.encoder.compile()
            for decoder in self.model.decoders.values():
                decoder.compile()
            self._compiled = True

    def freeze_parts(self) -> None:
        """Turn off the gradient of the frozen parts' weights (`frozen`), on of the others."""
        for name, weight in self.model.named_parameters():
            # No gradient at all, not a zeroed one: the backward pass stops at the frozen layers,
            # which makes a step cheaper (benchmarks/README.md, "frozen convolutions").
            weight.requires_grad_(self.model.part_of(name) not in self.frozen_parts)

    @property
    def network(self) -> SwapModel:
        """The swap network the run is judged and exported by: the moving average of its weights
        once it has one (and is not swapped into `model` already, as during validation), else
        the trained weights."""
        if self._average_ready and not self._average_in_use:
            return self.average.module
        return self.model

    @property
    def _average_ready(self) -> bool:
        return self.average is not None and int(self.average.n_averaged) > 0

    def _use_average(self, use: bool) -> None:
        """Swap the moving average's weights into `model` (`use`), or the trained ones back."""
        if use == self._average_in_use or not self._average_ready:
            return
        with torch.no_grad():
            for averaged, trained in zip(
                self.average.module.parameters(), self.model.parameters(), strict=True
            ):
                kept = averaged.clone()
                averaged.copy_(trained)
                trained.copy_(kept)
        self._average_in_use = use

    def trained_weights(self) -> list[nn.Parameter]:
        """Every weight the optimizer trains: all but the moving average's."""
        return [
            weight
            for name, weight in self.named_parameters()
            if not name.startswith(AVERAGE_PREFIX)
        ]

    def export_model(self) -> SwapModel:
        """The network for saving (`network`): float32, contiguous weights on the CPU, eval mode."""
        return self.network.to(
            device="cpu", dtype=torch.float32, memory_format=torch.contiguous_format
        ).eval()

    def _face_features(self, device: torch.device) -> FaceFeatures:
        """The perceptual loss's network on `device` (one module trains on one device)."""
        if not self._feature_network:
            self._feature_network = (face_features(device),)
        (network,) = self._feature_network
        return network.to(device)

    def _weight_map(self, target: Tensor) -> Tensor | None:
        weight = self.loss_settings.eye_mouth_weight
        if target.shape[1] < 4 or weight == 1.0:
            return None
        return 1.0 + (weight - 1.0) * target[:, 3:4]

    def _shared_step(self, batch: dict[str, Tensor | None], stage: str) -> Tensor:
        config = self.model_config
        total = torch.zeros((), device=self.device)
        codes: dict[str, Tensor] = {}
        drawn: dict[str, tuple[Tensor, Tensor]] = {}
        # A step's augmentation is drawn from its own stream (the seed, this rank, the step): the
        # same in an uninterrupted run and in a resumed one, different on every rank.
        generator = (
            torch.Generator(self.device).manual_seed(
                stream_seed(self.seed, AUGMENTATION_STREAM, self.global_rank, self.global_step)
            )
            if stage == "train"
            else None
        )
        for person in PERSONS:
            faces = batch.get(person)
            if faces is None:
                continue
            # Resampling is linear: scaling the model-sized results to [0, 1] costs a third of
            # scaling the source-sized faces (the same values up to float rounding).
            faces = faces.float()
            if stage == "train":
                inputs, target = augment_faces(
                    faces, config.input_size, config.coverage, self._augmentation_now, generator
                )
                # Out of place: without warp, the input is a view of the target.
                inputs, target = inputs / 255.0, target / 255.0
            else:
                target = crop_model_region(faces, config.input_size, config.coverage) / 255.0
                inputs = target[:, :3]
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            code = self.model.encoder(inputs)
            codes[person] = code
            prediction = self.model.decoders[person](code)
            weights = self._weight_map(target)
            loss = reconstruction_loss(
                prediction,
                target[:, :3],
                weights,
                self.loss_settings.ssim_weight,
                self.loss_settings.gradient_weight,
            )
            if self.loss_settings.face_feature_weight > 0:
                loss = loss + self.loss_settings.face_feature_weight * face_feature_loss(
                    self._face_features(prediction.device), prediction, target[:, :3], weights
                )
            total = total + loss
            drawn[person] = (prediction, target[:, :3])
            # Validation metrics are epoch means: averaged over all processes under DDP.
            log = {"batch_size": faces.shape[0], "sync_dist": stage == "val"}
            self.log(f"{stage}/loss_{person}", loss, prog_bar=stage == "train", **log)
            if stage == "val":
                prediction, target_rgb = prediction.float(), target[:, :3].float()
                self.log(f"val/l1_{person}", (prediction - target_rgb).abs().mean(), **log)
                self.log(f"val/ssim_{person}", ssim(prediction, target_rgb).mean(), **log)
                # A collapsed model draws one flat colour, its sigmoid saturated, for every face.
                self.log(f"val/saturated_share_{person}", saturated(prediction).mean(), **log)
        # The batch size said, not inferred: Lightning warns when it has to guess it from a dict
        # batch.
        faces_per_person = max(
            (len(batch[p]) for p in PERSONS if batch.get(p) is not None), default=1
        )
        self.log(
            f"{stage}/loss",
            total,
            prog_bar=True,
            sync_dist=stage == "val",
            batch_size=faces_per_person,
        )
        if stage == "train":
            if self.code_discriminator is not None and len(codes) == 2:
                total = total + self._code_identity_loss(codes["a"], codes["b"])
            if self.face_discriminators is not None:
                swaps = (
                    self._swaps(codes)
                    if self.loss_settings.swap_adversary_weight > 0 and len(codes) == 2
                    else {}
                )
                total = total + self._face_adversary_loss(drawn, swaps)
        return total

    def _swaps(self, codes: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each person's decoder drawing the other person's codes: `{P: (N, 3, S, S)}`, the
        faces a conversion makes into P (A's faces as B under "b")."""
        return {
            person: self.model.decoders[person](codes[other])
            for person, other in zip(PERSONS, reversed(PERSONS))
        }

    def _face_adversary_loss(
        self, drawn: dict[str, tuple[Tensor, Tensor]], swaps: dict[str, Tensor] | None = None
    ) -> Tensor:
        """The face adversaries' terms, per person P: P's discriminator learns to tell P's real
        faces from P's decoder's reconstructions of them (and from `swaps[P]`, the other's faces
        drawn by P's decoder, when given), and the networks learn to make it take them for real
        (through a frozen copy), weighted by `face_adversary_weight` (`swap_adversary_weight`)."""
        settings = self.loss_settings
        swaps = swaps or {}
        total = torch.zeros((), device=self.device)
        for person, (reconstruction, real) in drawn.items():
            discriminator = self.face_discriminators[person]
            fakes = [reconstruction.float()]
            weights = [settings.face_adversary_weight]
            if person in swaps:
                fakes.append(swaps[person].float())
                weights.append(settings.swap_adversary_weight)
            fake = torch.cat(fakes)
            # Real and detached drawn faces in one pass: the discriminator has no batch statistics.
            real_logits, fake_logits = discriminator(
                torch.cat([real.float(), fake.detach()])
            ).split([len(real), len(fake)])
            discriminator_loss = F.binary_cross_entropy_with_logits(
                real_logits, torch.ones_like(real_logits)
            ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            frozen = {name: weight.detach() for name, weight in discriminator.named_parameters()}
            fooled = torch.func.functional_call(discriminator, frozen, (fake,))
            for weight, fooled_part in zip(weights, fooled.split([len(f) for f in fakes])):
                total = total + weight * F.binary_cross_entropy_with_logits(
                    fooled_part, torch.ones_like(fooled_part)
                )
            accuracy = torch.cat([(real_logits > 0).flatten(), (fake_logits < 0).flatten()])
            self.log(
                f"train/face_adversary_accuracy_{person}",
                accuracy.float().mean(),
                batch_size=len(real),
            )
            total = total + discriminator_loss
        return total

    def _code_identity_loss(self, codes_a: Tensor, codes_b: Tensor) -> Tensor:
        """The code adversary's two terms: the discriminator learns whose codes these are (from
        detached codes), and the encoder learns to leave it guessing, 0.5 for every face (through
        a frozen copy of the discriminator), weighted by `code_identity_weight`."""
        discriminator = self.code_discriminator
        codes = torch.cat([codes_a, codes_b]).float()
        labels = torch.cat([torch.zeros(len(codes_a)), torch.ones(len(codes_b))]).to(codes)
        logits = discriminator(codes.detach())
        discriminator_loss = F.binary_cross_entropy_with_logits(logits, labels)
        frozen = {name: weight.detach() for name, weight in discriminator.named_parameters()}
        confusion = F.binary_cross_entropy_with_logits(
            torch.func.functional_call(discriminator, frozen, (codes,)),
            torch.full_like(labels, 0.5),
        )
        accuracy = ((logits > 0) == (labels > 0.5)).float().mean()
        self.log("train/code_identity_accuracy", accuracy, batch_size=len(logits))
        return discriminator_loss + self.loss_settings.code_identity_weight * confusion

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._shared_step(batch, "train")
        # Checked before backward so the weights of the last good step are the ones a checkpoint
        # keeps.
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"the training loss became {loss.item()} at step {self.global_step}; training"
                " stopped without updating the weights. Lower training.optimizer.lr (or use"
                " precision 32-true) and re-run: it resumes from the last checkpoint."
            )
        return loss

    def validation_step(self, batch: dict[str, Tensor | None], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        settings = self.optimizer_settings
        return OPTIMIZERS[settings.name](
            self.trained_weights(),
            lr=settings.lr,
            betas=settings.betas,
            weight_decay=settings.weight_decay,
        )

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Set this step's learning rate and augmentation (the random warp from
        `augmentation.warp_from_step`) from the settings and the step count.

        Set here rather than by a torch scheduler: a resumed checkpoint restores the optimizer's
        own learning rate (and a scheduler's base rate), so a rate or schedule changed between
        runs would be silently ignored; the settings of this run win.
        """
        settings = self.optimizer_settings
        learning_rate = settings.lr * settings.learning_rate_factor(self.global_step)
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate
        self.log("train/lr", learning_rate, batch_size=1)
        augmentation = self.augmentation.at_step(self.global_step)
        if augmentation.warp != self._augmentation_now.warp and self.global_rank == 0:
            logger.info(
                "step %d: the random warp is on from here (training.augmentation.warp_from_step:"
                " %d)",
                self.global_step,
                self.augmentation.warp_from_step,
            )
        self._augmentation_now = augmentation

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the step's total gradient norm (before any clipping): a spike in it comes before a
        collapse of the reconstruction (`optimizer.clip_grad_norm` bounds it)."""
        gradients = [weight.grad for weight in self.trained_weights() if weight.grad is not None]
        if gradients:
            # torch's foreach norm: no device sync (Lightning's `grad_norm` makes one per weight).
            self.log("train/grad_norm", torch.nn.utils.get_total_norm(gradients), batch_size=1)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.average is not None:
            self.average.update_parameters(self.model)

    def on_validation_start(self) -> None:
        # Lightning runs the module's validation hooks after the callbacks', so every callback's
        # on_validation_end (the validation swaps' verdict, the collapse check) sees the average.
        self._use_average(True)

    def on_validation_end(self) -> None:
        self._use_average(False)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Fit a checkpoint's weights to whether this run keeps a moving average: one saved
        without it starts the average at its trained weights; one saved with it, resumed without,
        drops it."""
        state = checkpoint["state_dict"]
        averaged = [key for key in state if key.startswith(AVERAGE_PREFIX)]
        if self.average is None:
            for key in averaged:
                del state[key]
        elif not averaged:
            for key, value in list(state.items()):
                if key.startswith("model."):
                    state[f"{AVERAGE_PREFIX}module.{key.removeprefix('model.')}"] = value.clone()
            # As if averaged since step 0: the decay goes on where the run's steps are.
            state[f"{AVERAGE_PREFIX}n_averaged"] = torch.tensor(
                max(1, int(checkpoint.get("global_step", 0))), dtype=torch.long
            )


class CheckpointInfo(NamedTuple):
    """What a training checkpoint says about itself (`read_checkpoint_info`).

    Attributes:
        config: the model configuration it was trained with.
        step: the optimizer step it was saved at.
        adversaries: the adversaries it trained (`LossSettings.adversaries`: "code", "face"),
            whose weights and optimizer state it then holds.
    """

    config: ModelConfig
    step: int
    adversaries: tuple[str, ...]


def read_checkpoint_info(
    checkpoint_path: str | Path, parameters: str = "training"
) -> CheckpointInfo:
    """What a Lightning checkpoint of `SwapLightningModule` was trained as and when it was saved.
    `parameters` is where the settings of the run that resumes it are (`training`,
    `pretraining.training`), for the key a refusal names.

    The file is read with `torch.load(weights_only=True)`: a checkpoint that needs arbitrary pickled
    objects (and so could run code) is refused.

    Raises:
        CheckpointMismatchError: unreadable, unsafe, or not a `SwapLightningModule` checkpoint.
    """
    path = Path(checkpoint_path)
    try:
        # mmap: only the few entries read here leave the disk, however big the weights are.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # noqa: BLE001 - any failure means the file cannot be trusted or read
        raise CheckpointMismatchError(
            f"checkpoint {path} cannot be read safely ({type(error).__name__}:"
            f" {str(error).splitlines()[0]}); it may be corrupt or contain pickled code. Delete it"
            f" or set {parameters}.resume: false."
        ) from error
    hyperparameters = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    model = hyperparameters.get("model")
    if not isinstance(model, dict):
        raise CheckpointMismatchError(
            f"checkpoint {path} is not a swap-model training checkpoint (no model configuration); "
            f"delete it or set {parameters}.resume: false."
        )
    try:
        config = ModelConfig.from_dict(model)
    except (TypeError, ValueError) as error:
        raise CheckpointMismatchError(
            f"checkpoint {path} has an unusable model configuration: {error}"
        ) from error
    # The dict as saved (older checkpoints hold None or only some keys), not `LossSettings`: an
    # unreadable loss block must not stop the configuration check above from naming the problem.
    loss = hyperparameters.get("loss") or {}
    return CheckpointInfo(
        config,
        int(checkpoint.get("global_step", 0)),
        adversaries_in(loss),
    )


def check_checkpoint_matches(
    checkpoint_path: str | Path,
    expected: ModelConfig,
    adversaries: tuple[str, ...] = (),
    parameters: str = "training",
) -> int:
    """Fail with a clear message when a checkpoint was trained for another model configuration, or
    with an adversary (`LossSettings.adversaries`) that the run trains without (or the other way
    round): its weights and optimizer state would not fit. `parameters` is where the run's settings
    are (`training`, or `pretraining.training`), for the keys the message names.

    Returns:
        The optimizer step the checkpoint was saved at.

    Raises:
        CheckpointMismatchError: the configurations differ (naming both) or the file is unsafe.
    """
    found = read_checkpoint_info(checkpoint_path, parameters)
    if found.config != expected:
        differences = found.config.differences(expected, "parameters say")
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint_path} was trained for another model: {differences}. "
            f"Set {parameters}.resume: false to start over (the old checkpoint is kept as"
            " previous.ckpt), or restore the parameters it was trained with."
        )
    for name in sorted(set(found.adversaries) ^ set(adversaries)):
        trained, asked = ("with", "0") if name in found.adversaries else ("without", "above 0")
        key = ADVERSARY_WEIGHTS[name]
        # A weight left `auto` changes with training.init_from alone: say so, or the user who
        # only named a base model is told to restore a weight they never set.
        auto = AUTO_SETTINGS.get(("loss", key))
        why = f" (`auto` is {auto[0]} from scratch, {auto[1]} from a base model)" if auto else ""
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint_path} was trained {trained} the {name} adversary, and"
            f" {parameters}.loss.{key} is {asked} now{why}. Set {parameters}.resume: false to"
            " start over (the old checkpoint is kept as previous.ckpt), or restore the weight it"
            " was trained with."
        )
    return found.step
