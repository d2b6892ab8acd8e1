"""The configuration loader: conf/base, then a preset (`--env tiny`), then conf/local, then
`--params`, each merged with Kedro's merge strategy for its key."""

from __future__ import annotations

from pathlib import Path

import yaml

from faceswap_pipeline.config_loader import PresetConfigLoader
from faceswap_pipeline.settings import CONFIG_LOADER_ARGS


def _write(conf: Path, env: str, name: str, content: dict) -> None:
    (conf / env).mkdir(parents=True, exist_ok=True)
    (conf / env / name).write_text(yaml.safe_dump(content))


def _loader(conf: Path, env: str | None, runtime_params: dict | None = None) -> PresetConfigLoader:
    return PresetConfigLoader(
        conf_source=str(conf), env=env, runtime_params=runtime_params, **CONFIG_LOADER_ARGS
    )


def test_conf_local_is_read_over_a_preset_and_params_over_both(tmp_path):
    conf = tmp_path / "conf"
    _write(
        conf,
        "base",
        "parameters_training.yml",
        {"training": {"width": 0.25, "max_minutes": 6, "batch_size": 16, "seed": 42}},
    )
    _write(
        conf,
        "base",
        "parameters_ingestion.yml",
        {"person_a": {"name": "person A", "sources": [{"url": "https://example.com/a"}]}},
    )
    _write(conf, "base", "catalog.yml", {"swap_model": {"type": "A", "path": "base"}})
    _write(conf, "tiny", "parameters_training.yml", {"training": {"width": 0.1, "max_minutes": 1}})
    _write(
        conf, "local", "parameters_ingestion.yml", {"person_a": {"sources": [{"path": "a.mp4"}]}}
    )
    _write(conf, "local", "parameters_training.yml", {"training": {"max_minutes": 9}})
    _write(conf, "local", "catalog.yml", {"swap_model": {"type": "B"}})

    loader = _loader(conf, "tiny", runtime_params={"training": {"seed": 7}})
    parameters = loader["parameters"]
    # The preset's width, conf/local's budget over the preset's, --params over all; one key at a
    # time, the rest of each block kept.
    assert parameters["training"] == {"width": 0.1, "max_minutes": 9, "batch_size": 16, "seed": 7}
    # A list is replaced whole; the other keys of the block stay.
    assert parameters["person_a"] == {"name": "person A", "sources": [{"path": "a.mp4"}]}
    # Catalog entries replace each other whole, as Kedro merges the run environment over base.
    assert loader["catalog"]["swap_model"] == {"type": "B"}

    # Without a preset conf/local is Kedro's own run environment: read once, the same result.
    plain = _loader(conf, None, runtime_params={"training": {"seed": 7}})["parameters"]
    assert plain["training"] == {"width": 0.25, "max_minutes": 9, "batch_size": 16, "seed": 7}
    assert plain["person_a"] == parameters["person_a"]


def test_a_preset_without_conf_local_or_with_an_empty_one_reads_base_and_the_preset(tmp_path):
    conf = tmp_path / "conf"
    _write(conf, "base", "parameters_training.yml", {"training": {"width": 0.25, "seed": 42}})
    _write(conf, "tiny", "parameters_training.yml", {"training": {"width": 0.1}})
    expected = {"training": {"width": 0.1, "seed": 42}}
    assert _loader(conf, "tiny")["parameters"] == expected
    (conf / "local").mkdir()
    (conf / "local" / "parameters_training.yml").write_text("\n")
    assert _loader(conf, "tiny")["parameters"] == expected
