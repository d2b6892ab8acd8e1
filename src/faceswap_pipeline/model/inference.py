"""Where and in which precision a trained swap model runs for inference (conversion, evaluation)."""

from __future__ import annotations

import torch


def choose_device(requested: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; otherwise the named device."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def choose_precision(requested: str, device: torch.device) -> torch.dtype:
    """The dtype the model computes in: `auto` is bfloat16 where the hardware has it natively, else
    float32.

    Native bf16 means a CUDA GPU that supports it, or a CPU with AVX512-BF16 or AMX (about twice the
    float32 speed there; the model's output pixels differ by at most one grey level). Elsewhere bf16
    would be emulated and slower, so `auto` keeps float32.
    """
    if requested == "fp32":
        return torch.float32
    if requested == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        # torch's own CPU capability checks (private, hence the fallback).
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        native = any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return torch.bfloat16 if native else torch.float32
