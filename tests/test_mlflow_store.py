"""The MLflow store is made once however many processes open it fresh at the same moment."""

from __future__ import annotations

import subprocess
import sys
import time

import mlflow
from kedro.config import OmegaConfigLoader

from faceswap_pipeline.mlflow_store import mlflow_tracking_uri, prepare_tracking_store

# Each process imports MLflow first, then waits for the start file, so that all open the store
# within milliseconds: as two `kedro run`s started together, or a run beside `make mlflow-ui`.
_OPEN_AT_ONCE = """
import sys, time
from pathlib import Path
from faceswap_pipeline.mlflow_store import prepare_tracking_store
import mlflow.store.tracking.sqlalchemy_store
start = Path(sys.argv[2])
while not start.exists():
    time.sleep(0.005)
prepare_tracking_store(sys.argv[1])
"""


def test_processes_that_open_a_fresh_store_at_once_all_get_it_whole(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    start = tmp_path / "start"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT_ONCE, uri, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(8)  # every process has imported MLflow and waits
    start.touch()
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], "\n".join(outputs)

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("after")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "loss", 0.5, step=3)
    assert client.get_metric_history(run.info.run_id, "loss")[0].step == 3


def test_the_uri_is_the_one_mlflow_yml_names_and_only_sqlite_stores_are_prepared(tmp_path):
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    loader = OmegaConfigLoader(str(conf), base_env="base", default_run_env="local")
    assert mlflow_tracking_uri(loader) is None  # no mlflow.yml: MLflow's default

    (conf / "base" / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: sqlite:///{tmp_path}/runs/mlflow.db\n"
    )
    loader = OmegaConfigLoader(str(conf), base_env="base", default_run_env="local")
    uri = mlflow_tracking_uri(loader)
    assert uri == f"sqlite:///{tmp_path}/runs/mlflow.db"
    prepare_tracking_store(uri)
    assert (tmp_path / "runs" / "mlflow.db").stat().st_size > 0

    prepare_tracking_store("http://127.0.0.1:5000")  # a server: its own business
    prepare_tracking_store(None)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["conf", "runs"]
