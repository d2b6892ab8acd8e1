"""Kedro-Viz for real: `kedro viz build` of the project after a tiny run, served on 127.0.0.1 and
opened in headless Chromium, offline. Checks the pipelines, layers, person groups and image
previews, and saves screenshots to data/08_reporting/ (kedro_viz.png: the graph;
kedro_viz_preview.png: a contact sheet preview).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import PROJECT_ROOT
from tests.helpers.browser import chromium_page
from tests.helpers.local_servers import serve_folder
from tests.helpers.tiny_run import TinyRun

PEOPLE = ("person_a", "person_b")
# Kedro-Viz's layer bands, top to bottom (the project's conventions: data/01_raw ...
# data/08_reporting).
LAYER_ORDER = (
    "raw",
    "intermediate",
    "primary",
    "model_input",
    "models",
    "model_output",
    "reporting",
)
# The preview Kedro-Viz should offer for each kind of file in the catalog.
PREVIEW_TYPES = {
    ".png": "ImagePreview",
    ".jpg": "ImagePreview",
    ".gif": "ImagePreview",
    ".parquet": "TablePreview",
    ".csv": "TablePreview",
    ".json": "JSONPreview",
    ".html": "HTMLPreview",
}
SCREENSHOT = PROJECT_ROOT / "data" / "08_reporting" / "kedro_viz.png"
PREVIEW_SCREENSHOT = PROJECT_ROOT / "data" / "08_reporting" / "kedro_viz_preview.png"
# A readable node name: lower-case words joined by underscores (Kedro's generated names hold
# brackets).
READABLE_NAME = re.compile(r"[a-z]+(_[a-z0-9]+)*")


@pytest.fixture(scope="module")
def viz_build(tiny_run: TinyRun) -> Path:
    """`kedro viz build --include-previews` in the tiny run's project; its `build/` folder."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"],
        cwd=tiny_run.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Success" in output, output[-6000:]
    # Kedro-Viz turns layers off (and only warns) when the catalog's layers form a cycle.
    assert "circular dependency" not in output.lower(), output[-6000:]
    return tiny_run.project / "build"


def _main(build: Path) -> dict:
    return json.loads((build / "api" / "main").read_text())


def _node_details(build: Path, node_id: str) -> dict:
    return json.loads((build / "api" / "nodes" / node_id).read_text())


@pytest.mark.parametrize(
    "catalog_file",
    sorted((PROJECT_ROOT / "conf" / "base").glob("catalog*.yml")),
    ids=lambda path: path.name,
)
def test_every_catalog_entry_has_a_layer(catalog_file):
    entries = yaml.safe_load(catalog_file.read_text()) or {}
    layers = {
        name: ((entry.get("metadata") or {}).get("kedro-viz") or {}).get("layer")
        for name, entry in entries.items()
    }
    assert {name: layer for name, layer in layers.items() if layer not in LAYER_ORDER} == {}


@pytest.mark.slow
def test_build_has_every_pipeline_with_layers_and_person_groups(viz_build, tiny_run):
    main = _main(viz_build)
    assert {p["id"] for p in main["pipelines"]} == {"__default__", *tiny_run.pipelines}
    assert set(tiny_run.pipelines) >= {"ingestion", "face_extraction"}

    # Every dataset (parameters aside) sits in one of the project's layers, and the bands are drawn.
    datasets = [n for n in main["nodes"] if n["type"] == "data"]
    assert [n["name"] for n in datasets if n.get("layer") not in LAYER_ORDER] == []
    used = {n["layer"] for n in datasets}
    assert main["layers"] == [layer for layer in LAYER_ORDER if layer in used]

    # Person A and person B are groups (namespaces), each holding its own datasets and the same
    # nodes.
    tree = main["modular_pipelines"]
    groups = {
        child["id"] for child in tree["__root__"]["children"] if child["type"] == "modularPipeline"
    }
    assert groups >= set(PEOPLE)
    tasks_of = {
        person: sorted(
            n["name"]
            for n in main["nodes"]
            if n["type"] == "task" and n.get("modular_pipelines") == [person]
        )
        for person in PEOPLE
    }
    assert tasks_of["person_a"] == tasks_of["person_b"] and tasks_of["person_a"]

    # Node names read well in the graph: every task named on purpose, no generated `f([x]) -> [y]`.
    names = [n["name"] for n in main["nodes"] if n["type"] == "task"]
    assert [name for name in names if not READABLE_NAME.fullmatch(name)] == []


@pytest.mark.slow
def test_file_outputs_have_previews(viz_build):
    # Every image, table, JSON and HTML file in the catalog shows in Kedro-Viz's side panel.
    main = _main(viz_build)
    files = {}
    for node in main["nodes"]:
        if node["type"] != "data":
            continue
        details = _node_details(viz_build, node["id"])
        suffix = Path(str(details.get("filepath") or "")).suffix.lower()
        if suffix in PREVIEW_TYPES:
            files[node["name"]] = (PREVIEW_TYPES[suffix], details)
    assert {f"{person}.face_contact_sheet" for person in PEOPLE} <= set(files)
    for name, (expected, details) in files.items():
        assert (details["preview_type"], bool(details["preview"])) == (
            expected,
            True,
        ), f"{name} ({details['type']})"
        if expected == "ImagePreview":
            picture = base64.b64decode(details["preview"])
            assert picture[:8] == b"\x89PNG\r\n\x1a\n" or picture[:3] in (
                b"GIF",
                b"\xff\xd8\xff",
            ), name


@pytest.mark.slow
def test_the_graph_in_headless_chromium(viz_build, tiny_run):
    main = _main(viz_build)
    with serve_folder(viz_build) as url, chromium_page(width=1600, height=1400) as page:
        outside: list[str] = []

        def local_only(route):
            # Offline: anything but the local server (web fonts, telemetry) is refused, and noted.
            request_url = route.request.url
            if request_url.startswith((url, "blob:", "data:")):
                route.continue_()
            else:
                outside.append(request_url)
                route.abort()

        page.route("**/*", local_only)
        # Kedro-Viz keeps its settings in localStorage: turn off the new-feature hints that cover
        # the graph.
        page.add_init_script(
            "localStorage.setItem('KedroViz', JSON.stringify({showFeatureHints: false}))"
        )
        page.goto(url)
        page.wait_for_selector("svg .pipeline-node", timeout=60_000)
        assert page.locator(".feature-hints__close").count() == 0

        # The default pipeline: the two person groups and every task outside them are on the page.
        labels = set(page.locator("svg .pipeline-node text").all_text_contents())
        group_nodes = set(
            page.locator("svg .pipeline-node--modularPipeline text").all_text_contents()
        )
        assert group_nodes >= set(PEOPLE)
        top_level_tasks = {
            n["name"]
            for n in main["nodes"]
            if n["type"] == "task" and not n.get("modular_pipelines")
        }
        assert top_level_tasks <= labels
        layer_names = page.locator(".pipeline-layer-name").all_text_contents()
        assert layer_names and set(layer_names) <= set(LAYER_ORDER)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

        # The pipeline selector lists every registered pipeline, and each one draws its own nodes.
        page.locator(".pipeline-list .dropdown__label").click()
        listed = page.locator(
            ".pipeline-list .dropdown__options .menu-option__content"
        ).all_text_contents()
        assert set(listed) == {"__default__", *tiny_run.pipelines}
        page.keyboard.press("Escape")
        for pipeline_id in tiny_run.pipelines:
            page.locator(".pipeline-list .dropdown__label").click()
            page.locator(
                ".pipeline-list .dropdown__options .menu-option__content",
                has_text=re.compile(f"^{pipeline_id}$"),
            ).click()
            page.wait_for_function(
                "name => document.querySelector('.pipeline-list"
                " .dropdown__label').textContent.trim() === name",
                arg=pipeline_id,
            )
            members = [
                n for n in main["nodes"] if n["type"] == "task" and pipeline_id in n["pipelines"]
            ]
            expected = {n["name"] for n in members if not n.get("modular_pipelines")}
            expected |= {n["modular_pipelines"][0] for n in members if n.get("modular_pipelines")}
            page.wait_for_function(
                "names => { const shown = new Set([...document.querySelectorAll('svg .pipeline-node"
                " text')].map(t => t.textContent)); return names.every(n => shown.has(n)); }",
                arg=sorted(expected),
                timeout=30_000,
            )

        # Opening person A's group shows its nodes; a contact sheet's side panel shows the image.
        page.locator(".pipeline-list .dropdown__label").click()
        page.locator(
            ".pipeline-list .dropdown__options .menu-option__content", has_text="__default__"
        ).click()
        page.locator("svg .pipeline-node--modularPipeline", has_text="person_a").click()
        person_a_tasks = {
            n["name"]
            for n in main["nodes"]
            if n["type"] == "task" and n.get("modular_pipelines") == ["person_a"]
        }
        page.wait_for_function(
            "names => { const shown = new Set([...document.querySelectorAll('svg"
            " .pipeline-node--task text')].map(t => t.textContent)); return names.every(n =>"
            " shown.has(n)); }",
            arg=sorted(person_a_tasks),
            timeout=30_000,
        )
        page.locator("svg .pipeline-node--data", has_text="person_a.face_contact_sheet").click()
        preview = page.locator(".pipeline-metadata img").first
        preview.wait_for(timeout=30_000)
        assert preview.get_attribute("src").startswith("data:image/")
        assert page.evaluate("img => img.naturalWidth", preview.element_handle()) > 100
        page.screenshot(path=str(PREVIEW_SCREENSHOT))

    # Only the web font may be asked for beyond the local server; it is refused and the page still
    # works.
    assert [u for u in outside if "fonts.googleapis.com" not in u] == []
