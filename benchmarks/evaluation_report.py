"""Swap quality on the shared clips: every pipeline, then the evaluation's table of figures.

    .venv/bin/python benchmarks/evaluation_report.py [--project DIR] [--reuse] [--env ENV]
        [--params "training.max_minutes=10,conversion.duration_s=10"]

Without `--reuse`, makes a throw-away copy of this project in DIR (a temporary folder by default:
conf, pyproject; its own data/ and mlflow.db), runs `kedro run` there (ingestion of person_a_d6.mp4
and person_b_d9.mp4, face extraction, training with the parameters of `--env` - base is the CPU
preset -, conversion of person A's clip into B, evaluation), then runs the evaluation once more on
its own to time it. With `--reuse`, DIR is a project whose upstream outputs exist (e.g. this one):
only the evaluation runs. Prints the settings, the figures and the times; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def make_project(folder: Path) -> Path:
    """A throw-away copy of this project's configuration in `folder` (its data and mlflow.db stay
    there)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "conf", folder / "conf", dirs_exist_ok=True)
    # The developer's own overrides and credentials stay out: base (+ --env) only.
    shutil.rmtree(folder / "conf" / "local")
    (folder / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, folder / name)
    (folder / "src").mkdir(exist_ok=True)
    return folder


def kedro_run(
    project: Path,
    pipeline: str | None,
    params: list[str],
    env: str | None,
    options: tuple[str, ...] = (),
    echo: bool = True,
) -> float:
    """`kedro run` in `project` (`options`: more of its options, e.g. `--to-outputs X`; `echo`:
    print the command first); returns its wall time in seconds, or exits with its output."""
    command = [sys.executable, "-m", "kedro", "run", *options]
    if pipeline:
        command += ["--pipelines", pipeline]
    if env:
        command += ["--env", env]
    if params:
        command += ["--params", ",".join(params)]
    environment = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    if echo:
        print(f"$ {' '.join(command[1:])}   (in {project})", flush=True)
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=project, env=environment, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-5000:], result.stderr[-8000:], sep="\n")
        raise SystemExit(f"kedro run {pipeline or ''} failed ({result.returncode})")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--project", type=Path, default=None, help="project folder (default: a temporary copy)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="only run the evaluation on DIR's existing outputs"
    )
    parser.add_argument(
        "--env", default=None, help="Kedro configuration environment (default: base + local)"
    )
    parser.add_argument(
        "--params", default="", help="extra --params for the full run, key=value,..."
    )
    args = parser.parse_args()

    project = (
        args.project or Path(tempfile.mkdtemp(prefix="faceswap-evaluation-benchmark-")) / "project"
    )
    times: dict[str, float] = {}
    if not args.reuse:
        project = make_project(project)
        sources = [
            f"person_a.sources=[{{path: {VIDEOS / 'person_a_d6.mp4'}}}]",
            f"person_b.sources=[{{path: {VIDEOS / 'person_b_d9.mp4'}}}]",
        ]
        extra = [item for item in args.params.split(",") if item]
        times["kedro run (all five pipelines)"] = kedro_run(
            project, None, sources + extra, args.env
        )
    times["kedro run --pipelines evaluation"] = kedro_run(project, "evaluation", [], args.env)

    reporting = project / "data" / "08_reporting"
    summary = json.loads((reporting / "evaluation_summary.json").read_text())
    table = pd.read_csv(reporting / "evaluation_metrics.csv")
    frames = pd.read_parquet(reporting / "evaluation_frames.parquet")
    model_config = json.loads(
        (project / "data" / "06_models" / "swap_model" / "config.json").read_text()
    )
    training_summary = reporting / "training_summary.json"
    training = json.loads(training_summary.read_text()) if training_summary.exists() else {}

    print("\nSettings")
    for label, value in summary["facts"].items():
        print(f"  {label}: {value}")
    print(f"  model configuration: {model_config}")
    if training:
        print(
            f"  training: {training.get('global_step')} steps, stopped by"
            f" {training.get('stop_reason')}, faces {training.get('faces')}"
        )
    print(f"  frames evaluated: {len(frames)} ({int(frames['swapped'].sum())} swapped)")
    print("\nFigures")
    width = max(len(name) for name in table["metric"])
    for row in table.itertuples():
        print(f"  {row.metric:<{width}}  {row.value:>9.4f}  {row.description}")
    print("\nTimes")
    for label, seconds in times.items():
        print(f"  {label:<34} {seconds:7.1f} s")
    print(f"\nReport: {reporting / 'evaluation_report.html'}")


if __name__ == "__main__":
    main()
