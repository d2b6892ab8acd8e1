"""benchmarks/time_to_convincing.py says how a base model was pretrained where it differs from the
pipeline's pretraining: a trial's `--set` reaches the script's pretraining unless `--pretrain-set`
sets it, and twice one meant for the pair went unseen into a base model."""

from __future__ import annotations

import copy
import sys

from faceswap_pipeline.model.pretrained import pretraining_recipe
from tests.helpers import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from presets import preset_pretraining, preset_training  # noqa: E402
from shared_faces import set_parameter  # noqa: E402
from time_to_convincing import benchmark_pretraining_settings, describe_recipe  # noqa: E402


def test_a_pair_setting_that_reached_the_pretraining_is_named(tmp_path):
    preset_file = PROJECT_ROOT / "conf/base/parameters_training.yml"
    preset, pretraining = preset_training(preset_file), preset_pretraining(preset_file)
    reference = pretraining_recipe(
        benchmark_pretraining_settings(preset, pretraining, None, None, tmp_path, [])
    )

    # What the pipeline's pretraining does, with another batch.
    batch_32 = pretraining_recipe(
        benchmark_pretraining_settings(preset, pretraining, None, 6400, tmp_path, ["batch_size=32"])
    )
    assert describe_recipe(batch_32, reference) == (
        "pretrained unlike the pipeline's pretraining: batch_size 32 (the pipeline's 64)"
    )
    assert describe_recipe(reference, reference) == (
        "pretrained as the pipeline's pretraining of this preset"
    )

    # `--set loss.gradient_weight=1.0` meant for the pair, and the warp turned off for the pair
    # but set back for the pretraining by --pretrain-set.
    pair = copy.deepcopy(preset)
    set_parameter(pair, "loss.gradient_weight=1.0")
    set_parameter(pair, "augmentation.warp=0")
    leaked = pretraining_recipe(
        benchmark_pretraining_settings(
            pair, pretraining, None, 6400, tmp_path, ["augmentation.warp=auto"]
        )
    )
    assert describe_recipe(leaked, reference) == (
        "pretrained unlike the pipeline's pretraining: "
        "loss.gradient_weight 1.0 (the pipeline's 0.0)"
    )
    assert describe_recipe(None, reference).startswith("its recipe is not recorded")
