"""What Lightning costs: images/s of its training step against a bare PyTorch loop, same model and data.

Both loops run the same `SwapLightningModule` code (augmentation, loss for both people, Adam) on the
same pre-built batches held in memory, so the difference is the framework alone. The two alternate in
rounds (bare, Lightning, bare, ...) so that a busy shared machine slows both alike; the table gives the
best round (least disturbed, as `timeit` reports) and the median. Target: Lightning within 5% of the
bare loop.

    .venv/bin/python benchmarks/training_overhead.py                 # CPU preset model, batch 32
    .venv/bin/python benchmarks/training_overhead.py --width 1.0 --batch 64 --steps 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceswap_pipeline.model.augmentation import source_size  # noqa: E402
from faceswap_pipeline.model.lightning_module import SwapLightningModule  # noqa: E402


def _batches(count: int, batch: int, size: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """Face-like uint8 batches (smooth random images with an eye/mouth channel), in memory."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        entry = {}
        for person in ("a", "b"):
            coarse = torch.rand(batch, 3, 8, 8, generator=generator)
            rgb = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(
                0, 1
            )
            mask = torch.zeros(batch, 1, size, size)
            mask[..., size // 3 : size // 2, size // 4 : 3 * size // 4] = 1.0
            entry[person] = (torch.cat([rgb, mask], dim=1) * 255).round().to(torch.uint8)
        batches.append(entry)
    return batches


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
        optimizer={"lr": 2e-4},
        loss={"ssim_weight": 0.5, "eye_mouth_weight": 3.0},
    )


def bare_loop(args, batches) -> float:
    """images/s of a hand-written loop: the module's training_step, backward, Adam step."""
    module = _module(args)
    optimizer = module.configure_optimizers()
    module.train()
    images = 0
    for index, batch in enumerate(batches):
        if index == args.warmup:
            started, images = time.perf_counter(), 0
        optimizer.zero_grad(set_to_none=True)
        loss = module._shared_step(batch, "train")
        loss.backward()
        optimizer.step()
        images += sum(faces.shape[0] for faces in batch.values())
    return images / (time.perf_counter() - started)


class _Clock(__import__("lightning").Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.started, self.images, self.elapsed = warmup, 0.0, 0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            self.started, self.images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.images += sum(faces.shape[0] for faces in batch.values())
        self.elapsed = time.perf_counter() - self.started


def lightning_loop(args, batches) -> float:
    """images/s of `Trainer.fit` over the same batches (no logger, checkpoints or progress bar)."""
    import lightning as L

    clock = _Clock(args.warmup)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=len(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[clock],
    )
    trainer.fit(_module(args), train_dataloaders=loader)
    return clock.images / clock.elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="original")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=32, help="faces per person per step")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    import lightning  # noqa: F401 - imported before timing: its import alone takes seconds

    batches = _batches(
        args.steps + args.warmup, args.batch, source_size(args.input_size, 0.625), seed=0
    )
    bare, framework = [], []
    for round_index in range(args.rounds):
        bare.append(bare_loop(args, batches))
        framework.append(lightning_loop(args, batches))
        print(
            f"round {round_index + 1}: bare {bare[-1]:.1f} images/s, Lightning {framework[-1]:.1f} images/s",
            flush=True,
        )
    print(
        f"\n{args.architecture} {args.input_size}px width {args.width}, batch {args.batch} per person "
        f"({2 * args.batch} images/step), {args.steps} timed steps x {args.rounds} rounds, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| loop | images/s, best round | images/s, median | rounds |")
    print("|---|---:|---:|---|")
    for name, values in (("bare PyTorch", bare), ("Lightning Trainer", framework)):
        print(
            f"| {name} | {max(values):.1f} | {statistics.median(values):.1f} | "
            f"{', '.join(f'{v:.1f}' for v in values)} |"
        )
    best = (max(bare) - max(framework)) / max(bare) * 100
    median = (
        (statistics.median(bare) - statistics.median(framework)) / statistics.median(bare) * 100
    )
    print(f"| Lightning overhead | {best:+.1f}% | {median:+.1f}% | target <= 5% |")


if __name__ == "__main__":
    main()
