"""The configuration loader: conf/base, then a preset (`--env tiny`), then conf/local, then
`--params`, each merged with Kedro's merge strategy for its key; and where a value came from."""

from __future__ import annotations

from pathlib import Path

import yaml

from faceswap_pipeline.config_loader import PresetConfigLoader, parameter_origins, sets_key
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


def test_each_value_is_traced_to_the_file_or_params_that_set_it_last(tmp_path):
    conf = tmp_path / "conf"
    _write(
        conf,
        "base",
        "parameters_training.yml",
        {"training": {"width": 0.25, "seed": 42, "optimizer": {"lr": 5e-4, "betas": [0.5, 0.9]}}},
    )
    _write(conf, "base", "parameters_ingestion.yml", {"person_a": {"sources": [{"url": "u"}]}})
    _write(conf, "tiny", "parameters_training.yml", {"training": {"width": 0.1, "seed": 1}})
    _write(conf, "local", "parameters_training.yml", {"training": {"seed": 7}})
    _write(conf, "local", "parameters_ingestion.yml", {"person_a": {"sources": [{"path": "a"}]}})
    given = {"training": {"optimizer": {"lr": -1}}}

    def origins(key: str, env: str | None = "tiny", params: dict | None = given) -> list[str]:
        return parameter_origins(key, conf, env, params)

    base, tiny = "conf/base/parameters_training.yml", "conf/tiny/parameters_training.yml"
    local = "conf/local/parameters_training.yml"
    # --params over conf/local over the preset over conf/base, key by key: a value set higher
    # hides the ones below it.
    assert origins("training.optimizer.lr") == ["--params"]
    assert origins("training.seed") == [local]
    assert origins("training.width") == [tiny]
    assert origins("training.optimizer.betas") == [base]
    # A block: every place that sets a value in it.
    assert origins("training.optimizer") == ["--params", base]
    assert origins("training") == ["--params", local, tiny, base]
    # An item of a list belongs to whoever set the list: lists are replaced whole.
    assert origins("training.optimizer.betas.1") == [base]
    assert origins("person_a.sources.0.path") == ["conf/local/parameters_ingestion.yml"]
    # ... and for a check across one item: the list conf/local set replaced conf/base's whole.
    assert origins("person_a.sources.0") == ["conf/local/parameters_ingestion.yml"]
    # A key nobody set (a required one left out).
    assert origins("training.max_minutes") == []
    # Without a preset the run reads conf/local over conf/base only.
    assert origins("training.width", env=None, params=None) == [base]
    assert origins("training.seed", env="local", params=None) == [local]


def test_sets_key_walks_mappings_and_stops_at_a_list():
    config = {"a": {"b": [1, 2], "c": None}}
    assert sets_key(config, "a.c") and sets_key(config, "a.b.1") and sets_key(config, "a")
    assert not sets_key(config, "a.d") and not sets_key(config, "a.c.e")
    assert not sets_key(None, "a") and not sets_key({}, "a")
