"""The MLflow UI for real: `mlflow ui` (as `make mlflow-ui` starts it) on the tiny run's SQLite
store, on 127.0.0.1, answering its REST API with the run, its parameters, metrics and artifacts (the
training preview byte for byte, and every other artifact dataset the run wrote), and showing the
preview in headless Chromium (screenshot: data/08_reporting/mlflow_ui.png).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
import yaml
from PIL import Image

from tests.helpers import PROJECT_ROOT
from tests.helpers.browser import chromium_page
from tests.helpers.local_servers import LOCALHOST, free_port, stop_process, wait_for_http
from tests.helpers.tiny_run import TINY_ENV, TinyRun

pytestmark = pytest.mark.slow

EXPERIMENT = "faceswap_pipeline"
SCREENSHOT = PROJECT_ROOT / "data" / "08_reporting" / "mlflow_ui.png"
ARTIFACT_DATASET = "kedro_mlflow.io.artifacts.MlflowArtifactDataset"


@pytest.fixture(scope="module")
def mlflow_ui(tiny_run: TinyRun) -> Iterator[str]:
    """`mlflow ui` on the tiny run's store, on a free port of 127.0.0.1; its base URL. Stopped
    afterwards."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tiny_run.tracking_uri,
        "--host",
        LOCALHOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    # Its own session: the server's workers are stopped with it, by its process group.
    server = subprocess.Popen(
        command,
        cwd=tiny_run.project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base_url = f"http://{LOCALHOST}:{port}"
    try:
        wait_for_http(f"{base_url}/health", server, timeout_s=180)
        yield base_url
    finally:
        stop_process(server)


def _get(base_url: str, endpoint: str, **query: str) -> dict:
    url = f"{base_url}{endpoint}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def _post(base_url: str, endpoint: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base_url}{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _artifact_bytes(base_url: str, run_id: str, path: str) -> bytes:
    # The endpoint the UI's artifact viewer reads.
    query = urllib.parse.urlencode({"path": path, "run_uuid": run_id})
    with urllib.request.urlopen(f"{base_url}/get-artifact?{query}", timeout=60) as response:
        return response.read()


def _list_artifacts(base_url: str, run_id: str, path: str = "") -> set[str]:
    """Every file path in the run's artifacts under ``path``, through the REST API (folders
    walked)."""
    listing = _get(
        base_url,
        "/api/2.0/mlflow/artifacts/list",
        run_id=run_id,
        **({"path": path} if path else {}),
    )
    files: set[str] = set()
    for entry in listing.get("files", []):
        if entry["is_dir"]:
            files |= _list_artifacts(base_url, run_id, entry["path"])
        else:
            files.add(entry["path"])
    return files


# The pretraining is its own run (`kedro run --pipelines pretraining`), never part of the default
# one.
PRETRAINING_CATALOG = "catalog_pretraining.yml"


def _artifact_datasets(project: Path, pretraining: bool = False) -> dict[str, tuple[Path, str]]:
    """Catalog entries kedro-mlflow logs as artifacts: name → (local file or folder, artifact path),
    of the default run's pipelines, or of the pretraining's when ``pretraining``."""
    found = {}
    for catalog_file in sorted((project / "conf" / "base").glob("catalog*.yml")):
        if (catalog_file.name == PRETRAINING_CATALOG) != pretraining:
            continue
        for name, entry in (yaml.safe_load(catalog_file.read_text()) or {}).items():
            if not isinstance(entry, dict) or entry.get("type") != ARTIFACT_DATASET or "{" in name:
                continue
            inner = entry["dataset"]
            local = project / (inner.get("filepath") or inner["path"])
            prefix = entry.get("artifact_path")
            found[name] = (local, str(PurePosixPath(prefix, local.name)) if prefix else local.name)
    return found


def _run_named(base_url: str, name: str) -> dict:
    """The one run named ``name`` (kedro-mlflow names a run after its pipeline), as `runs/get`
    returns it."""
    experiment = _get(
        base_url, "/api/2.0/mlflow/experiments/get-by-name", experiment_name=EXPERIMENT
    )["experiment"]
    runs = _post(
        base_url, "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]}
    )["runs"]
    named = [run for run in runs if run["info"]["run_name"] == name]
    assert len(named) == 1, [run["info"]["run_name"] for run in runs]
    return _get(base_url, "/api/2.0/mlflow/runs/get", run_id=named[0]["info"]["run_id"])["run"]


@pytest.fixture(scope="module")
def the_run(mlflow_ui: str) -> dict:
    """The tiny `kedro run` of the default pipeline as the REST API returns it (`runs/get`)."""
    return _run_named(mlflow_ui, "__default__")


def test_the_run_with_its_parameters(the_run, tiny_run):
    assert the_run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in the_run["data"]["params"]}
    # kedro-mlflow logs every `params:` input, flattened: the people and the tiny preset are all
    # there.
    assert params["person_a.name"] == "person A"
    assert params["person_b.name"] == "person B"
    if "training" in tiny_run.pipelines:
        preset = yaml.safe_load(
            (tiny_run.project / "conf" / TINY_ENV / "parameters_training.yml").read_text()
        )
        assert params["training.max_steps"] == str(preset["training"]["max_steps"])
        assert params["training.architecture"] == preset["training"]["architecture"]


def test_the_run_metrics_and_their_history(the_run, mlflow_ui, tiny_run):
    metrics = {m["key"]: m["value"] for m in the_run["data"]["metrics"]}
    assert all(math.isfinite(value) for value in metrics.values()), metrics
    if "face_extraction" in tiny_run.pipelines:
        assert any(
            key.startswith("face_extraction.") and key.endswith("faces_kept") for key in metrics
        ), sorted(metrics)
    if "training" in tiny_run.pipelines:
        assert {"train/loss", "val/loss"} <= set(metrics), sorted(metrics)
        history = _get(
            mlflow_ui,
            "/api/2.0/mlflow/metrics/get-history",
            run_id=the_run["info"]["run_id"],
            metric_key="train/loss",
        )
        steps = sorted(point["step"] for point in history["metrics"])
        assert len(steps) >= 2 and steps == sorted(set(steps)), steps


def test_the_run_artifacts_match_the_local_files(the_run, mlflow_ui, tiny_run):
    run_id = the_run["info"]["run_id"]
    listed = _list_artifacts(mlflow_ui, run_id)
    expected = _artifact_datasets(tiny_run.project)
    if "training" in tiny_run.pipelines:
        assert {"training_preview", "swap_model"} <= set(expected)
        assert any(path.startswith("previews/") for path in listed), sorted(listed)
    written = {name: paths for name, paths in expected.items() if paths[0].exists()}
    assert set(written) == set(expected), (
        f"not written by the run: {sorted(set(expected) - set(written))}"
    )
    for name, (local, artifact) in written.items():
        if local.is_dir():
            assert {f"{artifact}/{f.name}" for f in local.iterdir() if f.is_file()} <= listed, name
        else:
            assert artifact in listed, f"{name}: {artifact} not among {sorted(listed)}"
            # The preview artifact served to the UI is the same image as the local report.
            assert _artifact_bytes(mlflow_ui, run_id, artifact) == local.read_bytes(), name


def test_the_pretraining_run_holds_the_base_model_and_its_preview(mlflow_ui, tiny_run):
    if "pretraining" not in tiny_run.pipelines:
        pytest.skip("no pretraining pipeline registered")
    run = _run_named(mlflow_ui, "pretraining")
    listed = _list_artifacts(mlflow_ui, run["info"]["run_id"])
    expected = _artifact_datasets(tiny_run.project, pretraining=True)
    assert set(expected) == {"base_model", "pretraining_preview"}
    assert {
        "base_model/model.safetensors",
        "base_model/config.json",
        "pretraining_preview.png",
    } <= listed
    local, artifact = expected["pretraining_preview"]
    assert _artifact_bytes(mlflow_ui, run["info"]["run_id"], artifact) == local.read_bytes()
    assert any(path.startswith("previews/") for path in listed), sorted(listed)


def test_the_ui_shows_the_training_preview_in_chromium(the_run, mlflow_ui, tiny_run):
    assert "training" in tiny_run.pipelines
    with Image.open(tiny_run.data("08_reporting/training_preview.png")) as preview:
        width, height = preview.size
    experiment_id, run_id = the_run["info"]["experiment_id"], the_run["info"]["run_id"]
    with chromium_page() as page:
        outside: list[str] = []

        def local_only(route):
            if route.request.url.startswith((mlflow_ui, "blob:", "data:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", local_only)
        page.goto(
            f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/training_preview.png"
        )
        # The artifact viewer draws the preview image itself, at its own size.
        page.wait_for_function(
            "([w, h]) => [...document.images].some(i => i.naturalWidth === w && i.naturalHeight"
            " === h)",
            arg=[width, height],
            timeout=60_000,
        )
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    assert outside == []


def test_the_experiment_is_model_training_and_its_address_opens_on_its_runs(
    the_run, mlflow_ui, tiny_run
):
    from faceswap_pipeline.mlflow_ui import runs_url

    experiment = _get(
        mlflow_ui, "/api/2.0/mlflow/experiments/get-by-name", experiment_name=EXPERIMENT
    )["experiment"]
    tags = {tag["key"]: tag["value"] for tag in experiment.get("tags", [])}
    assert tags.get("mlflow.experimentKind") == "custom_model_development", tags
    # The address `make mlflow-ui` prints: the UI shows the runs table, not the GenAI overview.
    url = runs_url(tiny_run.tracking_uri, mlflow_ui)
    assert (
        url
        == f"{mlflow_ui}/#/experiments/{experiment['experiment_id']}?workflowType=machine_learning"
    )
    run_name = the_run["info"]["run_name"]
    with chromium_page() as page:
        page.goto(url)
        page.get_by_text(run_name, exact=True).first.wait_for(timeout=60_000)
        text = page.inner_text("body")
        page.screenshot(path=str(SCREENSHOT.with_name("mlflow_ui_runs.png")))
    assert "matching runs" in text or "Run Name" in text, text[:2000]
    assert "Token usage" not in text and "Observability" not in text, text[:2000]
