"""Validation SSIM per person after N minutes of training with a preset, on the two shared clips.

Uses the training pipeline's own nodes (the same code path as `kedro run --pipelines training`):
faces of person_a_d6.mp4 and person_b_d9.mp4, the held-out end of each clip as validation, then
training in stages up to each of `--minutes` (cumulative), resuming from the checkpoint between
stages, and a table of the validation metrics of the weights after each stage. Wall-clock bound: on
a shared machine the step counts (in the table) say how much training the minutes bought.

Faces come from `data/03_primary/faces/person_{a,b}` when face_extraction has run, else they are
extracted here with the project's face extraction (every frame; cached under --cache).

    .venv/bin/python benchmarks/training_quality.py     # the CPU preset, 5 and 10 minutes
    .venv/bin/python benchmarks/training_quality.py --minutes 2 4 --set optimizer.lr=2e-4
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from presets import preset_training
from shared_faces import PROJECT, extract_clip, loaders, log_warnings_only, set_parameter

CLIPS = {"a": "person_a_d6.mp4", "b": "person_b_d9.mp4"}


def _faces(person: str, shared_videos: Path, cache: Path):
    from faceswap_pipeline.datasets import ImageFolderDataset

    folder = PROJECT / "data" / "03_primary" / "faces" / f"person_{person}"
    table_file = PROJECT / "data" / "03_primary" / f"face_alignments_person_{person}.parquet"
    stored = ImageFolderDataset(path=str(folder)).load()
    if stored and table_file.exists():
        print(f"person_{person}: {len(stored)} faces from {folder}")
        return stored, pd.read_parquet(table_file)
    crops, table = extract_clip(shared_videos / CLIPS[person], cache)
    print(f"person_{person}: {len(crops)} faces extracted from {CLIPS[person]}")
    return loaders(crops), table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--preset", type=Path, default=PROJECT / "conf/base/parameters_training.yml"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        nargs="+",
        default=[5.0, 10.0],
        help="cumulative training minutes after which to measure",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training parameter, e.g. optimizer.lr=2e-4",
    )
    parser.add_argument("--shared-videos", type=Path, default=PROJECT.parent / "shared/data/videos")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "faceswap_training_faces"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="copy the final swap model and preview here"
    )
    args = parser.parse_args()
    log_warnings_only()

    from faceswap_pipeline.model import save_swap_model
    from faceswap_pipeline.pipelines.training.nodes import select_training_faces, train_swap_model

    params = preset_training(args.preset)
    workdir = Path(tempfile.mkdtemp(prefix="training_quality_"))
    params.update(
        checkpoint_dir=str(workdir / "checkpoints"),
        resume=True,
        max_steps=10**9,
        progress_bar=False,
    )
    # After the benchmark's own settings: `--set max_steps=N` caps the steps over all stages.
    for assignment in args.set:
        set_parameter(params, assignment)
    loaders_a, table_a = _faces("a", args.shared_videos, args.cache)
    loaders_b, table_b = _faces("b", args.shared_videos, args.cache)
    faces = select_training_faces(loaders_a, table_a, loaders_b, table_b, params)

    rows, trained = [], 0.0
    for total in args.minutes:
        params["max_minutes"] = total - trained
        started = time.perf_counter()
        model, preview, summary = train_swap_model(loaders_a, loaders_b, faces, params)
        trained = total
        metrics = summary["final_validation"]
        rows.append(
            (
                total,
                summary["global_step"],
                metrics.get("val/ssim_a"),
                metrics.get("val/ssim_b"),
                metrics.get("val/l1_a"),
                metrics.get("val/l1_b"),
                summary["images_per_s"],
                time.perf_counter() - started,
            )
        )
        preview.save(workdir / f"preview_{total:g}min.png")

    preset = (
        args.preset.relative_to(PROJECT) if args.preset.is_relative_to(PROJECT) else args.preset
    )
    print(
        f"\npreset {preset}"
        f" {' '.join(args.set)}: {params['architecture']} width {params['width']}, batch"
        f" {params['batch_size']}, lr {params['optimizer']['lr']}; faces train/val A"
        f" {summary['faces']['train_a']}/{summary['faces']['val_a']}, B"
        f" {summary['faces']['train_b']}/{summary['faces']['val_b']}"
    )
    print(
        "| minutes | steps | val SSIM A | val SSIM B | val L1 A | val L1 B | images/s | stage"
        " wall s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for total, steps, ssim_a, ssim_b, l1_a, l1_b, speed, wall in rows:
        print(
            f"| {total:g} | {steps} | {ssim_a:.3f} | {ssim_b:.3f} | {l1_a:.4f} | {l1_b:.4f} |"
            f" {speed or 0:.1f} | {wall:.0f} |"
        )
    print(f"previews: {workdir}")
    if args.keep:
        save_swap_model(model, args.keep / "swap_model")
        for image in workdir.glob("preview_*.png"):
            shutil.copy(image, args.keep / image.name)


if __name__ == "__main__":
    main()
