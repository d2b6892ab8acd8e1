"""The swap networks, the loss, and model files: shapes, sizes, a safe round trip, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from faceswap_pipeline.model import (
    ModelConfig,
    ModelFileError,
    SwapModel,
    crop_model_region,
    load_swap_model,
    read_model_config,
    save_swap_model,
)
from faceswap_pipeline.model.losses import (
    gradient_loss,
    landmark_region_mask,
    reconstruction_loss,
    ssim,
)


def _parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("architecture", "size"), [("original", 64), ("hires", 128), ("hires", 256)]
)
def test_architectures_reconstruct_at_their_input_size(architecture, size):
    model = SwapModel(ModelConfig(architecture=architecture, input_size=size, width=0.1))
    faces = torch.rand(2, 3, size, size)
    for person in ("a", "b"):
        with torch.no_grad():
            output = model(faces, person)
        assert output.shape == (2, 3, size, size)
        assert float(output.min()) >= 0.0 and float(output.max()) <= 1.0


def test_original_at_full_width_is_faceits_model():
    model = SwapModel(ModelConfig(architecture="original", width=1.0))
    encoder = model.encoder
    # faceit: conv 128, 256, 512, 1024 → Dense(1024) → Dense(4·4·1024) → upscale(512).
    assert [block[0].out_channels for block in encoder.convs] == [128, 256, 512, 1024]
    assert (
        encoder.to_bottleneck.in_features == 4 * 4 * 1024
        and encoder.to_bottleneck.out_features == 1024
    )
    assert encoder.from_bottleneck.out_features == 4 * 4 * 1024
    assert 80e6 < _parameters(model) < 85e6
    small = SwapModel(ModelConfig(architecture="original", width=0.25))
    assert _parameters(small) < _parameters(model) / 10


def test_decoders_are_separate_and_the_encoder_shared():
    model = SwapModel(ModelConfig(width=0.1))
    names = [name for name, _ in model.named_parameters()]
    assert any(name.startswith("decoders.a.") for name in names)
    assert any(name.startswith("decoders.b.") for name in names)
    assert model.decoders["a"].to_rgb.weight is not model.decoders["b"].to_rgb.weight


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="unknown architecture 'dfl'"):
        ModelConfig(architecture="dfl")
    with pytest.raises(ValueError, match="'original' takes input_size 64, got 128"):
        ModelConfig(architecture="original", input_size=128)
    with pytest.raises(ValueError, match="width must be between"):
        ModelConfig(width=0)


def test_saved_model_loads_without_pickle_and_swaps_a_real_face(tmp_path, clip_faces):
    torch.manual_seed(0)
    model = SwapModel(ModelConfig(width=0.1)).eval()
    folder = save_swap_model(model, tmp_path / "swap_model")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((folder / "config.json").read_text())["architecture"] == "original"

    loaded, config = load_swap_model(folder)
    assert config == model.config == read_model_config(folder)
    crops, _ = clip_faces["a"]
    crop = next(iter(crops.values()))
    face = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0
    region = crop_model_region(face, config.input_size, config.coverage)
    swapped = loaded.swap(region, to="b")
    assert swapped.shape == (1, 3, 64, 64) and swapped.dtype == torch.float32
    assert torch.equal(swapped, model.swap(region, to="b"))
    # Any input size is resized to the model's: the full 256 px crop works too.
    assert loaded.swap(face, to="a").shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="swap target must be 'a' or 'b'"):
        loaded.swap(region, to="c")
    with pytest.raises(ValueError, match=r"float tensor \(N, 3, H, W\)"):
        loaded.swap(torch.zeros(1, 64, 64), to="a")


def test_weights_of_another_architecture_are_a_clear_error(tmp_path):
    folder = save_swap_model(SwapModel(ModelConfig(width=0.1)), tmp_path / "swap_model")
    # Weights of a width-0.1 model under a configuration that says width 0.2.
    weights = SwapModel(ModelConfig(width=0.1)).state_dict()
    other = json.dumps(ModelConfig(width=0.2).to_dict())
    save_file(
        {k: v.contiguous() for k, v in weights.items()},
        folder / "model.safetensors",
        metadata={"config": other},
    )
    with pytest.raises(
        ModelFileError, match=r"do not fit architecture 'original' \(input 64 px, width 0.2\)"
    ):
        load_swap_model(folder)


def test_missing_or_foreign_model_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="run `kedro run --pipelines training`"):
        load_swap_model(tmp_path / "nothing_here")
    folder = tmp_path / "pickled"
    folder.mkdir()
    torch.save(SwapModel(ModelConfig(width=0.1)).state_dict(), folder / "model.safetensors")
    with pytest.raises(ModelFileError, match="not a swap model file"):
        load_swap_model(folder)


def test_ssim_and_the_loss_measure_what_they_should():
    faces = torch.rand(4, 3, 64, 64)
    assert torch.allclose(ssim(faces, faces), torch.ones(4), atol=1e-4)
    assert float(ssim(faces, torch.rand(4, 3, 64, 64)).mean()) < 0.1
    assert float(reconstruction_loss(faces, faces)) < 1e-4
    # Weighting: the same error counts more inside the weighted region than outside it.
    weights = torch.ones(1, 1, 64, 64)
    weights[..., 20:40, 20:40] = 5.0
    target = torch.full((1, 3, 64, 64), 0.5)
    error_inside, error_outside = target.clone(), target.clone()
    error_inside[..., 25:35, 25:35] += 0.3
    error_outside[..., 0:10, 0:10] += 0.3
    assert reconstruction_loss(error_inside, target, weights) > 2 * reconstruction_loss(
        error_outside, target, weights
    )


def test_the_gradient_term_charges_a_blur_and_not_a_uniform_shift():
    torch.manual_seed(0)
    target = torch.nn.functional.interpolate(
        torch.rand(2, 3, 16, 16), size=(64, 64), mode="bicubic"
    ).clamp(0, 0.9)
    blurred = torch.nn.functional.avg_pool2d(target, 5, stride=1, padding=2)
    ones = torch.ones(2, 1, 64, 64)
    assert float(gradient_loss(blurred, target, ones)) > 0.01
    assert float(gradient_loss(target + 0.05, target, ones)) < 1e-6
    # The term is added on top of L1 and SSIM, weighted, and 0 leaves the loss as it was.
    plain = reconstruction_loss(blurred, target)
    with_edges = reconstruction_loss(blurred, target, gradient_weight=2.0)
    assert torch.allclose(with_edges - plain, 2 * gradient_loss(blurred, target, ones))
    with pytest.raises(ValueError, match="gradient_weight"):
        reconstruction_loss(blurred, target, gradient_weight=-1.0)


def test_ssim_keeps_float32_statistics_under_bf16_autocast():
    # A nearly flat prediction (an untrained model's) against smooth faces: bf16 blurs made the
    # variances negative and the loss infinite.
    target = torch.nn.functional.interpolate(
        torch.rand(2, 3, 8, 8), size=(128, 128), mode="bicubic"
    )
    prediction = 0.5 + 0.01 * torch.rand(2, 3, 128, 128)
    expected = ssim(prediction, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(
            ssim(prediction.bfloat16(), target), ssim(prediction.bfloat16().float(), target)
        )
        assert torch.allclose(ssim(prediction, target), expected)
        assert torch.isfinite(reconstruction_loss(prediction.bfloat16(), target))


def test_landmark_mask_covers_eyes_and_mouth_of_a_real_face(clip_faces):
    _, alignments = clip_faces["a"]
    points = np.asarray(alignments.iloc[0]["landmarks68_crop"], dtype=np.float32).reshape(68, 2)
    mask = landmark_region_mask(points, 256)
    for index in (37, 44, 51, 57):  # eye lids, lips
        x, y = points[index].round().astype(int)
        assert mask[y, x] == 1.0
    nose_x, nose_y = points[30].round().astype(int)
    chin_x, chin_y = points[8].round().astype(int)
    assert mask[nose_y, nose_x] == 0.0 and mask[chin_y, chin_x] == 0.0
    assert 0.02 < mask.mean() < 0.2
    small = landmark_region_mask(points, 102, 102 / 256)
    assert abs(small.mean() - mask.mean()) < 0.02
