r"""The converted video's evaluation for trained checkpoints of one pair: what a user gets.

    .venv/bin/python benchmarks/video_verdict.py --pair d12/d18 [--variant KEY=VALUE,...] \
        "scratch=/tmp/time_to_convincing_d12_d18_XXXX/from_scratch/checkpoints/last.ckpt" ...

`time_to_convincing.py` judges a run by its validation swaps: a few held-out faces (for a short
clip, its last tenth: one or two expressions), swapped and pasted into the aligned crop. This runs
the pipeline a user runs instead: a throw-away project with the pair's clips as person A and B
(`kedro run --to-outputs training_faces`: ingestion, face extraction, the training's face split),
then per checkpoint its judged network (the moving average, where the run keeps one) written as
the project's swap model and `kedro run --pipelines conversion,evaluation`: the source's whole clip
converted, the evaluation's figures and verdict. `--variant` adds a run per checkpoint with more
`--params` (e.g. `conversion.compositing.follow_swapped_jaw=false`). Prints one row per run;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from evaluation_report import kedro_run, make_project
from shared_faces import SHARED_VIDEOS
from swap_detail import judged_network
from time_to_convincing import CLIPS

from faceswap_pipeline.model import save_swap_model

COLUMNS = {
    "identity/mean_distance_to_target": "distance to the target",
    "identity/share_closer_to_target": "share nearer",
    "detail/sharpness_ratio": "detail kept",
    "landmarks/error": "landmark error",
    "pose/error_deg": "pose error (°)",
    "temporal/flicker_ratio": "flicker ratio",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pair", default="d12/d18", help="source/target clip names")
    parser.add_argument(
        "--variant", action="append", default=[], help="more --params for a second run, k=v,..."
    )
    parser.add_argument("--project", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("checkpoints", nargs="+", metavar="NAME=CKPT")
    args = parser.parse_args()

    source, target = args.pair.split("/")
    project = make_project(
        args.project or Path(tempfile.mkdtemp(prefix="faceswap-video-verdict-")) / "project"
    )
    people = [
        f"person_a.sources=[{{path: {SHARED_VIDEOS / CLIPS[source]}}}]",
        f"person_b.sources=[{{path: {SHARED_VIDEOS / CLIPS[target]}}}]",
    ]
    kedro_run(project, None, people, None, ("--to-outputs", "training_faces"))

    print(f"\n{source}→{target}: {CLIPS[source]} converted whole, then evaluated\n")
    print("| checkpoint | step | --params | " + " | ".join(COLUMNS.values()) + " | verdict |")
    print("|---|---:|---|" + "---|" * len(COLUMNS) + "---|")
    reporting = project / "data" / "08_reporting"
    for entry in args.checkpoints:
        name, _, checkpoint = entry.partition("=")
        network, step = judged_network(Path(checkpoint))
        save_swap_model(network, project / "data" / "06_models" / "swap_model")
        for variant in ["", *args.variant]:
            params = people + [item for item in variant.split(",") if item]
            kedro_run(project, "conversion,evaluation", params, None, echo=False)
            summary = json.loads((reporting / "evaluation_summary.json").read_text())
            figures = [f"{summary['metrics'][key]:.3f}" for key in COLUMNS]
            verdict = "convincing" if summary["verdict"]["convincing"] else "not yet"
            print(
                f"| {name} | {step} | {variant or '-'} | "
                + " | ".join(figures)
                + f" | {verdict} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
