"""Every GPU measurement in one run (at most 8 minutes on one H200), printed as one JSON object.

Runs on a bare machine whose python3 has torch, lightning, onnxruntime, OpenCV and pandas (pydantic
travels as wheels, below): it puts `src/` on `sys.path` and imports only the library layer
(`model/`, `faces.detection`, `evaluation.validation_swaps`), never Kedro, MLflow, PyAV or dlib.
It measures, in this order, each within what is left of `--budget-minutes`:

1. `retinaface`: RetinaFace (mobilenet0.25 ONNX) on onnxruntime, CUDA provider when present:
   frames/s at batch 8 on the clip frames in the faces file, and the faces found;
2. `architectures`: training images/s of `original` 64 px and `hires` 128 px at full width, in bf16,
   channels-last, at swept batch sizes (faces per person), on resident tensors: the project's own
   training step (uint8 banks on the device, augmentation, loss, Adam) under `lightning.Trainer`;
3. `face_adversary`: `hires` at batch 64 with `loss.face_adversary_weight: 0.1` (the CPU preset's),
   images/s against the sweep's figure without it;
4. `base_model`, only when `--parts` names it: the issue's "4x shorter from a base model" on a GPU.
   It pretrains a base model as `kedro run --pipelines pretraining --env gpu` would (the gpu
   preset's model, the gpu environment's pretraining settings) on the faces file's base-model faces
   (the shared clips of other people, the pipeline's default sources) for `--pretrain-minutes`, then
   trains the pair from it as `training.init_from: base_model` does (the preset's `auto` settings
   from a base model) for `--fine-tune-minutes` (a quarter of `--train-minutes`), its held-out swaps
   into `<--swaps-out>_base_model.npz`; the `training` part then trains the same pair from scratch
   for `--train-minutes` on the same card, so the two are judged side by side here;
5. `training`: the project's resident training loop on the shared pair's faces (person_a_d6,
   person_b_d9; the gpu preset's model, optimizer, loss and augmentation from
   conf/gpu/parameters_training.yml over conf/base's, batch 64, compiled as the preset says:
   compiled, its first step is the compile time and its images/s the compiled figure for the sweep's
   uncompiled one) for `--train-minutes` (5, cut to what the budget leaves) with validation SSIM on
   held-out faces; uncompiled again if compiling fails. After 0.5, 1, 2, 3, ... minutes and at the
   end it swaps 16 held-out faces each way (`validation_swaps.swap_held_out`) into `--swaps-out`:
   dlib is not on the device machine, so the verdict's figures (identity, detail) are judged back
   here with `--judge-swaps`;
6. `compiled`: `original` and `hires` compiled at their best batch size, when time is left.

The sweep gives way to the training's minutes; the budget (7.5 minutes, plus start-up) is never
passed on purpose, so the whole run stays within 8 minutes.

The faces file (a compressed `.npz`, ~50 MB at the default 8 faces a second, at most 58: each
person's face bank at the hires source size with the eyes/mouth channel, the held-out split, the
held-out faces the swaps are judged on (aligned crops and landmarks) and each person's identity
centre, a few clip frames, the RetinaFace ONNX weights and the base model's faces as JPEG, ~10 MB)
is made here, where the whole project is installed (dlib describes the faces), then carried to the
device machine; the swaps come back and are judged here. The device's python3 lacks pydantic (the
library layer's settings): its wheels travel too (`.whl`, ignored by git; a call carries 64 MiB in
all):

    .venv/bin/python benchmarks/gpu_check.py --build-faces data/05_model_input/gpu_check_faces.npz
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 -d .whl pydantic==V pydantic_core==V annotated-types==V \
        typing-inspection==V typing_extensions==V    # the versions .venv holds
    # on the device (carry .whl and the faces file):
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py \
        --faces data/05_model_input/gpu_check_faces.npz \
        --out $OUT/gpu_check.json --swaps-out $OUT/validation_swaps.npz
    # or the base model against scratch, about 9 minutes (one call):
    PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py --parts base_model,training --no-compile \
        --pretrain-minutes 3 --train-minutes 4 --budget-minutes 9 \
        --faces data/05_model_input/gpu_check_faces.npz \
        --out $OUT/gpu_check.json --swaps-out $OUT/validation_swaps.npz
    # back here: the verdict's figures per snapshot, and a PNG of the last one's swaps
    .venv/bin/python benchmarks/gpu_check.py --faces data/05_model_input/gpu_check_faces.npz \
        --judge-swaps validation_swaps.npz      # and validation_swaps_base_model.npz
    .venv/bin/python benchmarks/gpu_check.py --smoke [--faces ...]   # CPU, tiny sizes, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# The library layer, and this folder (also when run through runpy, which does not add it).
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from presets import environment_parameters  # noqa: E402 - beside this script
from synthetic_faces import PERSONS, synchronize, synthetic_banks  # noqa: E402

ARCHITECTURES = {"original": 64, "hires": 128}
COVERAGE = 0.625
# The base model's faces: the shared clips of people other than the pair (the pipeline's default
# `pretraining.sources`), every frame, every face; stored as JPEG (a face bank of them would not
# fit the faces file) and decoded into the pretraining's face bank on the device.
PRETRAINING_CLIPS = ("no_audio_d0.mp4", "single_d12.mp4", "single_d18.mp4", "multi_hamilton.mp4")
PRETRAINING_JPEG_QUALITY = 95
# Held-out faces swapped each way per snapshot (the gpu preset's `validation_swaps.faces`), and the
# training minutes after which a snapshot is taken (and one at the end).
JUDGED_FACES = 16
SNAPSHOT_MINUTES = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)
# What the bare device machine lacks; importing any of them here would fail there.
FORBIDDEN_MODULES = ("kedro", "mlflow", "av", "dlib", "kedro_mlflow")
# A device call carries 64 MiB in all (the working tree, the faces file and the wheels, ~3 MB).
MAX_FACES_FILE_MB = 58
PARTS = ("retinaface", "architectures", "face_adversary", "base_model", "training", "compiled")
# `base_model` (a pretraining, then a pair fine-tune from it) only when asked: it needs the minutes
# of the others.
DEFAULT_PARTS = tuple(part for part in PARTS if part != "base_model")


class Clock:
    """The run's time budget: what is left, and whether a part still fits."""

    def __init__(self, minutes: float) -> None:
        self.started = time.monotonic()
        self.budget_s = minutes * 60.0

    def left_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)


def _log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the faces file -------------------------------------------------------------------------------


def build_faces_file(destination: Path, videos: Path, sample_fps: float, frames_kept: int) -> dict:
    """Extract both people's faces from the shared clips with the project's face extraction, decode
    them into face banks at the hires source size, and save them with the held-out split, a few
    frames, the RetinaFace weights and the base model's faces (`pretraining_faces`) as one
    compressed `.npz` (needs the whole project: PyAV, dlib).

    Returns:
        What was written: faces per person, held-out counts, the file's size in MB.
    """
    from faceswap_pipeline.evaluation.identity import identity_centre
    from faceswap_pipeline.evaluation.validation_swaps import HeldOutFace, spread_picks
    from faceswap_pipeline.faces.detection import retinaface_onnx_weights
    from faceswap_pipeline.faces.extraction import extract_clip_faces
    from faceswap_pipeline.faces.identity import face_descriptor
    from faceswap_pipeline.model.data import FaceItem, assign_validation_split
    from faceswap_pipeline.model.face_bank import FaceBankBuild
    from faceswap_pipeline.video.decode import iter_frames

    banks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    judged: dict[str, list] = {}
    centres: dict[str, np.ndarray] = {}
    clips = {"a": videos / "person_a_d6.mp4", "b": videos / "person_b_d9.mp4"}
    for person, clip in clips.items():
        crops, table = extract_clip_faces(clip, sample_fps=sample_fps)
        items = [
            FaceItem(
                row.face_id,
                lambda crop=crops[row.face_id]: crop,
                np.asarray(row.landmarks68_crop, np.float32).reshape(68, 2),
            )
            for row in table.itertuples()
        ]
        held_out = assign_validation_split(table[["video", "time_s"]], 0.1).to_numpy()
        bank = FaceBankBuild(tuple(items), "gpu_check", 128, COVERAGE, 256, True, person).build()
        banks[person] = (bank.faces, held_out)
        # The identity centre from every face of the clip (each holds one person), described from
        # its aligned crop; the judged faces spread over the held-out ones, as training picks them.
        centres[person] = identity_centre(
            np.stack([face_descriptor(item.load(), item.landmarks68) for item in items])
        )
        rows = np.flatnonzero(held_out)
        judged[person] = [
            HeldOutFace(items[row].load(), items[row].landmarks68)
            for row in rows[spread_picks(len(rows), JUDGED_FACES)]
        ]
    frames = np.stack(
        [frame.rgb for frame in iter_frames(clips["a"], sample_fps=1.0)][:frames_kept]
    )
    return write_faces_file(
        destination,
        banks,
        frames,
        retinaface_onnx_weights(),
        judged=judged,
        centres=centres,
        pretraining=pretraining_faces(videos),
    )


def pretraining_faces(videos: Path) -> dict[str, list]:
    """The base model's faces as the pretraining pipeline would have them from
    `PRETRAINING_CLIPS`: every face of every frame, every person, held out as the pipeline holds
    them out (`split_pretraining_faces`, with the gpu environment's pretraining settings).

    Returns:
        ``{"train": [FaceItem], "val": [FaceItem]}``.
    """
    import pandas as pd

    from faceswap_pipeline.faces.extraction import extract_clip_faces
    from faceswap_pipeline.model.pretrained import PRETRAINING_PERSON
    from faceswap_pipeline.pipelines.pretraining.nodes import split_pretraining_faces
    from faceswap_pipeline.pipelines.pretraining.params import pretraining_training_params
    from faceswap_pipeline.pipelines.training.nodes import face_items

    crops, tables = {}, []
    for clip in PRETRAINING_CLIPS:
        clip_crops, table = extract_clip_faces(videos / clip)
        crops.update(clip_crops)
        tables.append(table)
    loaders = {face_id: (lambda crop=crop: crop) for face_id, crop in crops.items()}
    params = pretraining_training_params(gpu_preset(None), gpu_pretraining())
    train_rows, val_rows, _ = split_pretraining_faces(loaders, pd.concat(tables), params)
    return {
        "train": face_items(train_rows, loaders, PRETRAINING_PERSON),
        "val": face_items(val_rows, loaders, PRETRAINING_PERSON),
    }


def gpu_pretraining() -> dict:
    """`params:pretraining` of the gpu environment."""
    return environment_parameters("gpu", "parameters_pretraining.yml")["pretraining"]


def write_faces_file(
    destination: Path,
    banks: dict[str, tuple[np.ndarray, np.ndarray]],
    frames: np.ndarray,
    retinaface_onnx: bytes,
    judged: dict[str, list] | None = None,
    centres: dict[str, np.ndarray] | None = None,
    pretraining: dict[str, list] | None = None,
) -> dict:
    """Save the faces file: per person a uint8 `(N, 4, 205, 205)` bank and a bool `(N,)` held-out
    flag, RGB uint8 `(F, H, W, 3)` frames and the RetinaFace ONNX bytes, compressed; with `judged`
    (`{person: [HeldOutFace]}`) and `centres` (`{person: (128,)}` mean dlib descriptor) also the
    held-out faces the swaps are judged on: uint8 `(K, S, S, 3)` crops, `(K, 68, 2)` landmarks;
    with `pretraining` (`{"train": [FaceItem], "val": [...]}`) the base model's faces: their
    aligned crops as JPEG bytes one after another (`pretraining_jpeg`, each ending at
    `pretraining_jpeg_ends`), `(M, 68, 2)` landmarks, ids and a held-out flag
    (`pretraining_items` reads them back).

    Returns:
        Faces, held-out faces and judged faces per person (and of the pretraining), and the file's
        size in MB.
    """
    arrays = {"frames": frames, "retinaface_onnx": np.frombuffer(retinaface_onnx, dtype=np.uint8)}
    summary: dict = {}
    for person, (faces, held_out) in banks.items():
        arrays[f"faces_{person}"], arrays[f"val_{person}"] = faces, np.asarray(held_out, dtype=bool)
        summary[person] = {"faces": len(faces), "held_out": int(np.sum(held_out))}
    for person, held_out_faces in (judged or {}).items():
        arrays[f"judged_crops_{person}"] = np.stack([face.crop for face in held_out_faces])
        arrays[f"judged_landmarks_{person}"] = np.stack(
            [np.asarray(face.landmarks68, np.float32) for face in held_out_faces]
        )
        arrays[f"centre_{person}"] = np.asarray(centres[person], np.float64)
        summary[person]["judged"] = len(held_out_faces)
    if pretraining is not None:
        arrays.update(_pretraining_arrays(pretraining["train"], pretraining["val"]))
        summary["pretraining"] = {
            "faces": len(pretraining["train"]),
            "held_out": len(pretraining["val"]),
        }
    destination.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(destination, **arrays)
    summary["megabytes"] = round(destination.stat().st_size / 1e6, 1)
    if summary["megabytes"] > MAX_FACES_FILE_MB:
        raise SystemExit(
            f"{destination} is {summary['megabytes']} MB, over {MAX_FACES_FILE_MB} MB: lower"
            " --sample-fps"
        )
    return summary


def _pretraining_arrays(train: list, val: list) -> dict[str, np.ndarray]:
    """The faces file's arrays of the base model's faces (`write_faces_file`)."""
    import cv2

    items = [*train, *val]
    encoded = []
    for item in items:
        ok, jpeg = cv2.imencode(
            ".jpg",
            cv2.cvtColor(item.load(), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, PRETRAINING_JPEG_QUALITY],
        )
        if not ok:
            raise ValueError(f"the pretraining face {item.face_id} could not be encoded as JPEG")
        encoded.append(jpeg.reshape(-1))
    return {
        "pretraining_jpeg": np.concatenate(encoded),
        "pretraining_jpeg_ends": np.cumsum([len(jpeg) for jpeg in encoded]),
        "pretraining_landmarks": np.stack(
            [np.asarray(item.landmarks68, np.float32) for item in items]
        ),
        "pretraining_ids": np.array([str(item.face_id) for item in items]),
        "pretraining_val": np.arange(len(items)) >= len(train),
    }


def pretraining_items(faces: dict[str, np.ndarray]) -> tuple[list, list]:
    """The faces file's base-model faces as `model.data.FaceItem`s decoding their JPEG when
    loaded: ``(train, held_out)``; both empty when the file has none."""
    import cv2

    from faceswap_pipeline.model.data import FaceItem

    if "pretraining_jpeg" not in faces:
        return [], []
    data, ends = faces["pretraining_jpeg"], faces["pretraining_jpeg_ends"]
    starts = np.concatenate([[0], ends[:-1]])

    def loader(start: int, end: int):
        return lambda: cv2.cvtColor(
            cv2.imdecode(data[start:end], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
        )

    train, val = [], []
    for face_id, start, end, landmarks, held_out in zip(
        faces["pretraining_ids"],
        starts,
        ends,
        faces["pretraining_landmarks"],
        faces["pretraining_val"],
        strict=True,
    ):
        (val if held_out else train).append(FaceItem(str(face_id), loader(start, end), landmarks))
    return train, val


def load_faces_file(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}


def judged_faces(faces: dict[str, np.ndarray]) -> dict[str, list] | None:
    """The faces file's judged held-out faces, `{person: [HeldOutFace]}`, or None when it has none
    (a file made before they were added)."""
    from faceswap_pipeline.evaluation.validation_swaps import HeldOutFace

    if any(f"judged_crops_{p}" not in faces for p in PERSONS):
        return None
    return {
        p: [
            HeldOutFace(crop, landmarks)
            for crop, landmarks in zip(
                faces[f"judged_crops_{p}"], faces[f"judged_landmarks_{p}"], strict=True
            )
        ]
        for p in PERSONS
    }


# --- measurements ---------------------------------------------------------------------------------


def _module(architecture: str, width: float, compile: bool, face_adversary: float = 0.0):
    from faceswap_pipeline.model.lightning_module import SwapLightningModule

    return SwapLightningModule(
        model={
            "architecture": architecture,
            "input_size": ARCHITECTURES[architecture],
            "width": width,
            "coverage": COVERAGE,
            "crop_size": 256,
        },
        optimizer={"lr": 1e-4},
        loss={"ssim_weight": 0.5, "eye_mouth_weight": 3.0, "face_adversary_weight": face_adversary},
        compile=compile,
    )


def gpu_preset(from_base_model: bool | None = False) -> dict:
    """The gpu preset's `training` parameters (conf/gpu/parameters_training.yml over conf/base's),
    its `auto` settings resolved as the pipeline resolves them from scratch or, `from_base_model`,
    from a base model; None: left as the files say."""
    from faceswap_pipeline.model.settings import resolve_auto_settings

    preset = environment_parameters("gpu", "parameters_training.yml")["training"]
    if from_base_model is None:
        return preset
    return resolve_auto_settings(preset, from_base_model=from_base_model)


def gpu_preset_model(width: float) -> dict:
    """The gpu preset's model configuration at `width` (`ModelConfig`'s keys)."""
    preset = gpu_preset()
    model = {key: preset[key] for key in ("architecture", "input_size", "coverage", "crop_size")}
    return {**model, "width": width}


def _gpu_preset_module(width: float, compile: bool, base_model: Path | None = None):
    """The gpu preset's LightningModule: its model at `width`, optimizer, loss, augmentation; with
    `base_model` (a base model folder) started from it as `training.init_from` starts a pair, with
    the settings the preset's `auto` takes from a base model.

    Returns:
        The module, and the settings that say `auto` in the preset as it trains them.
    """
    from faceswap_pipeline.model.lightning_module import SwapLightningModule
    from faceswap_pipeline.model.pretrained import start_from_base_model
    from faceswap_pipeline.model.settings import AUTO_SETTINGS

    preset = gpu_preset(from_base_model=base_model is not None)
    module = SwapLightningModule(
        gpu_preset_model(width),
        preset["optimizer"],
        preset["loss"],
        preset["augmentation"],
        compile=compile,
        frozen=preset["init_frozen"] if base_model else (),
        seed=preset["seed"],
    )
    start_from_base_model(
        module.model, base_model, None, preset["init_fresh"], preset["init_frozen"]
    )
    return module, {f"{block}.{key}": preset[block][key] for block, key in AUTO_SETTINGS}


def pretrain_on_device(
    faces: dict[str, np.ndarray],
    width: float,
    minutes: float,
    device: torch.device,
    precision: str,
    compile: bool,
    folder: Path,
    smoke: bool = False,
) -> tuple[Path, dict]:
    """The pretraining pipeline's training on the faces file's base-model faces: the gpu
    environment's pretraining settings (the gpu preset's, with conf/base's and conf/gpu's
    `pretraining.training` changes) for `minutes`, the base model saved under `folder`.

    Returns:
        The base model folder and the pretraining's summary (steps, faces, held-out SSIM, images/s).
    """
    from faceswap_pipeline.model.networks import ModelConfig
    from faceswap_pipeline.model.pretrained import pretrain_base_model, save_base_model
    from faceswap_pipeline.model.settings import (
        TrainingSettings,
        pretraining_settings,
        resolve_auto_settings,
    )

    train, val = pretraining_items(faces)
    if not train:
        raise SystemExit("the faces file has no base-model faces: make it again (--build-faces)")
    settings = resolve_auto_settings(
        pretraining_settings(gpu_preset(None), gpu_pretraining()["training"]), from_base_model=False
    )
    settings.update(
        max_minutes=minutes,
        checkpoint_dir=str(folder / "checkpoints"),
        resume=False,
        compile=compile,
        progress_bar=False,
        trainer={
            "accelerator": "gpu" if device.type == "cuda" else "cpu",
            "devices": 1,
            "precision": precision,
        },
    )
    if smoke:
        settings.update(batch_size=2, max_steps=2, val_every_n_steps=1, preview_every_n_steps=0)
    result = pretrain_base_model(
        train,
        val,
        ModelConfig(**gpu_preset_model(width)),
        TrainingSettings.model_validate(
            {key: value for key, value in settings.items() if key in TrainingSettings.model_fields}
        ),
    )
    return save_base_model(result.base_model, folder / "base_model"), result.summary


def write_swaps_file(destination: Path, snapshots: list[dict]) -> None:
    """Save the held-out swaps of every snapshot so far, replacing the file whole (a run cut off
    mid-write leaves the previous one): `steps`, `minutes`, `ssim_a`, `ssim_b` `(K,)`, per person
    `real_<p>` uint8 `(N, T, T, 3)` (the faces' own model regions) and `swapped_<p>` uint8
    `(K, N, T, T, 3)`."""
    arrays = {
        "steps": np.array([snap["step"] for snap in snapshots]),
        "minutes": np.array([snap["minutes"] for snap in snapshots]),
    }
    for person in PERSONS:
        arrays[f"ssim_{person}"] = np.array(
            [snap["ssim"].get(person, np.nan) for snap in snapshots]
        )
        arrays[f"real_{person}"] = snapshots[0]["swaps"][person].real
        arrays[f"swapped_{person}"] = np.stack(
            [snap["swaps"][person].swapped for snap in snapshots]
        )
    partial = destination.with_name(destination.name + ".partial.npz")
    destination.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(partial, **arrays)
    os.replace(partial, destination)


def _trainer(device: torch.device, precision: str, max_steps: int, callbacks: list, **kwargs):
    import lightning as L

    return L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision=precision,
        max_steps=max_steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        **kwargs,
    )


def training_speed(
    architecture: str,
    width: float,
    batch: int,
    steps: int,
    warmup: int,
    compile: bool,
    device: torch.device,
    precision: str,
    face_adversary: float = 0.0,
) -> dict:
    """images/s of the project's training step on resident synthetic banks, and peak memory;
    `face_adversary`: `loss.face_adversary_weight` (0: without the face adversary)."""
    import lightning as L

    from faceswap_pipeline.model.augmentation import source_size
    from faceswap_pipeline.model.data import FaceSwapDataModule

    banks = synthetic_banks(max(2 * batch, 64), source_size(ARCHITECTURES[architecture], COVERAGE))
    rows = {person: np.arange(len(bank)) for person, bank in banks.items()}

    class StepClock(L.Callback):
        started, images = 0.0, 0

        def on_train_batch_start(self, trainer, pl_module, batch_data, batch_idx):
            if batch_idx == warmup:
                synchronize(device)
                self.started, self.images = time.perf_counter(), 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch_data, batch_idx):
            if batch_idx >= warmup:
                self.images += sum(faces.shape[0] for faces in batch_data.values())

    clock = StepClock()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    first = time.perf_counter()
    trainer = _trainer(device, precision, warmup + steps, [clock], limit_val_batches=0)
    trainer.fit(
        _module(architecture, width, compile, face_adversary),
        datamodule=FaceSwapDataModule(banks, rows, {}, batch_size=batch, seed=0),
    )
    synchronize(device)
    elapsed = time.perf_counter() - clock.started
    return {
        "architecture": architecture,
        "input_size": ARCHITECTURES[architecture],
        "width": width,
        "batch_per_person": batch,
        "compiled": compile,
        "face_adversary": face_adversary,
        "images_per_s": round(clock.images / elapsed, 1),
        "warmup_s": round(clock.started - first, 1),
        "peak_gib": (
            round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            if device.type == "cuda"
            else None
        ),
    }


def resident_training(
    faces: dict[str, np.ndarray],
    width: float,
    batch: int,
    minutes: float,
    val_every: int,
    device: torch.device,
    precision: str,
    max_val_faces: int | None = None,
    compile: bool = False,
    swaps_out: Path | None = None,
    base_model: Path | None = None,
) -> dict:
    """The project's training loop (the gpu preset's settings) on real faces for `minutes`, with
    validation SSIM on the held-out faces along the way and at the end. Compiled, its first step's
    time is the compilation's and its images/s the compiled loop's (compare the sweep's uncompiled
    figure at the same batch size). With `swaps_out` and judged faces in the faces file, the
    held-out swaps after each of `SNAPSHOT_MINUTES` and at the end go there (`write_swaps_file`).
    With `base_model` (a folder) the pair starts from it, as `training.init_from` starts it."""
    import lightning as L

    from faceswap_pipeline.evaluation.validation_swaps import swap_held_out
    from faceswap_pipeline.model.callbacks import ImagesPerSecondCallback, TimeBudgetCallback
    from faceswap_pipeline.model.data import FaceSwapDataModule

    banks = {p: faces[f"faces_{p}"] for p in PERSONS}
    val = {p: np.flatnonzero(faces[f"val_{p}"])[:max_val_faces] for p in PERSONS}
    train = {p: np.flatnonzero(~faces[f"val_{p}"]) for p in PERSONS}
    judged = judged_faces(faces) if swaps_out else None
    history: list[dict] = []
    snapshots: list[dict] = []
    started = time.monotonic()

    def snapshot(step: int, metrics: dict) -> None:
        snapshots.append(
            {
                "step": step,
                "minutes": round((time.monotonic() - started) / 60, 2),
                "ssim": {
                    p: float(metrics[f"val/ssim_{p}"])
                    for p in PERSONS
                    if f"val/ssim_{p}" in metrics
                },
                "swaps": swap_held_out(module.network, judged),
            }
        )
        write_swaps_file(swaps_out, snapshots)

    class ValidationLog(L.Callback):
        def on_validation_end(self, trainer, pl_module):
            metrics = {
                k: round(float(v), 4)
                for k, v in trainer.callback_metrics.items()
                if k.startswith("val/")
            }
            elapsed = (time.monotonic() - started) / 60
            history.append({"step": trainer.global_step, "minutes": round(elapsed, 2), **metrics})
            _log(f"validation at step {trainer.global_step}: {metrics}")
            passed = sum(mark <= elapsed for mark in SNAPSHOT_MINUTES)
            if judged and passed > len(marks_taken):
                marks_taken.extend(SNAPSHOT_MINUTES[len(marks_taken) : passed])
                snapshot(trainer.global_step, metrics)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch_data, batch_idx):
            if not first_step:
                first_step.append(time.monotonic() - started)

    first_step: list[float] = []
    marks_taken: list[float] = []
    speed = ImagesPerSecondCallback(50)
    budget = TimeBudgetCallback(minutes * 60.0)
    trainer = _trainer(
        device,
        precision,
        10**9,
        [speed, budget, ValidationLog()],
        val_check_interval=val_every,
        check_val_every_n_epoch=None,
    )
    module, auto_settings = _gpu_preset_module(width, compile=compile, base_model=base_model)
    datamodule = FaceSwapDataModule(banks, train, val, batch_size=batch, seed=module.seed)
    trainer.fit(module, datamodule=datamodule)
    final = trainer.validate(module, datamodule=datamodule, verbose=False)
    trained_s = time.monotonic() - started
    if judged and (not snapshots or snapshots[-1]["step"] != trainer.global_step):
        snapshot(trainer.global_step, dict(trainer.callback_metrics))
    return {
        "architecture": module.model_config.architecture,
        "input_size": module.model_config.input_size,
        "width": width,
        "batch_per_person": batch,
        "compiled": compile,
        "from_base_model": base_model is not None,
        "auto_settings": auto_settings,
        "first_step_s": round(first_step[0], 1) if first_step else None,
        "minutes": round(trained_s / 60, 2),
        "steps": int(trainer.global_step),
        "faces": {p: {"train": int(len(train[p])), "val": int(len(val[p]))} for p in PERSONS},
        "images_per_s_last": round(speed.latest, 1) if speed.latest else None,
        "final_validation": {k: round(float(v), 4) for k, v in (final[0] if final else {}).items()},
        "validation_history": history,
        "swap_snapshots": [(snap["step"], snap["minutes"]) for snap in snapshots],
    }


def judge_swaps(faces: dict[str, np.ndarray], swaps_path: Path, picture: Path) -> list[dict]:
    """Judge the device's held-out swaps here, where dlib is: per snapshot the verdict's figures of
    each direction (`validation_swaps.judge_swapped_held_out`, as training's validation swaps), and
    a PNG of the last snapshot (rows: A's held-out faces, A→B pasted back, B's, B→A).

    Returns:
        One row per snapshot: step, minutes, SSIM per person, the metrics, the verdict's text.
    """
    import cv2

    from faceswap_pipeline.evaluation.validation_swaps import (
        SwappedHeldOut,
        composite_swap,
        judge_swapped_held_out,
    )

    judged = judged_faces(faces)
    if judged is None:
        raise SystemExit(
            "the faces file has no judged held-out faces: make it again (--build-faces)"
        )
    centres = {p: faces[f"centre_{p}"] for p in PERSONS}
    stored = load_faces_file(swaps_path)
    rows = []
    for k, step in enumerate(stored["steps"]):
        swaps = {p: SwappedHeldOut(stored[f"swapped_{p}"][k], stored[f"real_{p}"]) for p in PERSONS}
        metrics, verdict = judge_swapped_held_out(judged, swaps, centres, COVERAGE)
        rows.append(
            {
                "step": int(step),
                "minutes": float(stored["minutes"][k]),
                **{f"ssim_{p}": round(float(stored[f"ssim_{p}"][k]), 4) for p in PERSONS},
                **{name: round(value, 4) for name, value in metrics.items()},
                "verdict": verdict.text,
            }
        )
    tiles = []
    for p in PERSONS:
        faces_shown = judged[p][:8]
        pasted = [
            composite_swap(face.crop, face.landmarks68, output, COVERAGE)
            for face, output in zip(faces_shown, stored[f"swapped_{p}"][-1], strict=False)
        ]
        tiles.append(np.concatenate([face.crop for face in faces_shown], axis=1))
        tiles.append(np.concatenate(pasted, axis=1))
    picture.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(picture), cv2.cvtColor(np.concatenate(tiles, axis=0), cv2.COLOR_RGB2BGR))
    return rows


def _print_judged(rows: list[dict]) -> None:
    """The judged snapshots as a table: per direction distance / share nearer / detail kept."""
    print("| step | min | SSIM a / b | A→B | B→A | detail ceiling | verdict |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        directions = [
            f"{row[f'val_swap/distance_to_target_{d}']:.3f} /"
            f" {row[f'val_swap/share_nearer_target_{d}']:.2f} /"
            f" {row[f'val_swap/detail_kept_{d}']:.2f}"
            for d in ("a_to_b", "b_to_a")
        ]
        print(
            f"| {row['step']} | {row['minutes']:.1f} | {row['ssim_a']:.3f} / {row['ssim_b']:.3f}"
            f" | {directions[0]} | {directions[1]} | {row['val_swap/detail_ceiling']:.2f}"
            f" | {row['verdict']} |"
        )


def retinaface_speed(weights: bytes | None, frames: np.ndarray, seconds: float) -> dict:
    """RetinaFace frames/s at batch 8 over the given frames (repeated), and faces per frame."""
    import onnxruntime as ort

    from faceswap_pipeline.faces.detection import RetinaFaceDetector

    detector = RetinaFaceDetector(det_size=640, batch_size=8, weights=weights)
    batch = [frames[i % len(frames)] for i in range(8)]
    found = [len(detections) for detections in detector.detect(batch)]  # also the warm-up
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        detector.detect(batch)
        count += len(batch)
    return {
        "providers_available": ort.get_available_providers(),
        "providers_used": detector.providers,
        "frame_size": list(frames.shape[1:3]),
        "det_size": 640,
        "frames_per_s": round(count / (time.perf_counter() - started), 1),
        "faces_per_frame": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=Path, help="the faces file (made with --build-faces)")
    parser.add_argument(
        "--build-faces", type=Path, metavar="PATH", help="make the faces file here and stop"
    )
    parser.add_argument(
        "--videos", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/videos"
    )
    parser.add_argument(
        "--sample-fps", type=float, default=8.0, help="faces sampled per second of clip"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CPU, tiny sizes: checks the script in seconds"
    )
    parser.add_argument("--budget-minutes", type=float, default=7.5, help="all parts together")
    parser.add_argument("--train-minutes", type=float, default=5.0)
    parser.add_argument(
        "--pretrain-minutes",
        type=float,
        default=3.0,
        help="base_model: pretraining minutes (cut to what the budget leaves)",
    )
    parser.add_argument(
        "--fine-tune-minutes",
        type=float,
        help="base_model: the pair's minutes from the base model (default: a quarter of"
        " --train-minutes, the issue's 4x shorter)",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="train uncompiled where the gpu preset compiles (short runs: compiling takes ~1 min)",
    )
    parser.add_argument(
        "--out", type=Path, help="also write the JSON here (rewritten after every part)"
    )
    parser.add_argument(
        "--parts",
        default=",".join(DEFAULT_PARTS),
        help=f"which parts to run, comma-separated, of {','.join(PARTS)} (default all but"
        " base_model)",
    )
    parser.add_argument(
        "--train-compiled",
        action="store_true",
        help="compile the training part even where the gpu preset does not (its compile figures)",
    )
    parser.add_argument(
        "--swaps-out", type=Path, help="write the training's held-out swaps here (to judge here)"
    )
    parser.add_argument(
        "--judge-swaps",
        type=Path,
        metavar="PATH",
        help="judge a device run's held-out swaps with dlib (needs --faces) and stop",
    )
    parser.add_argument(
        "--picture",
        type=Path,
        default=Path("data/08_reporting/gpu_check_swaps.png"),
        help="with --judge-swaps: the last snapshot's swaps as a PNG",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        raise SystemExit(f"--parts: unknown {sorted(parts - set(PARTS))}; choose from {PARTS}")

    if args.judge_swaps:
        if not args.faces:
            raise SystemExit("--judge-swaps needs --faces, the faces file the device run used")
        rows = judge_swaps(load_faces_file(args.faces), args.judge_swaps, args.picture)
        _print_judged(rows)
        print(json.dumps(rows))
        return

    if args.build_faces:
        print(
            json.dumps(
                build_faces_file(args.build_faces, args.videos, args.sample_fps, frames_kept=8)
            )
        )
        return

    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    if device.type != "cuda" and not args.smoke:
        raise SystemExit("no CUDA device here: run with --smoke to check the script on a CPU")
    precision = "bf16-mixed"
    preset = gpu_preset()
    if args.smoke:
        sweep = {"original": [2], "hires": [2]}
        width, steps, warmup, train_minutes, val_every, train_batch = 0.05, 2, 1, 0.01, 2, 2
    else:
        sweep = {"original": [128, 256, 512, 1024], "hires": [32, 64, 128, 256]}
        width, steps, warmup, train_minutes, val_every, train_batch = (
            preset["width"],
            30,  # 10 timed steps after 3 measured half the loop's steady speed on an H200
            5,
            args.train_minutes,
            250,
            preset["batch_size"],
        )
        torch.backends.cudnn.benchmark = True
    clock = Clock(args.budget_minutes)
    faces = load_faces_file(args.faces) if args.faces else None
    report: dict = {
        "device": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or "cpu"
        ),
        "torch": torch.__version__,
        "precision": precision,
        "smoke": args.smoke,
    }

    def emit() -> None:
        report["wall_s"] = round(time.monotonic() - clock.started, 1)
        if args.out:
            args.out.write_text(json.dumps(report, indent=1))

    if faces is not None and "frames" in faces and "retinaface" in parts:
        _log("RetinaFace")
        report["retinaface"] = retinaface_speed(
            faces["retinaface_onnx"].tobytes(), faces["frames"], seconds=0.5 if args.smoke else 10.0
        )
        emit()

    report["architectures"] = []
    for architecture, batches in sweep.items() if "architectures" in parts else ():
        for batch in batches:
            # The training's minutes come first: a sweep point that would cut into them is skipped.
            if clock.left_s() < train_minutes * 60 + 45:
                report["architectures"].append(
                    {"architecture": architecture, "batch_per_person": batch, "skipped": "time"}
                )
                continue
            _log(f"{architecture} batch {batch}")
            try:
                result = training_speed(
                    architecture, width, batch, steps, warmup, False, device, precision
                )
            except torch.OutOfMemoryError:
                result = {
                    "architecture": architecture,
                    "batch_per_person": batch,
                    "error": "out of memory",
                }
                torch.cuda.empty_cache()
            report["architectures"].append(result)
            emit()

    # The face adversary's cost (the CPU preset's 0.1; the gpu preset's is 0 until measured): the
    # gpu preset's model and batch, against the sweep's figure without it.
    face_batch = 2 if args.smoke else 64
    if "face_adversary" in parts:
        if clock.left_s() > train_minutes * 60 + 45:
            _log(f"hires batch {face_batch} with the face adversary")
            report["face_adversary"] = training_speed(
                "hires", width, face_batch, steps, warmup, False, device, precision, 0.1
            )
        else:
            report["face_adversary"] = {"skipped": "time"}
        emit()

    # As a user trains with the preset (compiled if it says so: then the compile time and the
    # compiled images/s come with the SSIM; part 5 measures compiling either way).
    compiled = (
        not args.smoke and not args.no_compile and (args.train_compiled or bool(preset["compile"]))
    )
    if faces is not None and "base_model" in parts:
        # The comparison on one card: the pair from a base model for a quarter of the
        # minutes scratch trains (the `training` part, after this one).
        fine_tune = args.fine_tune_minutes or train_minutes / 4
        reserved = 60 * (fine_tune + (train_minutes if "training" in parts else 0)) + 90
        pretrain = min(args.pretrain_minutes, (clock.left_s() - reserved) / 60)
        if args.smoke or pretrain >= 0.5:
            _log(f"pretraining {pretrain:.2f} min, then the pair {fine_tune:.2f} min from it")
            with tempfile.TemporaryDirectory() as folder:
                base_model, pretraining = pretrain_on_device(
                    faces, width, pretrain, device, precision, compiled, Path(folder), args.smoke
                )
                report["base_model"] = {"pretraining": pretraining}
                emit()
                swaps_out = args.swaps_out and args.swaps_out.with_name(
                    f"{args.swaps_out.stem}_base_model{args.swaps_out.suffix}"
                )
                report["base_model"]["fine_tune"] = resident_training(
                    faces,
                    width,
                    train_batch,
                    fine_tune,
                    val_every,
                    device,
                    precision,
                    max_val_faces=4 if args.smoke else None,
                    compile=compiled,
                    swaps_out=swaps_out,
                    base_model=base_model,
                )
        else:
            report["base_model"] = {"skipped": "time"}
        emit()

    if faces is not None and "training" in parts:
        # As long as asked, but never past the budget (the final validation takes a few seconds).
        minutes = max(0.05, min(train_minutes, (clock.left_s() - 30) / 60))
        _log(f"training {minutes:.2f} min{' compiled' if compiled else ''}")
        started = time.monotonic()

        def train(minutes: float, compile: bool) -> dict:
            return resident_training(
                faces,
                width,
                train_batch,
                minutes,
                val_every,
                device,
                precision,
                max_val_faces=4 if args.smoke else None,
                compile=compile,
                swaps_out=args.swaps_out,
            )

        try:
            report["training"] = train(minutes, compiled)
        except Exception as error:  # noqa: BLE001 - a compiler failure is a result; train without it
            if not compiled:
                raise
            _log(f"compiled training failed ({type(error).__name__}); again without compiling")
            report["training"] = train(
                max(0.05, minutes - (time.monotonic() - started) / 60), compile=False
            )
            report["training"]["compile_error"] = f"{type(error).__name__}: {error}"[:300]
        emit()

    # With any time left: the compiled speed of each architecture at its best batch size.
    report["compiled"] = []
    # Compiling takes minutes on a CPU: not in the smoke run.
    for architecture in sweep if "compiled" in parts and not args.smoke else ():
        measured = [
            r
            for r in report["architectures"]
            if r.get("architecture") == architecture and "images_per_s" in r
        ]
        if not measured:
            continue
        best = max(measured, key=lambda r: r["images_per_s"])
        if clock.left_s() < 90:
            report["compiled"].append({"architecture": architecture, "skipped": "time"})
            continue
        _log(f"{architecture} batch {best['batch_per_person']} compiled")
        try:
            report["compiled"].append(
                training_speed(
                    architecture,
                    width,
                    best["batch_per_person"],
                    steps,
                    warmup,
                    True,
                    device,
                    precision,
                )
            )
        except Exception as error:  # noqa: BLE001 - a compiler failure is a result to report
            report["compiled"].append(
                {"architecture": architecture, "error": f"{type(error).__name__}: {error}"[:300]}
            )
        emit()

    # A module blocked by setting it to None (as the tests do) was not imported.
    report["imported_forbidden_modules"] = sorted(
        m for m in FORBIDDEN_MODULES if sys.modules.get(m)
    )
    emit()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
