"""Every GPU measurement in one run (at most 8 minutes on one H200), printed as one JSON object.

Runs on a bare machine whose python3 has torch, lightning, onnxruntime, OpenCV and pandas: it puts
`src/` on `sys.path` and imports only the library layer (`model/`, `faces.detection`), never Kedro,
MLflow, PyAV or dlib. It measures, in this order, each within what is left of `--budget-minutes`:

1. `retinaface`: RetinaFace (mobilenet0.25 ONNX) on onnxruntime, CUDA provider when present:
   frames/s at batch 8 on the clip frames in the faces file, and the faces found;
2. `architectures`: training images/s of `original` 64 px and `hires` 128 px at full width, in bf16,
   channels-last, at swept batch sizes (faces per person), on resident tensors: the project's own
   training step (uint8 banks on the device, augmentation, loss, Adam) under `lightning.Trainer`;
3. `face_adversary`: `hires` at batch 64 with `loss.face_adversary_weight: 0.1` (the CPU preset's),
   images/s against the sweep's figure without it;
4. `training`: the project's resident training loop on the shared pair's faces (person_a_d6,
   person_b_d9; the `hires` gpu preset, batch 64, compiled: its first step is the compile time, its
   images/s the compiled figure for the sweep's uncompiled one) for `--train-minutes` (5, cut to
   what the budget leaves) with validation SSIM on held-out faces; uncompiled again if compiling
   fails;
5. `compiled`: `original` and `hires` compiled at their best batch size, when time is left.

The sweep gives way to the training's minutes; the budget (7.5 minutes, plus start-up) is never
passed on purpose, so the whole run stays within 8 minutes.

The faces file (a compressed `.npz` of at most 30 MB: each person's face bank at the hires source
size with the eyes/mouth channel, the held-out split, a few clip frames and the RetinaFace ONNX
weights) is
made here, where the whole project is installed, then carried to the device machine:

    .venv/bin/python benchmarks/gpu_check.py --build-faces data/05_model_input/gpu_check_faces.npz
    python3 benchmarks/gpu_check.py --faces data/05_model_input/gpu_check_faces.npz   # on the GPU
    .venv/bin/python benchmarks/gpu_check.py --smoke [--faces ...]   # CPU, tiny sizes, seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

# The library layer, and this folder (also when run through runpy, which does not add it).
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from synthetic_faces import PERSONS, synchronize, synthetic_banks  # noqa: E402 - beside this script

ARCHITECTURES = {"original": 64, "hires": 128}
COVERAGE = 0.625
# What the bare device machine lacks; importing any of them here would fail there.
FORBIDDEN_MODULES = ("kedro", "mlflow", "av", "dlib", "kedro_mlflow")
MAX_FACES_FILE_MB = 30


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
    frames and the RetinaFace weights as one compressed `.npz` (needs the whole project: PyAV,
    dlib).

    Returns:
        What was written: faces per person, held-out counts, the file's size in MB.
    """
    from faceswap_pipeline.faces.detection import retinaface_onnx_weights
    from faceswap_pipeline.faces.extraction import extract_clip_faces
    from faceswap_pipeline.model.data import FaceItem, assign_validation_split
    from faceswap_pipeline.model.face_bank import FaceBankBuild
    from faceswap_pipeline.video.decode import iter_frames

    banks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
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
    frames = np.stack(
        [frame.rgb for frame in iter_frames(clips["a"], sample_fps=1.0)][:frames_kept]
    )
    return write_faces_file(destination, banks, frames, retinaface_onnx_weights())


def write_faces_file(
    destination: Path,
    banks: dict[str, tuple[np.ndarray, np.ndarray]],
    frames: np.ndarray,
    retinaface_onnx: bytes,
) -> dict:
    """Save the faces file: per person a uint8 `(N, 4, 205, 205)` bank and a bool `(N,)` held-out
    flag, RGB uint8 `(F, H, W, 3)` frames and the RetinaFace ONNX bytes, compressed.

    Returns:
        Faces and held-out faces per person, and the file's size in MB.
    """
    arrays = {"frames": frames, "retinaface_onnx": np.frombuffer(retinaface_onnx, dtype=np.uint8)}
    summary: dict = {}
    for person, (faces, held_out) in banks.items():
        arrays[f"faces_{person}"], arrays[f"val_{person}"] = faces, np.asarray(held_out, dtype=bool)
        summary[person] = {"faces": len(faces), "held_out": int(np.sum(held_out))}
    destination.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(destination, **arrays)
    summary["megabytes"] = round(destination.stat().st_size / 1e6, 1)
    if summary["megabytes"] > MAX_FACES_FILE_MB:
        raise SystemExit(
            f"{destination} is {summary['megabytes']} MB, over {MAX_FACES_FILE_MB} MB: lower"
            " --sample-fps"
        )
    return summary


def load_faces_file(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}


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
) -> dict:
    """The project's training loop (hires, gpu preset settings) on real faces for `minutes`, with
    validation SSIM on the held-out faces along the way and at the end. Compiled, its first step's
    time is the compilation's and its images/s the compiled loop's (compare the sweep's uncompiled
    figure at the same batch size)."""
    import lightning as L

    from faceswap_pipeline.model.callbacks import ImagesPerSecondCallback, TimeBudgetCallback
    from faceswap_pipeline.model.data import FaceSwapDataModule

    banks = {p: faces[f"faces_{p}"] for p in PERSONS}
    val = {p: np.flatnonzero(faces[f"val_{p}"])[:max_val_faces] for p in PERSONS}
    train = {p: np.flatnonzero(~faces[f"val_{p}"]) for p in PERSONS}
    history: list[dict] = []
    started = time.monotonic()

    class ValidationLog(L.Callback):
        def on_validation_end(self, trainer, pl_module):
            metrics = {
                k: round(float(v), 4)
                for k, v in trainer.callback_metrics.items()
                if k.startswith("val/")
            }
            history.append(
                {
                    "step": trainer.global_step,
                    "minutes": round((time.monotonic() - started) / 60, 2),
                    **metrics,
                }
            )
            _log(f"validation at step {trainer.global_step}: {metrics}")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch_data, batch_idx):
            if not first_step:
                first_step.append(time.monotonic() - started)

    first_step: list[float] = []
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
    module = _module("hires", width, compile=compile)
    datamodule = FaceSwapDataModule(banks, train, val, batch_size=batch, seed=42)
    trainer.fit(module, datamodule=datamodule)
    final = trainer.validate(module, datamodule=datamodule, verbose=False)
    trained_s = time.monotonic() - started
    return {
        "architecture": "hires",
        "width": width,
        "batch_per_person": batch,
        "compiled": compile,
        "first_step_s": round(first_step[0], 1) if first_step else None,
        "minutes": round(trained_s / 60, 2),
        "steps": int(trainer.global_step),
        "faces": {p: {"train": int(len(train[p])), "val": int(len(val[p]))} for p in PERSONS},
        "images_per_s_last": round(speed.latest, 1) if speed.latest else None,
        "final_validation": {k: round(float(v), 4) for k, v in (final[0] if final else {}).items()},
        "validation_history": history,
    }


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
        "--sample-fps", type=float, default=4.0, help="faces sampled per second of clip"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CPU, tiny sizes: checks the script in seconds"
    )
    parser.add_argument("--budget-minutes", type=float, default=7.5, help="all parts together")
    parser.add_argument("--train-minutes", type=float, default=5.0)
    parser.add_argument(
        "--out", type=Path, help="also write the JSON here (rewritten after every part)"
    )
    args = parser.parse_args()

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
    if args.smoke:
        sweep = {"original": [2], "hires": [2]}
        width, steps, warmup, train_minutes, val_every, train_batch = 0.05, 2, 1, 0.01, 2, 2
    else:
        sweep = {"original": [128, 256, 512, 1024], "hires": [32, 64, 128, 256]}
        width, steps, warmup, train_minutes, val_every, train_batch = (
            1.0,
            10,
            3,
            args.train_minutes,
            250,
            64,
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

    if faces is not None and "frames" in faces:
        _log("RetinaFace")
        report["retinaface"] = retinaface_speed(
            faces["retinaface_onnx"].tobytes(), faces["frames"], seconds=0.5 if args.smoke else 10.0
        )
        emit()

    report["architectures"] = []
    for architecture, batches in sweep.items():
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
    if clock.left_s() > train_minutes * 60 + 45:
        _log(f"hires batch {face_batch} with the face adversary")
        report["face_adversary"] = training_speed(
            "hires", width, face_batch, steps, warmup, False, device, precision, face_adversary=0.1
        )
    else:
        report["face_adversary"] = {"skipped": "time"}
    emit()

    if faces is not None:
        # As long as asked, but never past the budget (the final validation takes a few seconds).
        minutes = max(0.05, min(train_minutes, (clock.left_s() - 30) / 60))
        # Compiled on the GPU: the compile time and the compiled images/s come with the SSIM.
        compiled = not args.smoke
        _log(f"training {minutes:.2f} min{' compiled' if compiled else ''}")
        started = time.monotonic()
        try:
            report["training"] = resident_training(
                faces,
                width,
                train_batch,
                minutes,
                val_every,
                device,
                precision,
                max_val_faces=4 if args.smoke else None,
                compile=compiled,
            )
        except Exception as error:  # noqa: BLE001 - a compiler failure is a result; train without it
            if not compiled:
                raise
            _log(f"compiled training failed ({type(error).__name__}); again without compiling")
            minutes = max(0.05, minutes - (time.monotonic() - started) / 60)
            report["training"] = resident_training(
                faces, width, train_batch, minutes, val_every, device, precision
            )
            report["training"]["compile_error"] = f"{type(error).__name__}: {error}"[:300]
        emit()

    # With any time left: the compiled speed of each architecture at its best batch size.
    report["compiled"] = []
    for architecture in sweep if not args.smoke else ():  # compiling takes minutes on a CPU
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
