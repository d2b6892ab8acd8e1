"""The project's parameter presets as `kedro run --env ENV` reads them, without Kedro: conf/base's
file with the environment's merged over it key by key (the project's parameters merge softly,
`settings.CONFIG_LOADER_ARGS`). Needs only PyYAML: gpu_check.py reads the gpu preset with it on a
bare device machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONF = Path(__file__).resolve().parents[1] / "conf"


def environment_parameters(env: str, name: str) -> dict[str, Any]:
    """The parameters of `name` (e.g. ``"parameters_training.yml"``) in environment `env`
    (``"base"``, ``"gpu"``, ``"tiny"``): conf/base/<name>, then conf/<env>/<name> merged over it
    (a mapping into a mapping key by key, anything else replaced), as `kedro run --env ENV` has them
    before conf/local and `--params`."""
    parameters: dict[str, Any] = {}
    for folder in dict.fromkeys(("base", env)):
        path = CONF / folder / name
        if path.exists():
            parameters = _merge(parameters, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return parameters


def preset_training(preset: Path) -> dict[str, Any]:
    """`training` of a preset file given on a benchmark's command line: one of the project's
    (conf/<env>/parameters_training.yml) as `kedro run --env ENV` reads it, over conf/base's; any
    other file alone."""
    preset = preset.resolve()
    if preset.parent.parent == CONF:
        return environment_parameters(preset.parent.name, preset.name)["training"]
    return yaml.safe_load(preset.read_text(encoding="utf-8"))["training"]


def preset_pretraining(preset: Path) -> dict[str, Any]:
    """`pretraining` of the environment of a preset file given on a benchmark's command line (the
    base model the pipeline pretrains for that preset's pairs); conf/base's for any other file."""
    preset = preset.resolve()
    env = preset.parent.name if preset.parent.parent == CONF else "base"
    return environment_parameters(env, "parameters_pretraining.yml")["pretraining"]


def _merge(below: dict[str, Any], above: dict[str, Any]) -> dict[str, Any]:
    merged = dict(below)
    for key, value in above.items():
        both_blocks = isinstance(value, dict) and isinstance(below.get(key), dict)
        merged[key] = _merge(below[key], value) if both_blocks else value
    return merged
