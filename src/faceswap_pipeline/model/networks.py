"""The swap networks: one shared encoder and one decoder per person, as plain `nn.Module`s.

Two architectures, chosen by `ModelConfig.architecture`:
- `original`: the 2018 deepfakes/faceit autoencoder (64×64 input, conv 128→1024 encoder, dense
  bottleneck, 4×4×1024 reshaped and upscaled, pixel-shuffle decoders).
- `hires`: the same idea at 128 or 256 px in the style of DeepFaceLab's H128 (8×8 bottleneck,
  residual blocks in the decoders), for GPUs.
Both scale every channel count by `width`, so a small variant trains on a CPU in minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

ARCHITECTURES = ("original", "hires")
PERSONS = ("a", "b")
# The parts of a swap model, in the order the faces pass them (`SwapModel.part_of`):
# convolutions: the encoder's strided convolutions;
# bottleneck: the dense layers and the upscale after them (DeepFaceLab's "inter"), the code both
#   decoders read;
# decoder_input: each decoder's first upscale stage, which reads the code (the coarsest layout of
#   the face);
# decoder_output: each decoder's other stages and its RGB output.
MODEL_PARTS = ("convolutions", "bottleneck", "decoder_input", "decoder_output")


def check_model_parts(parts: Sequence[str]) -> None:
    """Fail naming any of `parts` that is not one of `MODEL_PARTS`.

    Raises:
        ValueError: an unknown part.
    """
    unknown = sorted(set(parts) - set(MODEL_PARTS))
    if unknown:
        raise ValueError(f"unknown model parts {unknown}; the parts are {', '.join(MODEL_PARTS)}")


# Input sizes each architecture is built for: `original` is faceit's fixed 64 px model.
SUPPORTED_INPUT_SIZES = {"original": (64,), "hires": (128, 256)}


@dataclass(frozen=True)
class ModelConfig:
    """What a swap model is: enough to rebuild it and to feed it faces the way it was trained.

    Attributes:
        architecture: `original` or `hires`.
        input_size: the side of the square RGB input and output, in pixels.
        width: channel multiplier (1.0 = the published sizes; 0.25 for CPUs and tests).
        coverage: fraction of the aligned crop's side, centred, that the model sees (faceit:
            160/256).
        crop_size: side of the aligned crops the model was trained on (the face_extraction output).
    """

    architecture: str = "original"
    input_size: int = 64
    width: float = 1.0
    coverage: float = 0.625
    crop_size: int = 256
    format_version: int = field(default=1)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {self.architecture!r}; choose one of"
                f" {', '.join(ARCHITECTURES)}"
            )
        sizes = SUPPORTED_INPUT_SIZES[self.architecture]
        if self.input_size not in sizes:
            raise ValueError(
                f"architecture {self.architecture!r} takes input_size"
                f" {' or '.join(map(str, sizes))}, got {self.input_size}"
            )
        if not 0.05 <= self.width <= 4.0:
            raise ValueError(f"width must be between 0.05 and 4.0, got {self.width}")
        if not 0.1 <= self.coverage <= 1.0:
            raise ValueError(f"coverage must be between 0.1 and 1.0, got {self.coverage}")
        if self.crop_size < 16:
            raise ValueError(f"crop_size must be at least 16 px, got {self.crop_size}")

    def differences(self, expected: ModelConfig, source: str) -> str:
        """Each field that differs from `expected`, e.g. ``width 0.5 (parameters say 0.25)``, where
        `source` says where `expected` came from ("parameters say")."""
        return ", ".join(
            f"{key} {getattr(self, key)!r} ({source} {getattr(expected, key)!r})"
            for key in self.to_dict()
            if getattr(self, key) != getattr(expected, key)
        )

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-serialisable values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Rebuild a configuration from `to_dict()` output; unknown keys are an error."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model configuration keys: {sorted(unknown)}")
        return cls(**values)


def _channels(base: int, width: float) -> int:
    """`base` channels scaled by `width`, at least 4 and a multiple of 4 (pixel shuffle needs
    ×4)."""
    return max(4, int(round(base * width / 4)) * 4)


class _Conv(nn.Sequential):
    """faceit's `conv`: 5×5 stride-2 convolution and LeakyReLU(0.1); halves the side."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=5, stride=2, padding=2),
            nn.LeakyReLU(0.1),
        )


class _Upscale(nn.Sequential):
    """faceit's `upscale`: 3×3 convolution to 4× channels, LeakyReLU(0.1), pixel shuffle; doubles
    the side."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels * 4, kernel_size=3, padding=1),
            nn.LeakyReLU(0.1),
            nn.PixelShuffle(2),
        )


class _ResidualBlock(nn.Module):
    """Two 3×3 convolutions with a skip connection (DeepFaceLab's decoder block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(x + self.conv2(y), 0.2)


class _Encoder(nn.Module):
    """Strided convolutions to a small grid, a dense bottleneck, and one upscale (shared by A and
    B)."""

    def __init__(
        self,
        conv_channels: list[int],
        grid: int,
        bottleneck: int,
        reshape_channels: int,
        out_channels: int,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for channels in conv_channels:
            layers.append(_Conv(in_channels, channels))
            in_channels = channels
        self.convs = nn.Sequential(*layers)
        self.grid = grid
        self.reshape_channels = reshape_channels
        self.to_bottleneck = nn.Linear(in_channels * grid * grid, bottleneck)
        self.from_bottleneck = nn.Linear(bottleneck, reshape_channels * grid * grid)
        self.upscale = _Upscale(reshape_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.convs(x)
        x = self.to_bottleneck(torch.flatten(x, 1))
        x = self.from_bottleneck(x).view(-1, self.reshape_channels, self.grid, self.grid)
        return self.upscale(x)


class _Decoder(nn.Module):
    """Pixel-shuffle upscales to the input size and a sigmoid RGB output (one per person)."""

    def __init__(self, in_channels: int, upscale_channels: list[int], residual: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for channels in upscale_channels:
            layers.append(_Upscale(in_channels, channels))
            if residual:
                layers.append(_ResidualBlock(channels))
            in_channels = channels
        self.upscales = nn.Sequential(*layers)
        self.to_rgb = nn.Conv2d(in_channels, 3, kernel_size=5, padding=2)
        # The first upscale stage (with its residual block): `upscales.0` (and `upscales.1`).
        self.input_layers = 2 if residual else 1

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.to_rgb(self.upscales(x)))


class SwapModel(nn.Module):
    """A shared encoder and one decoder per person; decoding A's code with B's decoder is the swap.

    `forward(faces, person)` and `swap(faces, to)` take RGB float tensors `(N, 3, S, S)` in [0, 1]
    where S = `config.input_size`, cropped from aligned faces with `model.region.crop_model_region`.
    `people` says who it was trained on (`{"a": {...}, "b": {...}}`, see
    `model_file.people_record`), or None when unknown; it is saved in the model file.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.people: dict[str, dict] | None = None
        width = config.width
        if config.architecture == "original":
            # faceit: 64 → 4×4×1024, Dense(1024), Dense(4·4·1024), upscale(512) → 8×8×512;
            # decoder upscales 256, 128, 64 → 64×64.
            conv_bases, upscale_bases = (128, 256, 512, 1024), (256, 128, 64)
            grid, dense, residual = 4, 1024, False
        else:
            # DeepFaceLab H128-style: input → 8×8 grid, Dense(512), Dense(8·8·512), upscale(512) →
            # 16×16; decoder upscales with residual blocks to the input size.
            downscales = int(math.log2(config.input_size // 8))
            conv_bases = (128, 256, 512, 1024, 1024)[:downscales]
            upscale_bases = (512, 256, 128, 64)[: downscales - 1]
            grid, dense, residual = 8, 512, True
        # The code: what the encoder hands both decoders, (N, code_channels, 2·grid, 2·grid).
        self.code_channels = _channels(512, width)
        self.encoder = _Encoder(
            conv_channels=[_channels(c, width) for c in conv_bases],
            grid=grid,
            bottleneck=_channels(dense, width),
            reshape_channels=_channels(dense, width),
            out_channels=self.code_channels,
        )
        decoder_args = {
            "in_channels": self.code_channels,
            "upscale_channels": [_channels(c, width) for c in upscale_bases],
            "residual": residual,
        }
        self.decoders = nn.ModuleDict({person: _Decoder(**decoder_args) for person in PERSONS})

    def part_of(self, key: str) -> str:
        """Which of `MODEL_PARTS` the `state_dict` entry `key` belongs to."""
        top, _, rest = key.partition(".")
        if top == "encoder":
            return "convolutions" if rest.startswith("convs.") else "bottleneck"
        _person, _, layer = rest.partition(".")
        group, _, index = layer.partition(".")
        if group == "upscales" and int(index.split(".")[0]) < self.decoders["a"].input_layers:
            return "decoder_input"
        return "decoder_output"

    def forward(self, faces: Tensor, person: Literal["a", "b"]) -> Tensor:
        """Encode `faces` and decode them as `person`.

        Args:
            faces: RGB float `(N, 3, S, S)` in [0, 1], S = `config.input_size`.
            person: whose decoder to use, `"a"` or `"b"`.

        Returns:
            RGB float `(N, 3, S, S)` in [0, 1].
        """
        return self.decoders[person](self.encoder(faces))

    @torch.no_grad()
    def swap(self, faces: Tensor, to: Literal["a", "b"]) -> Tensor:
        """Turn faces into person `to` (inference: no gradients, eval mode, input resized if
        needed).

        Args:
            faces: RGB float `(N, 3, H, W)` in [0, 1]: the model region of aligned faces
                (`crop_model_region`); resized to `config.input_size` when H, W differ.
            to: `"a"` or `"b"`: the person to decode as (`"b"` for A→B).

        Returns:
            RGB float `(N, 3, S, S)` in [0, 1], S = `config.input_size`, on the model's device.

        Raises:
            ValueError: faces of the wrong shape, dtype or person name.
        """
        if to not in PERSONS:
            raise ValueError(f"swap target must be 'a' or 'b', got {to!r}")
        faces = faces_for_model(self, faces, self.config.input_size)
        was_training = self.training
        self.eval()
        swapped = self(faces, to)
        self.train(was_training)
        return swapped.clamp(0.0, 1.0)


class CodeDiscriminator(nn.Module):
    """Tells whose face a code is: the shared code `(N, C, G, G)` (`SwapModel.code_channels`) to one
    logit per face, > 0 for B. The code adversary's (`SwapLightningModule`); training only, never
    saved in a swap model."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(4, channels // 2)
        self.layers = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, hidden, kernel_size=3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(hidden, 1),
        )

    def forward(self, codes: Tensor) -> Tensor:
        return self.layers(codes).squeeze(1)


class FaceDiscriminator(nn.Module):
    """Tells one person's real faces from drawn ones, patch by patch (a PatchGAN, Isola et al.
    2017): RGB `(N, 3, S, S)` in [0, 1] to logits `(N, S/8, S/8)`, > 0 for real. Each logit sees a
    ~38 px patch at 64 px. The face adversary's (`SwapLightningModule`); training only, never
    saved in a swap model."""

    def __init__(self, width: float) -> None:
        super().__init__()
        channels = _channels(64, width)
        layers: list[nn.Module] = []
        in_channels = 3
        for out_channels in (channels, channels * 2, channels * 4):
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
            ]
            in_channels = out_channels
        layers.append(nn.Conv2d(in_channels, 1, kernel_size=3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, faces: Tensor) -> Tensor:
        # Centred on 0, as the real faces' statistics are not the network's business.
        return self.layers(faces * 2.0 - 1.0).squeeze(1)


def faces_for_model(module: nn.Module, faces: Tensor, size: int) -> Tensor:
    """Faces as `module` takes them: RGB float `(N, 3, H, W)` in [0, 1] checked, moved to the
    module's device and dtype, and resized to `(N, 3, size, size)` (antialiased bilinear).

    Raises:
        ValueError: faces of the wrong shape or dtype.
    """
    if faces.ndim != 4 or faces.shape[1] != 3 or not faces.is_floating_point():
        raise ValueError(
            f"faces must be a float tensor (N, 3, H, W) in [0, 1], got {tuple(faces.shape)} "
            f"{faces.dtype}"
        )
    parameter = next(module.parameters())
    faces = faces.to(device=parameter.device, dtype=parameter.dtype)
    if faces.shape[-2:] != (size, size):
        faces = F.interpolate(faces, size=(size, size), mode="bilinear", antialias=True)
    return faces
