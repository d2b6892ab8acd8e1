"""The output-summary hook: one log line per node naming what it made and where."""

from __future__ import annotations

import logging

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node
from kedro_datasets.pandas import ParquetDataset

from faceswap_pipeline.hooks import OutputSummaryHooks, local_parameters_over_preset


def _split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return table, table


def test_names_stored_outputs_and_where(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog(
        {
            "kept_table": ParquetDataset(filepath="data/03_primary/kept.parquet"),
            "elsewhere": ParquetDataset(filepath=str(tmp_path.parent / "outside.parquet")),
            "in_memory": MemoryDataset(),
        }
    )
    node = Node(_split, "table", ["kept_table", "in_memory"], name="split_table")
    with caplog.at_level(logging.INFO, logger="faceswap_pipeline.hooks"):
        OutputSummaryHooks().after_node_run(node=node, catalog=catalog, outputs={})
        OutputSummaryHooks().after_node_run(
            node=Node(_split, "table", ["elsewhere", "in_memory"], name="export"),
            catalog=catalog,
            outputs={},
        )
        OutputSummaryHooks().after_node_run(
            node=Node(_split, "table", ["in_memory", "not_in_catalog"], name="memory_only"),
            catalog=catalog,
            outputs={},
        )
    assert caplog.messages == [
        "split_table made kept_table (data/03_primary/kept.parquet)",
        f"export made elsewhere ({tmp_path.parent / 'outside.parquet'})",
    ]


def test_conf_local_parameters_a_preset_run_reads_over_its_preset_are_named(tmp_path):
    conf = tmp_path / "conf"
    (conf / "local").mkdir(parents=True)
    (conf / "local" / "parameters_ingestion.yml").write_text("person_a:\n  name: Alice\n")
    (conf / "local" / "parameters_training.yml").write_text("\n")  # empty: sets nothing
    (conf / "local" / "credentials.yml").write_text("token: x\n")  # not parameters

    over_tiny = local_parameters_over_preset(conf, "tiny")
    assert over_tiny == [conf / "local" / "parameters_ingestion.yml"]
    # conf/local is the run environment itself: nothing is read over a preset.
    assert local_parameters_over_preset(conf, "local") == []
    assert local_parameters_over_preset(conf, None) == []
