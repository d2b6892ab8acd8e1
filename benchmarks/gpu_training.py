"""Training speed on a GPU: images/s of both architectures in bf16 at batch 64 and 256 (per person).

Runs the project's own `SwapLightningModule` under `lightning.Trainer` (precision bf16-mixed) on
face-like batches generated on the GPU, so the figure is the model's training speed, not a disk's.
Needs only torch, lightning, numpy and opencv: run it from a checkout without installing the project.

    python benchmarks/gpu_training.py                         # all four combinations
    python benchmarks/gpu_training.py --arch hires --batch 256 --steps 50
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ARCHITECTURES = {"original": (64, 1.0), "hires": (128, 1.0)}


def _batches(
    count: int, batch: int, size: int, device: torch.device
) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator(device=device).manual_seed(0)
    batches = []
    for _ in range(count):
        entry = {}
        for person in ("a", "b"):
            coarse = torch.rand(batch, 3, 8, 8, generator=generator, device=device)
            rgb = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(
                0, 1
            )
            mask = torch.zeros(batch, 1, size, size, device=device)
            mask[..., size // 3 : size // 2, size // 4 : 3 * size // 4] = 1.0
            entry[person] = (torch.cat([rgb, mask], dim=1) * 255).round().to(torch.uint8)
        batches.append(entry)
    return batches


def measure(
    architecture: str, batch: int, steps: int, warmup: int, precision: str
) -> tuple[float, float]:
    """(images/s, peak GPU memory GiB) of `steps` training steps after `warmup` steps."""
    import lightning as L

    from faceswap_pipeline.model.augmentation import source_size
    from faceswap_pipeline.model.lightning_module import SwapLightningModule

    input_size, width = ARCHITECTURES[architecture]
    device = torch.device("cuda")
    batches = _batches(warmup + steps, batch, source_size(input_size, 0.625), device)

    class Clock(L.Callback):
        started = 0.0
        images = 0

        def on_train_batch_start(self, trainer, pl_module, batch_data, batch_idx):
            if batch_idx == warmup:
                torch.cuda.synchronize()
                self.started, self.images = time.perf_counter(), 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch_data, batch_idx):
            self.images += sum(faces.shape[0] for faces in batch_data.values())

    clock = Clock()
    torch.cuda.reset_peak_memory_stats()
    module = SwapLightningModule(
        model={
            "architecture": architecture,
            "input_size": input_size,
            "width": width,
            "coverage": 0.625,
            "crop_size": 256,
        },
        optimizer={"lr": 1e-4},
        loss={"ssim_weight": 0.5, "eye_mouth_weight": 3.0},
    )
    trainer = L.Trainer(
        accelerator="gpu",
        devices=1,
        precision=precision,
        max_steps=warmup + steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[clock],
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - clock.started
    return clock.images / elapsed, torch.cuda.max_memory_allocated() / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--arch", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES)
    )
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[64, 256], help="faces per person per step"
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precision", default="bf16-mixed")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: this benchmark measures GPU training speed")
    torch.backends.cudnn.benchmark = True
    rows = []
    for architecture in args.arch:
        for batch in args.batch:
            speed, memory = measure(architecture, batch, args.steps, args.warmup, args.precision)
            rows.append((architecture, batch, speed, memory))
            print(
                f"{architecture} batch {batch}: {speed:.0f} images/s, {memory:.1f} GiB", flush=True
            )
    print(
        f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.precision}, "
        f"{args.steps} timed steps after {args.warmup}"
    )
    print("| architecture | input | width | batch per person | images/s | peak GiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for architecture, batch, speed, memory in rows:
        size, width = ARCHITECTURES[architecture]
        print(f"| {architecture} | {size} | {width} | {batch} | {speed:.0f} | {memory:.1f} |")


if __name__ == "__main__":
    main()
