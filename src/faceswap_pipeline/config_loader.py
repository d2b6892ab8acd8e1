"""The configuration loader: a preset (`--env tiny`, `--env gpu`) layered under conf/local.

Kedro reads conf/base and one run environment: conf/local by default, or the preset's folder with
`--env`. Here the presets are model sizes and budgets, while conf/local holds a user's own people
and settings, so a preset run reads conf/base, then the preset, then conf/local, then `--params`:
the user's own values win over the preset's, and `--params` over everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
