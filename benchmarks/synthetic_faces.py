"""Face-like synthetic face banks and device timing for the speed benchmarks (gpu_check.py,
training_overhead.py). Needs only torch: gpu_check runs it on a bare GPU machine."""

from __future__ import annotations

import torch

PERSONS = ("a", "b")


def synthetic_banks(count: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Face-like uint8 banks `(count, 4, size, size)` per person: smooth random RGB and an
    eyes/mouth channel, as the training's face banks hold them."""
    generator = torch.Generator().manual_seed(seed)
    banks = {}
    for person in PERSONS:
        coarse = torch.rand(count, 3, 8, 8, generator=generator)
        rgb = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)
        mask = torch.zeros(count, 1, size, size)
        mask[..., size // 3 : size // 2, size // 4 : 3 * size // 4] = 1.0
        banks[person] = (torch.cat([rgb, mask], dim=1) * 255).round().to(torch.uint8)
    return banks


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it times the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
