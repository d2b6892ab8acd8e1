"""The perceptual loss's feature network: the face detector's own backbone, frozen, and a distance
that charges a blur."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from retinaface.weights import WEIGHTS

from faceswap_pipeline.model import crop_model_region
from faceswap_pipeline.model.face_features import (
    INPUT_PX,
    TAPS,
    face_feature_loss,
    face_features,
)
from faceswap_pipeline.model.lightning_module import SwapLightningModule


@pytest.fixture(scope="module")
def face(shared_photos: Path) -> torch.Tensor:
    """Obama's head and shoulders from a photo, 64 px, RGB float (1, 3, 64, 64) in 0-1."""
    image = cv2.cvtColor(cv2.imread(str(shared_photos / "obama.jpg")), cv2.COLOR_BGR2RGB)
    height, width = image.shape[:2]
    crop = image[: height * 2 // 3, width // 5 : width * 4 // 5]
    crop = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0


def _blurred(faces: torch.Tensor, sigma: float) -> torch.Tensor:
    image = faces[0].permute(1, 2, 0).numpy()
    return torch.from_numpy(cv2.GaussianBlur(image, (0, 0), sigma)).permute(2, 0, 1)[None]


def test_the_features_are_the_detector_s_own(face):
    # The detector's graph, asked for the outputs of the tapped blocks, on what the network reads:
    # the face at INPUT_PX, BGR, 0-255 less the detector's mean.
    model = onnx.load_from_string(WEIGHTS)
    tap_outputs = []
    for tap in TAPS:
        stage = tap.split(".")[0]
        last = [
            node.output[0]
            for node in model.graph.node
            if node.op_type == "LeakyRelu" and node.name.startswith(f"/fx/{stage}/{tap}/")
        ][-1]
        model.graph.output.append(onnx.ValueInfoProto(name=last))
        tap_outputs.append(last)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    resized = torch.nn.functional.interpolate(
        face, size=(INPUT_PX, INPUT_PX), mode="bilinear", align_corners=False
    )
    bgr = resized.flip(1) * 255.0 - torch.tensor([104.0, 117.0, 127.0]).view(1, 3, 1, 1)
    expected = session.run(tap_outputs, {"input": bgr.numpy()})

    with torch.no_grad():
        features = face_features()(face)

    assert [tuple(f.shape[1:]) for f in features] == [
        (16, 64, 64),
        (32, 32, 32),
        (64, 16, 16),
        (128, 8, 8),
    ]
    for got, want in zip(features, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-3, atol=1e-3 * np.abs(want).max())


def test_the_distance_is_nought_for_the_face_itself_and_grows_with_blur(face):
    network = face_features()
    assert float(face_feature_loss(network, face, face)) < 1e-6
    distances = [
        float(face_feature_loss(network, _blurred(face, sigma), face)) for sigma in (0.7, 1.5, 3.0)
    ]
    assert distances[0] < distances[1] < distances[2]
    # Against the pixels' own error, the features charge a blur several times more than noise
    # of the same mean error, which L1 cannot tell apart.
    blur = _blurred(face, 1.5)
    torch.manual_seed(0)
    noise = face + torch.randn_like(face).sign() * (blur - face).abs().mean()
    assert float(face_feature_loss(network, blur, face)) > 1.5 * float(
        face_feature_loss(network, noise.clamp(0, 1), face)
    )


def test_gradients_reach_the_drawn_face_and_never_the_network(face):
    network = face_features()
    drawn = _blurred(face, 1.5).requires_grad_(True)
    face_feature_loss(network, drawn, face, torch.ones(1, 1, 64, 64)).backward()
    assert drawn.grad is not None and float(drawn.grad.abs().sum()) > 0
    assert all(weight.grad is None for weight in network.parameters())
    # A step down the gradient draws a face nearer the real one in the features.
    with torch.no_grad():
        stepped = (drawn - 0.5 * drawn.grad / drawn.grad.abs().max()).clamp(0, 1)
        assert float(face_feature_loss(network, stepped, face)) < float(
            face_feature_loss(network, drawn, face)
        )


def test_the_training_step_adds_the_weighted_distance_and_checkpoints_none_of_the_network(face):
    model = {
        "architecture": "original",
        "input_size": 64,
        "width": 0.1,
        "coverage": 0.625,
        "crop_size": 256,
    }
    settings = {"optimizer": {"average_decay": None}}
    torch.manual_seed(0)
    plain = SwapLightningModule(model=model, loss={"eye_mouth_weight": 1.0}, **settings)
    weighted = SwapLightningModule(
        model=model, loss={"eye_mouth_weight": 1.0, "face_feature_weight": 2.0}, **settings
    )
    weighted.load_state_dict(plain.state_dict())
    for module in (plain, weighted):
        module.log = lambda *_, **__: None
    # Source-sized faces (crop_size px, 0-255) as the batches hold them.
    faces = torch.nn.functional.interpolate(face, size=(256, 256), mode="bilinear") * 255.0
    batch = {"a": faces, "b": faces.flip(-1)}

    with torch.no_grad():
        difference = weighted._shared_step(batch, "val") - plain._shared_step(batch, "val")
        network = face_features()
        expected = 0.0
        for person, faces_of in batch.items():
            target = crop_model_region(faces_of, 64, 0.625) / 255.0
            drawn = plain.model.decoders[person](plain.model.encoder(target))
            expected += 2.0 * float(face_feature_loss(network, drawn, target))

    assert float(difference) == pytest.approx(expected, rel=1e-4)
    assert expected > 0
    # The network is no part of the model: not in its weights, checkpoints or optimizer.
    assert not any("feature" in key for key in weighted.state_dict())
    trained = {id(weight) for weight in weighted.parameters()}
    assert not any(id(weight) in trained for weight in weighted._face_features("cpu").parameters())
