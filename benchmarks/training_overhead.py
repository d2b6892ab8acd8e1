r"""What the training loop costs beyond the model: its images/s against the bare model, and where
the rest goes.

Two loops train the same network on the same faces, held in memory as uint8 face banks:
- **bare model**: forward, loss, backward and Adam step on batches augmented beforehand and held as
  float tensors: the model's own work, nothing else;
- **training loop**: the project's loop as `train_swap_model` runs it: `FaceSwapDataModule` drawing
  batches by index from the banks, `SwapLightningModule` (uint8 to float, augmentation, loss, the
  non-finite check, logging) under `lightning.Trainer` with the node's per-step callbacks (images/s,
  progress log) and, when MLflow is installed, an `MLFlowLogger` into a throw-away SQLite store.
  Validation, previews and checkpoints (every 100 steps in the CPU preset) are not in the timed
  steps.

The loops alternate in rounds (bare, loop, bare, ...) so that a busy shared machine slows both
alike; the table gives the best round (least disturbed, as `timeit` reports) and the median. Inside
the loop, data (from one step's end to the next step's start: drawing the batch) and augmentation
(uint8 to float and `augment_faces`) are timed directly; "other" is the rest of the difference
(hooks, logging, the loss check). Goals on a CPU: the loop reaches >= 0.95 of the bare model's
images/s, and at most 3 % of a step is spent outside the model's forward and backward.

    .venv/bin/python benchmarks/training_overhead.py                 # CPU preset model, batch 16
    .venv/bin/python benchmarks/training_overhead.py --architecture hires --input-size 128 \
        --width 0.1 --batch 8 --precision bf16-mixed               # the gpu preset's code path,
        shrunk
    .venv/bin/python benchmarks/training_overhead.py --compile      # torch.compile the network too
    .venv/bin/python benchmarks/training_overhead.py --frozen convolutions  # a step with the base
                                                                    # model's convolutions frozen
    .venv/bin/python benchmarks/training_overhead.py --face-adversary 0.1   # the face adversary too
    .venv/bin/python benchmarks/training_overhead.py --face-adversary 0.1 --swap-adversary 0.1
                                                                    # ... judging the swaps too
    .venv/bin/python benchmarks/training_overhead.py --average-decay 0.999  # the moving average too
    # a step of the preset from scratch against one of the base model's recipe (README --params)
    .venv/bin/python benchmarks/training_overhead.py --face-adversary 0.1 --average-decay 0.999
    .venv/bin/python benchmarks/training_overhead.py --face-adversary 0.1 --average-decay 0.999 \
        --code-adversary 0.1 --warp 0 --clip-grad-norm 1.0
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))
from synthetic_faces import PERSONS, synchronize, synthetic_banks  # noqa: E402 - beside this script

from faceswap_pipeline.model import lightning_module  # noqa: E402
from faceswap_pipeline.model.augmentation import augment_faces, source_size  # noqa: E402
from faceswap_pipeline.model.lightning_module import SwapLightningModule  # noqa: E402
from faceswap_pipeline.model.losses import reconstruction_loss  # noqa: E402
from faceswap_pipeline.model.settings import resolve_auto_settings  # noqa: E402

# The defaults below are the CPU preset's from scratch, read where the pipeline reads them.
CPU_PRESET = resolve_auto_settings(
    yaml.safe_load((PROJECT / "conf/base/parameters_training.yml").read_text())["training"],
    from_base_model=False,
)


def _module(args) -> SwapLightningModule:
    torch.manual_seed(0)
    return SwapLightningModule(
        model={
            "architecture": args.architecture,
            "input_size": args.input_size,
            "width": args.width,
            "coverage": 0.625,
            "crop_size": 256,
        },
        optimizer={"lr": 2e-4, "average_decay": args.average_decay},
        loss={
            "ssim_weight": 0.5,
            "eye_mouth_weight": 3.0,
            "code_identity_weight": args.code_adversary,
            "face_adversary_weight": args.face_adversary,
            "swap_adversary_weight": args.swap_adversary,
        },
        augmentation={"warp": args.warp},
        compile=args.compile,
        frozen=args.frozen,
    )


def _autocast(args, device: torch.device):
    enabled = args.precision.startswith("bf16")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def bare_model_loop(args, banks: dict[str, torch.Tensor], device: torch.device) -> float:
    """images/s of forward + loss + backward + Adam on batches augmented beforehand, on the
    device."""
    module = _module(args).to(device)
    module.model.to(memory_format=torch.channels_last)
    module.freeze_parts()
    if args.compile:
        module.model.compile()
    optimizer = module.configure_optimizers()
    config, augmentation = module.model_config, module.augmentation
    batches = []
    for step in range(min(args.steps + args.warmup, 8)):  # a few distinct batches, reused in turn
        entry = {}
        for person in PERSONS:
            rows = torch.arange(step * args.batch, (step + 1) * args.batch) % len(banks[person])
            faces = banks[person][rows].to(device).float() / 255.0
            inputs, target = augment_faces(faces, config.input_size, config.coverage, augmentation)
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            entry[person] = (inputs, target)
        batches.append(entry)
    module.train()
    images = 0
    for index in range(args.steps + args.warmup):
        if index == args.warmup:
            synchronize(device)
            started, images = time.perf_counter(), 0
        optimizer.zero_grad(set_to_none=True)
        with _autocast(args, device):
            loss = sum(
                reconstruction_loss(
                    module.model(inputs, person), target[:, :3], module._weight_map(target), 0.5
                )
                for person, (inputs, target) in batches[index % len(batches)].items()
            )
        loss.backward()
        optimizer.step()
        images += 2 * args.batch
    synchronize(device)
    return images / (time.perf_counter() - started)


class _StepClock:
    """Times the loop's steps and, inside the same steps, each part of them (hooks and wrappers).

    The model's part is the network's forward (hooks on it), the loss (`reconstruction_loss`), the
    backward (`on_before_backward` to `on_after_backward`) and Adam's update
    (`on_before_optimizer_step` to the end of `optimizer_step`); data is one step's end to the next
    step's start; augmentation is `augment_faces`. On a GPU every mark synchronises, which slows the
    loop a little.
    """

    def __init__(self, warmup: int, device: torch.device) -> None:
        import lightning as L

        clock = self
        self.device, self.warmup = device, warmup
        self.parts = dict.fromkeys(("step", "model", "data", "augmentation"), 0.0)
        self.images, self.timing = 0, False
        self.last_end: float | None = None
        self._marks: dict[str, float] = {}

        class Callback(L.Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
                clock.timing = batch_idx >= warmup
                if clock.timing and clock.last_end is not None:
                    clock.parts["data"] += clock.now() - clock.last_end

            def on_before_backward(self, trainer, pl_module, loss) -> None:
                clock.mark("backward")

            def on_after_backward(self, trainer, pl_module) -> None:
                clock.add("model", "backward")

            def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
                clock.mark("adam")

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                now = clock.now()
                if clock.timing and clock.last_end is not None:
                    clock.parts["step"] += now - clock.last_end
                    clock.images += sum(faces.shape[0] for faces in batch.values())
                clock.last_end = now

        self.callback = Callback()

    def now(self) -> float:
        synchronize(self.device)
        return time.perf_counter()

    def mark(self, name: str) -> None:
        self._marks[name] = self.now()

    def add(self, part: str, mark: str) -> None:
        if self.timing and mark in self._marks:
            self.parts[part] += self.now() - self._marks.pop(mark)

    def timed(self, part: str, function):
        def wrapper(*args, **kwargs):
            self.mark(part)
            result = function(*args, **kwargs)
            self.add(part, part)
            return result

        return wrapper

    def timed_module(self, module_class):
        clock = self

        class Timed(module_class):
            def optimizer_step(self, *args, **kwargs) -> None:
                super().optimizer_step(*args, **kwargs)
                clock.add("model", "adam")

        return Timed


def training_loop(args, banks: dict[str, torch.Tensor], device: torch.device) -> dict[str, float]:
    """images/s of the project's loop and its per-step time by part (seconds)."""
    import lightning as L

    from faceswap_pipeline.model.callbacks import ImagesPerSecondCallback, ProgressLogCallback
    from faceswap_pipeline.model.data import FaceSwapDataModule

    clock = _StepClock(args.warmup, device)
    # The module's own calls, timed where it looks them up.
    lightning_module.augment_faces = clock.timed("augmentation", augment_faces)
    lightning_module.reconstruction_loss = _timed_into(clock, "model", reconstruction_loss)
    speed = ImagesPerSecondCallback(args.log_every)
    rows = {person: torch.arange(len(bank)) for person, bank in banks.items()}
    torch.manual_seed(0)
    module = clock.timed_module(SwapLightningModule)(**_module(args).hparams)
    module.model.register_forward_pre_hook(lambda *_: clock.mark("forward"))
    module.model.register_forward_hook(lambda *_: clock.add("model", "forward"))
    with tempfile.TemporaryDirectory() as folder:
        trainer = L.Trainer(
            accelerator=device.type,
            devices=1,
            precision=args.precision,
            max_steps=args.steps + args.warmup,
            max_epochs=-1,
            logger=_logger(folder),
            log_every_n_steps=args.log_every,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            gradient_clip_val=args.clip_grad_norm,
            default_root_dir=folder,
            callbacks=[clock.callback, speed, ProgressLogCallback(speed=speed)],
        )
        datamodule = FaceSwapDataModule(banks, rows, {}, batch_size=args.batch, seed=0)
        try:
            trainer.fit(module, datamodule=datamodule)
        finally:
            lightning_module.augment_faces = augment_faces
            lightning_module.reconstruction_loss = reconstruction_loss
    steps = args.steps
    result = {f"{part}_s": seconds / steps for part, seconds in clock.parts.items()}
    result["images_per_s"] = clock.images / clock.parts["step"]
    return result


def _timed_into(clock: _StepClock, part: str, function):
    def wrapper(*args, **kwargs):
        clock.mark("loss")
        result = function(*args, **kwargs)
        clock.add(part, "loss")
        return result

    return wrapper


def _logger(folder: str):
    try:
        from lightning.pytorch.loggers import MLFlowLogger
    except ImportError:
        return False
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return False
    return MLFlowLogger(experiment_name="overhead", tracking_uri=f"sqlite:///{folder}/mlflow.db")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default=CPU_PRESET["architecture"])
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--width", type=float, default=CPU_PRESET["width"])
    parser.add_argument(
        "--batch", type=int, default=CPU_PRESET["batch_size"], help="faces per person per step"
    )
    parser.add_argument(
        "--log-every",
        type=int,
        default=CPU_PRESET["log_every_n_steps"],
        help="steps between logged metrics",
    )
    parser.add_argument("--faces", type=int, default=512, help="faces per person in the banks")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precision", default="32-true", help="32-true or bf16-mixed")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument(
        "--frozen",
        nargs="*",
        default=[],
        metavar="PART",
        help="model parts that do not train (training.init_frozen), e.g. convolutions",
    )
    for name, key in (
        ("code", "code_identity_weight"),
        ("face", "face_adversary_weight"),
        ("swap", "swap_adversary_weight"),
    ):
        parser.add_argument(
            f"--{name}-adversary",
            type=float,
            default=0.0,
            metavar="WEIGHT",
            help=f"train the {name} adversary too (training.loss.{key}); the bare model"
            " never has it, so compare the training loop's figure",
        )
    parser.add_argument(
        "--average-decay",
        type=float,
        metavar="DECAY",
        help="keep the moving average of the weights too (training.optimizer.average_decay);"
        " the bare model never has it, so compare the training loop's figure",
    )
    parser.add_argument(
        "--warp",
        type=float,
        default=CPU_PRESET["augmentation"]["warp"],
        help="random warp strength (training.augmentation.warp); 0: off, as in the base model's"
        " recipe",
    )
    parser.add_argument(
        "--clip-grad-norm",
        type=float,
        metavar="NORM",
        help="clip each step's gradients to this norm (training.optimizer.clip_grad_norm); the"
        " bare model never clips, so compare the training loop's figure",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import lightning  # noqa: F401 - imported before timing: its import alone takes seconds

    device = torch.device(args.device)
    banks = synthetic_banks(args.faces, source_size(args.input_size, 0.625))
    bare, loop = [], []
    for round_index in range(args.rounds):
        bare.append(bare_model_loop(args, banks, device))
        loop.append(training_loop(args, banks, device))
        print(
            f"round {round_index + 1}: bare model {bare[-1]:.1f} images/s, training loop"
            f" {loop[-1]['images_per_s']:.1f} images/s (data {loop[-1]['data_s'] * 1e3:.2f} ms,"
            f" augmentation {loop[-1]['augmentation_s'] * 1e3:.1f} ms of"
            f" {loop[-1]['step_s'] * 1e3:.0f} ms)",
            flush=True,
        )
    loop_speeds = [entry["images_per_s"] for entry in loop]
    print(
        f"\n{args.architecture} {args.input_size}px width {args.width}, batch {args.batch} per"
        f" person ({2 * args.batch} images/step),"
        f" {args.precision}{', compiled' if args.compile else ''}, {device}, {args.steps} timed"
        f" steps x {args.rounds} rounds, torch {torch.__version__}, {torch.get_num_threads()}"
        " threads"
    )
    print("| loop | images/s, best round | images/s, median | rounds |")
    print("|---|---:|---:|---|")
    for name, values in (("bare model (resident tensors)", bare), ("training loop", loop_speeds)):
        print(
            f"| {name} | {max(values):.1f} | {statistics.median(values):.1f} | "
            f"{', '.join(f'{v:.1f}' for v in values)} |"
        )
    best_ratio = max(loop_speeds) / max(bare)
    median_ratio = statistics.median(loop_speeds) / statistics.median(bare)
    print(f"| loop / bare | {best_ratio:.3f} | {median_ratio:.3f} | goal >= 0.95 |")

    print("\nper step of the training loop, timed inside the same steps (median over rounds):")
    print("| part | ms | share of the step |")
    print("|---|---:|---:|")
    median = {key: statistics.median(entry[key] for entry in loop) for key in loop[0]}
    shares = [entry for entry in loop]
    step = median["step_s"]
    other = [e["step_s"] - e["model_s"] - e["data_s"] - e["augmentation_s"] for e in shares]
    for name, seconds in (
        ("model: forward, loss, backward, Adam update", median["model_s"]),
        ("data: drawing the batch from the banks", median["data_s"]),
        ("augmentation: augment_faces", median["augmentation_s"]),
        ("other: uint8 to float, hooks, logging, loss check", statistics.median(other)),
    ):
        print(f"| {name} | {seconds * 1e3:.2f} | {seconds / step * 100:.1f} % |")
    outside = [(e["step_s"] - e["model_s"]) / e["step_s"] * 100 for e in shares]
    print(
        f"| outside the model's forward and backward | {(step - median['model_s']) * 1e3:.2f} | "
        f"{statistics.median(outside):.1f} % (rounds {', '.join(f'{v:.1f}' for v in outside)}; "
        "goal <= 3 %) |"
    )


if __name__ == "__main__":
    main()
