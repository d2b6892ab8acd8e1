"""The configuration loader: a preset (`--env tiny`, `--env gpu`) layered under conf/local.

Kedro reads conf/base and one run environment: conf/local by default, or the preset's folder with
`--env`. Here the presets are model sizes and budgets, while conf/local holds a user's own people
and settings, so a preset run reads conf/base, then the preset, then conf/local, then `--params`:
the user's own values win over the preset's, and `--params` over everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kedro.config import OmegaConfigLoader

# conf/base: every stage's defaults; conf/local: the user's own environment, read over any other
# run environment (a preset).
BASE_ENV = "base"
USER_ENV = "local"


def is_preset(environment: str | None) -> bool:
    """Whether the run environment `environment` (None: Kedro's default, conf/local) is a preset,
    read over conf/base and under conf/local."""
    return environment not in (None, BASE_ENV, USER_ENV)


class PresetConfigLoader(OmegaConfigLoader):
    """`OmegaConfigLoader` that reads conf/local over a run environment other than conf/local.

    Each environment is merged and resolved on its own and then merged over the previous one with
    the key's merge strategy, exactly as Kedro merges the run environment over conf/base
    (parameters key by key with `merge_strategy: {parameters: soft}`; catalog entries whole).
    Kedro merges `--params` into each environment's parameters, so they still win over conf/local.
    """

    def __getitem__(self, key: str) -> dict[str, Any]:
        config = super().__getitem__(key)
        if key in self:  # set explicitly on the loader, not read from files
            return config
        local_path = self.user_env_path()
        if local_path is None:
            return config
        local_config = self.load_and_merge_dir_config(
            str(local_path),
            self.config_patterns[key],
            key,
            processed_files=set(),
            read_environment_variables=key == "credentials",
        )
        if not local_config:
            return config
        return self._merge_configs(config, local_config, key, str(local_path))

    def user_env_path(self) -> Path | None:
        """conf/local when this run reads it over another environment, else None (a run in
        conf/local or conf/base itself, or a project without conf/local)."""
        if not is_preset(self.env or self.default_run_env) or self._protocol != "file":
            return None
        path = Path(self.conf_source) / USER_ENV
        return path if path.is_dir() else None


# Kedro's patterns for parameter files (OmegaConfigLoader's default `config_patterns`), with the
# file types it reads.
_PARAMETER_PATTERNS = ("parameters*", "parameters*/**", "**/parameters*")
_PARAMETER_SUFFIXES = (".yml", ".yaml", ".json")


def _parameter_files(folder: Path) -> list[Path]:
    """The parameter files Kedro reads in one environment folder (`conf/<env>`)."""
    files = {
        path
        for pattern in _PARAMETER_PATTERNS
        for path in folder.glob(pattern)
        if path.is_file() and path.suffix in _PARAMETER_SUFFIXES
    }
    return sorted(files)


def sets_key(config: Any, key: str) -> bool:
    """Whether the nested mapping `config` sets the dotted `key`: the key itself, or a list or
    value above it (a list is replaced whole, so whoever sets it sets its items)."""
    return _setting(config, key) is not None


def _setting(config: Any, key: str) -> str | None:
    """How `config` sets the dotted `key`: ``"block"`` (a mapping, merged with the ones below it
    key by key), ``"whole"`` (a value, or a list at or above the key: it replaces what is below),
    or None (it does not)."""
    node = config
    for part in key.split("."):
        if isinstance(node, list):
            return "whole"
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return "block" if isinstance(node, dict) else "whole"


def parameter_origins(
    key: str, conf: Path, environment: str | None, runtime_params: dict[str, Any] | None
) -> list[str]:
    """The places whose value of the dotted parameter `key` reaches a run, the one that wins first:
    ``"--params"``, then the parameter files of conf/local, the preset and conf/base
    (``conf/local/parameters_training.yml``, relative to the project). A value or a list hides
    the places below it; a block (a mapping) is merged key by key, so each place that sets a value
    in it counts.

    Args:
        key: e.g. ``training.optimizer.lr``.
        conf: the project's conf folder.
        environment: the run's `--env` (None: Kedro's default, conf/local).
        runtime_params: the run's `--params`, nested as Kedro gives them.

    Returns:
        The places, highest first; empty where none sets it (a required key left out).
    """
    run_env = environment or USER_ENV
    # Highest first: conf/local over a preset (PresetConfigLoader), the run environment over base.
    environments = [USER_ENV, run_env] if is_preset(run_env) else [run_env]
    places: list[tuple[str, Any]] = [("--params", runtime_params or {})]
    for env in [*environments, BASE_ENV]:
        for path in _parameter_files(conf / env):
            try:
                config = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):  # the loader has read it already; be safe
                continue
            places.append((str(path.relative_to(conf.parent)), config))
    origins = []
    for place, config in places:
        setting = _setting(config, key)
        if setting is not None:
            origins.append(place)
        if setting == "whole":  # what lies below it never reaches the run
            break
    return origins
