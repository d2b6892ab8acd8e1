"""Typed training parameters (`conf/base/parameters_training.yml`), checked before any work.

The training engine's settings (`model.settings.TrainingSettings`: budget, cadences, checkpoints,
optimizer, loss, augmentation, trainer) are parsed straight from the YAML; this stage adds the
model's configuration, which faces train and which are held out, and the validation swaps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from faceswap_pipeline.model.settings import TrainingSettings, resolve_auto_settings
from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.strict_model import StrictModel

if TYPE_CHECKING:
    from faceswap_pipeline.model.networks import ModelConfig

_DEFAULT_INPUT_SIZE = {"original": 64, "hires": 128}
# The parts of a swap model, as `model.networks.MODEL_PARTS` names them (that module imports torch).
ModelPart = Literal["convolutions", "bottleneck", "decoder_input", "decoder_output"]
# The keys of the model's configuration (`model.networks.ModelConfig`).
MODEL_KEYS = ("architecture", "input_size", "width", "coverage", "crop_size")


class ValidationSwapParams(StrictModel):
    """The swaps judged at every validation (see `evaluation.validation_swaps`)."""

    faces: int = Field(8, ge=0, le=256)


class TrainingParams(TrainingSettings):
    """`params:training`, validated before any work starts (conf/base/parameters_training.yml)."""

    architecture: Literal["original", "hires"] = "original"
    input_size: int | None = None
    width: float = Field(1.0, ge=0.05, le=4.0)
    coverage: float = Field(0.625, ge=0.1, le=1.0)
    crop_size: int = Field(256, ge=16)
    min_faces_per_person: int = Field(64, ge=2)
    val_fraction: float = Field(0.1, ge=0, le=0.5)
    val_max_faces: int | None = Field(None, ge=1)
    init_from: str | None = None
    # The parts of the model (model.networks.MODEL_PARTS) that do not come from the base model.
    # Empty: the decoders too; a base model's decoder draws whoever it is given, and the code
    # adversary (an `auto` setting, `model.settings.AUTO_SETTINGS`) turns the swaps to the target.
    init_fresh: list[ModelPart] = []
    # The parts taken from the base model that the pair's training leaves as they are.
    init_frozen: list[ModelPart] = []
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

    @model_validator(mode="before")
    @classmethod
    def _auto_settings(cls, data: Any) -> Any:
        """The settings that default to "auto" (`model.settings.AUTO_SETTINGS`: the random warp,
        the code adversary, gradient clipping) take their value from scratch or from a base model,
        as `init_from` says."""
        if isinstance(data, dict):
            return resolve_auto_settings(data, from_base_model=data.get("init_from") is not None)
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

    @model_validator(mode="after")
    def _frozen_parts_come_from_the_base_model(self) -> TrainingParams:
        both = [part for part in self.init_frozen if part in self.init_fresh]
        if both:
            raise ValueError(
                f"init_frozen {both} are also in init_fresh: a frozen part must come from the base"
                " model (a fresh one would stay random); take it out of one of them"
            )
        if self.init_frozen and self.init_from is None:
            raise ValueError(
                f"init_frozen {self.init_frozen} keeps parts as the base model made them, and"
                " init_from names no base model; set training.init_from (e.g. base_model) or"
                " init_frozen: []"
            )
        return self

    def model_config_dict(self) -> dict[str, Any]:
        """The model's configuration, as `ModelConfig.from_dict` takes it."""
        return self.model_dump(include=set(MODEL_KEYS))

    def swap_model_config(self) -> ModelConfig:
        """The model's configuration (`model.networks.ModelConfig`; imports torch)."""
        from faceswap_pipeline.model.networks import ModelConfig

        return ModelConfig.from_dict(self.model_config_dict())


def parse_training_params(training: dict[str, Any]) -> TrainingParams:
    """Validate `params:training`; a bad value fails naming `training.<key>`."""
    return validate_parameters(
        TrainingParams, training, prefix="training", file="conf/base/parameters_training.yml"
    )
