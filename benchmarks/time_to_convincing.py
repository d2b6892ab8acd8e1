r"""Time to a convincing swap: the validation swaps' verdict figures every few minutes of pair
training, from scratch and from a base model (the `pretraining` face prior).

For each pair of shared clips (default d6→d9 and d12→d18), the pair's faces are extracted (cached),
its identity tables described with dlib, and the training pipeline's own nodes train it in stages of
`--every` minutes up to `--minutes`, resuming between stages. After each stage the held-out swaps
(A→B and B→A, `training.validation_swaps`) give the identity distance to the target, the share
nearer the target, the detail kept (both directions pooled, next to what a perfect model at the
input size would keep, and A→B alone: the conversion's direction, what its video keeps) and SSIM;
the verdict judges each direction on its own; the table ends with the minute the verdict first
holds (or "not convincing within N min").
With `--base-model DIR` (or `--pretrain-minutes M`, which first pretrains a base model on the
shared clips that are not in the pair, and on `--pretrain-videos` of more people) the same runs
start from the base model too.

On a shared or loaded machine minutes buy fewer steps: the step column says how much training each
row had; `--every-steps`/`--steps` stage by optimizer steps instead, for figures that do not depend
on the load.

    # the CPU preset, both pairs, 24 minutes each
    .venv/bin/python benchmarks/time_to_convincing.py
    # d6->d9 for 12 minutes, from scratch and from a base model pretrained for 10 minutes first
    .venv/bin/python benchmarks/time_to_convincing.py --pairs d6/d9 --minutes 12 \
        --pretrain-minutes 10
    # staged by steps (figures independent of the load), from a base model only
    .venv/bin/python benchmarks/time_to_convincing.py --pairs d6/d9 --threads 1 --steps 1600 \
        --every-steps 400 --no-scratch --base-model DIR
    # the gpu preset on a GPU machine where the whole project is installed
    .venv/bin/python benchmarks/time_to_convincing.py --preset conf/gpu/parameters_training.yml \
        --minutes 30

On a bare device machine (no Kedro, MLflow or dlib) `gpu_check.py` measures the same for the gpu
preset from scratch: its held-out swaps come back and are judged here by the same verdict.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from presets import preset_pretraining, preset_training
from shared_faces import (
    PROJECT,
    SHARED_VIDEOS,
    extract_clip,
    loaders,
    log_warnings_only,
    set_parameter,
)

from faceswap_pipeline.model.pretrained import pretraining_recipe, read_base_model_info
from faceswap_pipeline.model.settings import resolve_auto_settings

if TYPE_CHECKING:
    from faceswap_pipeline.pipelines.training.params import TrainingParams

CLIPS = {
    "d6": "person_a_d6.mp4",
    "d9": "person_b_d9.mp4",
    "d12": "single_d12.mp4",
    "d18": "single_d18.mp4",
    "d0": "no_audio_d0.mp4",
    "hamilton": "multi_hamilton.mp4",
}


def _pretrain(
    videos: list[Path],
    params: dict,
    pretraining: dict,
    minutes: float | None,
    steps: int | None,
    cache: Path,
    out: Path,
    assignments: list[str],
) -> Path:
    """A base model trained `minutes` (or `steps`) on the faces of `videos` (every identity) as the
    pipeline's `pretraining` trains it, with `assignments` (``KEY=VALUE``) set in
    `pretraining.training`; its folder."""
    from faceswap_pipeline.model.data import FaceItem
    from faceswap_pipeline.model.pretrained import pretrain_base_model, save_base_model

    train, val = [], []
    for video in videos:
        crops, table = extract_clip(video, cache)
        rows = table.sort_values("time_s")
        held_out = max(1, len(rows) // 10)
        for index, row in enumerate(rows.itertuples()):
            landmarks = np.asarray(row.landmarks68_crop, dtype=np.float32).reshape(68, 2)
            item = FaceItem(row.face_id, (lambda crop=crops[row.face_id]: crop), landmarks)
            (val if index >= len(rows) - held_out else train).append(item)
    settings = benchmark_pretraining_settings(params, pretraining, minutes, steps, out, assignments)
    config = settings.swap_model_config()
    started = time.perf_counter()
    result = pretrain_base_model(train, val, config, settings)
    folder = out / "base_model"
    save_base_model(result.base_model, folder)
    print(
        f"base model: {len(train)} faces of {', '.join(video.stem for video in videos)},"
        f" {result.summary['steps']} steps of "
        f"{settings.batch_size} faces (random warp {settings.augmentation.warp:g}) in "
        f"{(time.perf_counter() - started) / 60:.1f} min, held-out SSIM "
        f"{result.summary['final_validation'].get('val/ssim', float('nan')):.3f} -> {folder}"
    )
    return folder


def benchmark_pretraining_settings(
    params: dict,
    pretraining: dict,
    minutes: float | None,
    steps: int | None,
    out: Path,
    assignments: list[str],
) -> TrainingParams:
    """The pretraining pipeline's settings for the pair's training `params` and the preset's
    `pretraining` block (`presets.preset_pretraining`), with this benchmark's budget and folders
    and `assignments` (``KEY=VALUE``) set in `pretraining.training`."""
    from faceswap_pipeline.pipelines.pretraining.params import pretraining_training_params

    pretraining = copy.deepcopy(pretraining)
    pretraining["training"] = {
        **pretraining.get("training", {}),
        "max_minutes": minutes,
        "max_steps": steps or 10**9,
        "checkpoint_dir": str(out / "pretraining_checkpoints"),
        "preview_every_n_steps": 0,
        "trainer": {"precision": "32-true"},  # the pretraining's precision in every trial so far
    }
    for assignment in assignments:
        set_parameter(pretraining["training"], assignment)
    # The pair's `init_frozen` names parts of this base model, which trains all of its own.
    return pretraining_training_params({**params, "init_frozen": []}, pretraining)


def _recipe_differences(recipe: dict, reference: dict) -> list[str]:
    """Where a base model's recipe (`model.pretrained.pretraining_recipe`) differs from
    `reference`'s, as ``key value (the pipeline's value)``. Every `--set` reaches the
    pretraining unless `--pretrain-set` sets it, and twice a trial's `--set` meant for the pair
    went unseen into a base model (the warp, the gradient loss): this says so at once."""
    # Dotted keys (loss.gradient_weight), as --set names them.
    recipe, reference = (
        pd.json_normalize(block).to_dict("records")[0] for block in (recipe, reference)
    )
    return [
        f"{key} {recipe.get(key)} (the pipeline's {reference.get(key)})"
        for key in sorted(recipe.keys() | reference.keys())
        if recipe.get(key) != reference.get(key)
    ]


def describe_recipe(recipe: dict | None, reference: dict) -> str:
    """How a base model's recorded recipe stands against the pipeline's pretraining (`reference`),
    in words, for the run's log."""
    if recipe is None:
        return "its recipe is not recorded (saved before base models recorded one)"
    differences = _recipe_differences(recipe, reference)
    if not differences:
        return "pretrained as the pipeline's pretraining of this preset"
    return "pretrained unlike the pipeline's pretraining: " + ", ".join(differences)


def _train_in_stages(pair, params, stages, by_steps, cache, workdir, base_model, start):
    from faceswap_pipeline.faces.identity import identity_table
    from faceswap_pipeline.pipelines.training.nodes import select_training_faces, train_swap_model

    name_a, name_b = pair
    crops_a, table_a = extract_clip(SHARED_VIDEOS / CLIPS[name_a], cache)
    crops_b, table_b = extract_clip(SHARED_VIDEOS / CLIPS[name_b], cache)
    identity_a, identity_b = identity_table(crops_a, table_a), identity_table(crops_b, table_b)
    faces_a, faces_b = loaders(crops_a), loaders(crops_b)
    run = dict(
        params,
        checkpoint_dir=str(workdir / "checkpoints"),
        resume=True,
        progress_bar=False,
        init_from=str(base_model) if base_model else None,
    )
    if base_model is None:
        # `init_frozen` names parts of a base model: from scratch there are none to keep.
        run["init_frozen"] = []
    faces = select_training_faces(faces_a, table_a, faces_b, table_b, run)
    rows, done, minutes = [], 0.0, 0.0
    for stage in stages:
        if by_steps:
            run.update(max_steps=int(stage), max_minutes=None)
        else:
            run.update(max_steps=10**9, max_minutes=stage - done)
        started = time.perf_counter()
        _, preview, summary = train_swap_model(
            faces_a, faces_b, faces, run, identity_a, identity_b, {}
        )
        minutes += (time.perf_counter() - started) / 60
        done = stage
        swaps = (summary.get("validation_swaps") or {}).get("metrics") or {}
        verdict = (summary.get("validation_swaps") or {}).get("verdict") or {}
        rows.append(
            {
                "stage": stage,
                "steps": summary["global_step"],
                "wall_min": minutes,
                "distance": swaps.get("val_swap/distance_to_target"),
                "nearer": swaps.get("val_swap/share_nearer_target"),
                "detail": swaps.get("val_swap/detail_kept"),
                # The conversion's own direction (A→B by default): what its video keeps.
                "detail_a_to_b": swaps.get("val_swap/detail_kept_a_to_b", float("nan")),
                "ceiling": swaps.get("val_swap/detail_ceiling", float("nan")),
                "ssim": (
                    (
                        summary["final_validation"].get("val/ssim_a", float("nan"))
                        + summary["final_validation"].get("val/ssim_b", float("nan"))
                    )
                    / 2
                ),
                "convincing": bool(verdict.get("convincing")),
            }
        )
        preview.save(workdir / f"preview_{stage:g}.png")
        _log_stage(rows[-1])
        # A line per stage as it ends: a run takes minutes to hours before its table.
        row = rows[-1]
        print(
            f"  {name_a} -> {name_b} {start}, step {row['steps']}"
            f" ({minutes:.1f} min): distance {row['distance']:.3f}, nearer {row['nearer']:.2f},"
            f" detail {row['detail']:.2f} (A→B {row['detail_a_to_b']:.2f}), SSIM {row['ssim']:.3f}",
            flush=True,
        )
    return pd.DataFrame(rows)


def _log_stage(row: dict) -> None:
    """One stage's figures into the active MLflow run, at its optimizer step (the run's chart)."""
    import mlflow

    if mlflow.active_run() is None:
        return
    figures = {
        "distance_to_target": row["distance"],
        "share_nearer_target": row["nearer"],
        "detail_kept": row["detail"],
        "detail_kept_a_to_b": row["detail_a_to_b"],
        "detail_ceiling": row["ceiling"],
        "ssim": row["ssim"],
        "wall_minutes": row["wall_min"],
        "convincing": float(row["convincing"]),
    }
    mlflow.log_metrics(
        {f"stage/{key}": float(value) for key, value in figures.items() if value is not None},
        step=int(row["steps"]),
    )


def _mlflow_run(
    tracking_uri: str | None, pair: tuple[str, str], start: str, trial: str, params: dict
):
    """An MLflow run for one (pair, start, trial) in the `time_to_convincing` experiment, or a
    no-op.

    Lightning's logger inside the training node writes its step metrics (losses, `val_swap/*`) into
    it.
    """
    import contextlib

    if not tracking_uri:
        return contextlib.nullcontext()
    import mlflow

    from faceswap_pipeline.mlflow_store import prepare_tracking_store

    prepare_tracking_store(tracking_uri)  # runs started at once on a fresh store
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("time_to_convincing")
    run = mlflow.start_run(run_name=f"{pair[0]}->{pair[1]} {start} {trial}".strip())
    flat = pd.json_normalize(params, sep=".").iloc[0].to_dict()
    mlflow.log_params(
        {
            key: str(value)[:250]
            for key, value in flat.items()
            if key not in ("max_steps", "max_minutes", "checkpoint_dir")
        }
    )
    mlflow.set_tags({"pair": f"{pair[0]}->{pair[1]}", "start": start, "trial": trial or "defaults"})
    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--preset", type=Path, default=PROJECT / "conf/base/parameters_training.yml"
    )
    parser.add_argument(
        "--pairs", nargs="+", default=["d6/d9", "d12/d18"], help="source/target clip names"
    )
    parser.add_argument(
        "--minutes", type=float, default=24.0, help="pair training per run, minutes"
    )
    parser.add_argument("--every", type=float, default=3.0, help="measure every this many minutes")
    parser.add_argument(
        "--steps", type=int, default=None, help="stage by steps: train this many in all"
    )
    parser.add_argument(
        "--every-steps", type=int, default=None, help="... measuring every this many"
    )
    parser.add_argument(
        "--base-model", type=Path, default=None, help="a base model folder to start from"
    )
    parser.add_argument(
        "--base-minutes",
        type=float,
        default=None,
        help="train the runs from the base model only this long (default: --minutes)",
    )
    parser.add_argument(
        "--base-steps",
        type=int,
        default=None,
        help="with --steps: train the runs from the base model only this many steps",
    )
    parser.add_argument(
        "--pretrain-minutes",
        type=float,
        default=None,
        help="pretrain a base model on the clips not in the pair for this long first",
    )
    parser.add_argument(
        "--no-scratch", action="store_true", help="only the runs from the base model"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training parameter, e.g. optimizer.lr=2e-4; the pretraining takes it too"
        " (as `kedro run --params training.KEY=VALUE` does) unless --pretrain-set sets it",
    )
    parser.add_argument(
        "--trial", default="", help="a name for this recipe in MLflow (e.g. 'lr 5e-4')"
    )
    parser.add_argument(
        "--mlflow",
        default=f"sqlite:///{PROJECT / 'mlflow.db'}",
        help="MLflow tracking URI for the runs ('' = none); default: the project's store",
    )
    parser.add_argument(
        "--pretrain-steps",
        type=int,
        default=None,
        help="pretrain a base model on the clips not in the pair for this many steps first",
    )
    parser.add_argument(
        "--pretrain-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a pretraining.training parameter, e.g. batch_size=64 (default: twice the"
        " pair's batch)",
    )
    parser.add_argument(
        "--pretrain-videos",
        nargs="+",
        type=Path,
        default=[],
        metavar="VIDEO",
        help="more videos of other people to pretrain on, beside the shared clips not in the pair",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "faceswap_training_faces"
    )
    args = parser.parse_args()
    log_warnings_only()

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    preset = preset_training(args.preset)
    params = copy.deepcopy(preset)  # --set changes nested blocks; `preset` stays the preset's
    for assignment in args.set:
        set_parameter(params, assignment)
    # What the pipeline's pretraining of this preset would record, to hold each base model against.
    pretraining = preset_pretraining(args.preset)
    pipeline_recipe = pretraining_recipe(
        benchmark_pretraining_settings(
            preset, pretraining, None, None, Path(tempfile.gettempdir()), []
        )
    )
    by_steps = args.steps is not None
    unit = "step" if by_steps else "min"

    def stages(total: float) -> list[float]:
        every = args.every_steps or args.steps if by_steps else args.every
        count = max(1, round(total / every))
        return [round(every * (i + 1), 3) for i in range(count)]

    for pair_text in args.pairs:
        pair = tuple(pair_text.split("/"))
        starts: dict[str, Path | None] = {} if args.no_scratch else {"scratch": None}
        workdir = Path(tempfile.mkdtemp(prefix=f"time_to_convincing_{'_'.join(pair)}_"))
        if args.base_model:
            starts["base model"] = args.base_model
        elif args.pretrain_minutes or args.pretrain_steps:
            others = [SHARED_VIDEOS / CLIPS[name] for name in CLIPS if name not in pair]
            starts["base model"] = _pretrain(
                others + args.pretrain_videos,
                params,
                pretraining,
                args.pretrain_minutes,
                args.pretrain_steps,
                args.cache,
                workdir,
                args.pretrain_set,
            )
        if "base model" in starts:
            _, record = read_base_model_info(starts["base model"])
            print(f"base model: {describe_recipe(record.get('recipe'), pipeline_recipe)}")
        print(
            f"\npair {pair[0]} -> {pair[1]}: preset {args.preset.name} {' '.join(args.set)} "
            f"({params['architecture']} width {params['width']}, batch {params['batch_size']})"
        )
        for start, base in starts.items():
            from_base = base is not None
            if by_steps:
                total = args.base_steps if from_base and args.base_steps else args.steps
            else:
                total = args.base_minutes if from_base and args.base_minutes else args.minutes
            # Logged as the run trains them: the `auto` settings of its start.
            logged = resolve_auto_settings(params, from_base_model=from_base)
            with _mlflow_run(args.mlflow, pair, start, args.trial, logged):
                table = _train_in_stages(
                    pair,
                    params,
                    stages(total),
                    by_steps,
                    args.cache,
                    # Not "base_model": that folder holds the base model pretrained above.
                    workdir / f"from_{start.replace(' ', '_')}",
                    base,
                    start,
                )
            first = table[table["convincing"]]
            print(f"\nfrom {start}:")
            print(
                f"| {unit} | steps | wall min | distance to target | share nearer target | detail"
                " kept (perfect model) | detail A→B | SSIM |"
            )
            print("|---:|---:|---:|---:|---:|---:|---:|---:|")
            for row in table.itertuples():
                print(
                    f"| {row.stage:g} | {row.steps} | {row.wall_min:.1f} | {row.distance:.3f} | "
                    f"{row.nearer:.2f} | {row.detail:.2f} ({row.ceiling:.2f}) |"
                    f" {row.detail_a_to_b:.2f} | {row.ssim:.3f} |"
                )
            if len(first):
                stage = f"{first['stage'].iloc[0]:g}"
                print("convincing first at", f"step {stage}" if by_steps else f"{stage} min")
            else:
                print(f"not convincing within {total:g}", "steps" if by_steps else "min")
        print(f"previews: {workdir}")


if __name__ == "__main__":
    main()
