"""Training parameters: every preset is valid, and a wrong value is refused naming
`training.<key>`."""

from __future__ import annotations

import pytest
import yaml

from faceswap_pipeline.pipelines.training.params import parse_training_params
from tests.helpers import PROJECT_ROOT

PRESETS = ["base", "gpu", "tiny"]


def _preset(env: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / env / "parameters_training.yml").read_text())[
        "training"
    ]


@pytest.mark.parametrize("env", PRESETS)
def test_every_preset_is_valid(env):
    params = parse_training_params(_preset(env))
    assert params.input_size in (64, 128, 256)


def test_the_cpu_preset_is_the_small_original_model_and_the_gpu_one_the_hires_model_in_bf16():
    cpu, gpu = parse_training_params(_preset("base")), parse_training_params(_preset("gpu"))
    assert (cpu.architecture, cpu.input_size, cpu.trainer.precision) == ("original", 64, "auto")
    assert (gpu.architecture, gpu.input_size, gpu.trainer.precision) == ("hires", 128, "bf16-mixed")
    assert cpu.max_minutes is not None and cpu.max_minutes <= 8


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"batch_size": 0}, r"training\.batch_size: Input should be greater than or equal to 1"),
        ({"architecture": "dfl"}, r"training\.architecture: Input should be 'original' or 'hires'"),
        (
            {"architecture": "original", "input_size": 128},
            r"input_size 128 does not fit architecture 'original'",
        ),
        ({"optimizer": {"lr": -1}}, r"training\.optimizer\.lr: Input should be greater than 0"),
        ({"val_fraction": 0.9}, r"training\.val_fraction"),
        ({"unknown_key": 1}, r"training\.unknown_key: Extra inputs are not permitted"),
        (
            {"trainer": {"strategy": "ddp_spawn"}},
            r"training\.trainer\.strategy: Input should be 'auto' or 'ddp'",
        ),
    ],
)
def test_a_wrong_parameter_is_refused_by_name(override, message):
    with pytest.raises(ValueError, match=message):
        parse_training_params({**_preset("base"), **override})


def test_init_fresh_takes_the_models_parts_and_refuses_others():
    from typing import get_args

    from faceswap_pipeline.model.networks import MODEL_PARTS
    from faceswap_pipeline.pipelines.training.params import ModelPart

    assert get_args(ModelPart) == MODEL_PARTS
    # By default a base model gives every part, both decoders included.
    assert parse_training_params(_preset("base")).init_fresh == []
    fresh = parse_training_params({**_preset("base"), "init_fresh": ["decoder_output"]})
    assert fresh.init_fresh == ["decoder_output"]
    with pytest.raises(ValueError, match=r"training\.init_fresh"):
        parse_training_params({**_preset("base"), "init_fresh": ["decoders"]})


@pytest.mark.parametrize("env", PRESETS)
def test_the_auto_settings_train_from_scratch_as_before_and_from_a_base_model_by_the_recipe(env):
    """The random warp, the code adversary and gradient clipping say `auto` in every preset:
    from scratch faceit's warp and nothing else; from a base model the measured recipe (no warp,
    the code adversary at 0.1, gradients clipped at norm 1)."""
    preset = _preset(env)
    assert preset["augmentation"]["warp"] == "auto"
    assert preset["loss"]["code_identity_weight"] == "auto"
    assert preset["optimizer"]["clip_grad_norm"] == "auto"

    def recipe(params):
        return (
            params.augmentation.warp,
            params.loss.code_identity_weight,
            params.optimizer.clip_grad_norm,
        )

    assert recipe(parse_training_params(preset)) == (1.0, 0.0, None)
    from_base = parse_training_params({**preset, "init_from": "base_model"})
    assert recipe(from_base) == (0.0, 0.1, 1.0)
    assert from_base.loss.adversaries[0] == "code"
    # A value given wins, either way; a key left out counts as auto.
    given = parse_training_params(
        {
            **preset,
            "init_from": "base_model",
            "augmentation": {**preset["augmentation"], "warp": 0.5},
            "optimizer": {
                key: v for key, v in preset["optimizer"].items() if key != "clip_grad_norm"
            },
        }
    )
    assert recipe(given) == (0.5, 0.1, 1.0)
    scratch = parse_training_params(
        {**preset, "loss": {**preset["loss"], "code_identity_weight": 0.3}}
    )
    assert recipe(scratch) == (1.0, 0.3, None)


def test_a_misspelt_auto_is_refused_naming_the_setting():
    preset = _preset("base")
    with pytest.raises(
        ValueError, match=r"training\.augmentation\.warp: Input should be a valid number"
    ):
        parse_training_params(
            {**preset, "augmentation": {**preset["augmentation"], "warp": "atuo"}}
        )


def test_frozen_parts_must_come_from_a_base_model():
    base = _preset("base")
    assert parse_training_params(base).init_frozen == []
    frozen = parse_training_params(
        {**base, "init_from": "base_model", "init_frozen": ["convolutions"]}
    )
    assert frozen.init_frozen == ["convolutions"]
    with pytest.raises(ValueError, match=r"training.*init_from names no base model"):
        parse_training_params({**base, "init_frozen": ["convolutions"]})
    with pytest.raises(
        ValueError, match=r"init_frozen \['decoder_output'\] are also in init_fresh"
    ):
        parse_training_params(
            {
                **base,
                "init_from": "base_model",
                "init_fresh": ["decoder_output"],
                "init_frozen": ["decoder_output"],
            }
        )


def test_each_preset_trains_and_pretrains_into_checkpoint_folders_of_its_own(tmp_path):
    """A switch of preset (a tiny smoke run, then the CPU preset) resumes each one's own training
    instead of meeting the other model's checkpoint."""
    from kedro.config import OmegaConfigLoader

    from faceswap_pipeline.settings import CONFIG_LOADER_ARGS

    # The presets as `kedro run --env ENV` loads them; an empty run environment stands in for a
    # developer's conf/local when no preset is named.
    conf = tmp_path / "conf"
    conf.mkdir()
    for env in PRESETS:
        (conf / env).symlink_to(PROJECT_ROOT / "conf" / env)
    (conf / "empty").mkdir()
    parameters = {
        env: OmegaConfigLoader(
            conf_source=str(conf),
            **{**CONFIG_LOADER_ARGS, "default_run_env": "empty"},
            env=None if env == "base" else env,
        )["parameters"]
        for env in PRESETS
    }
    folders = [
        folder
        for env in PRESETS
        for folder in (
            parameters[env]["training"]["checkpoint_dir"],
            parameters[env]["pretraining"]["training"]["checkpoint_dir"],
        )
    ]
    assert len(set(folders)) == len(folders) == 2 * len(PRESETS)
    assert folders[:2] == ["data/06_models/checkpoints", "data/06_models/pretraining_checkpoints"]
    # The gpu preset changes only the pretraining's folder: its sources are conf/base's.
    assert (
        parameters["gpu"]["pretraining"]["sources"] == parameters["base"]["pretraining"]["sources"]
    )
