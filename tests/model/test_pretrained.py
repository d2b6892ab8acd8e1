"""The face prior's library: base model files, pretraining on real faces, starting a pair from
it."""

from __future__ import annotations

import json

import pytest
import torch

from faceswap_pipeline.model import (
    BaseModel,
    BaseModelMismatchError,
    ModelConfig,
    ModelFileError,
    SwapModel,
    TrainingSettings,
    init_swap_model_from_base,
    load_base_model,
    pretrain_base_model,
    save_base_model,
    save_swap_model,
)
from faceswap_pipeline.model.data import FaceItem
from faceswap_pipeline.model.lightning_module import CheckpointMismatchError, read_checkpoint_info
from faceswap_pipeline.model.networks import MODEL_PARTS
from faceswap_pipeline.model.pretrained import read_base_model_info, start_from_base_model

TINY = ModelConfig(architecture="original", input_size=64, width=0.1)


def _faces(crops: dict) -> list[FaceItem]:
    return [
        FaceItem(face_id=face_id, load=lambda crop=crop: crop)
        for face_id, crop in sorted(crops.items())
    ]


def test_a_base_model_round_trips_and_starts_both_decoders(tmp_path):
    torch.manual_seed(0)
    base = BaseModel(TINY, {"faces": 12, "videos": ["x"], "steps": 3})
    save_base_model(base, tmp_path / "base")
    loaded = load_base_model(tmp_path / "base")
    assert loaded.record == {"faces": 12, "videos": ["x"], "steps": 3}
    assert json.loads((tmp_path / "base" / "config.json").read_text())["kind"] == "base_model"
    for name, tensor in base.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name

    pair = SwapModel(TINY)
    assert init_swap_model_from_base(pair, tmp_path / "base")["steps"] == 3
    for name, tensor in base.encoder.state_dict().items():
        assert torch.equal(pair.encoder.state_dict()[name], tensor), name
    for person in ("a", "b"):
        for name, tensor in base.decoder.state_dict().items():
            assert torch.equal(pair.decoders[person].state_dict()[name], tensor), (person, name)
    faces = torch.rand(2, 3, 64, 64)
    assert torch.allclose(pair.swap(faces, to="b"), loaded.reconstruct(faces))


@pytest.mark.parametrize(
    "fresh", [["bottleneck"], ["decoder_input"], ["decoder_input", "decoder_output"]]
)
def test_parts_left_fresh_keep_the_pairs_own_weights_and_the_rest_comes_from_the_base(
    tmp_path, fresh
):
    torch.manual_seed(0)
    base = BaseModel(TINY)
    save_base_model(base, tmp_path / "base")
    base_state = {f"encoder.{key}": value for key, value in base.encoder.state_dict().items()}
    for person in ("a", "b"):
        base_state.update(
            {f"decoders.{person}.{key}": value for key, value in base.decoder.state_dict().items()}
        )
    torch.manual_seed(1)
    pair = SwapModel(TINY)
    own = {name: tensor.clone() for name, tensor in pair.state_dict().items()}

    init_swap_model_from_base(pair, tmp_path / "base", fresh=fresh)

    assert {pair.part_of(name) for name in own} == set(MODEL_PARTS)
    for name, tensor in pair.state_dict().items():
        if pair.part_of(name) in fresh:
            assert torch.equal(tensor, own[name]), name
            assert not torch.equal(tensor, base_state[name]), name
        else:
            assert torch.equal(tensor, base_state[name]), name
    with pytest.raises(ValueError, match="unknown model parts \\['decoder'\\]"):
        init_swap_model_from_base(pair, tmp_path / "base", fresh=["decoder"])


def test_another_configuration_or_a_swap_model_is_refused(tmp_path):
    save_base_model(BaseModel(TINY), tmp_path / "base")
    wider = SwapModel(ModelConfig(architecture="original", input_size=64, width=0.2))
    with pytest.raises(BaseModelMismatchError, match=r"width 0\.1 \(training says 0\.2\)"):
        init_swap_model_from_base(wider, tmp_path / "base")
    save_swap_model(SwapModel(TINY), tmp_path / "pair")
    with pytest.raises(ModelFileError, match="is not a base model"):
        load_base_model(tmp_path / "pair")
    with pytest.raises(ModelFileError, match="kedro run --pipelines pretraining"):
        load_base_model(tmp_path / "nothing")


def test_a_checkpoint_to_resume_wins_over_the_base_model(tmp_path, caplog):
    save_base_model(BaseModel(TINY), tmp_path / "base")
    pair = SwapModel(TINY)
    before = {name: tensor.clone() for name, tensor in pair.state_dict().items()}
    with caplog.at_level("INFO"):
        assert start_from_base_model(pair, tmp_path / "base", tmp_path / "last.ckpt") is None
    assert all(torch.equal(pair.state_dict()[name], tensor) for name, tensor in before.items())
    assert "its weights win" in caplog.text


def test_pretraining_learns_real_faces_and_resumes(tmp_path, clip_faces):
    # Both people's faces as one crowd: the base model reconstructs them all with one decoder.
    crops = {**clip_faces["a"][0], **clip_faces["b"][0]}
    faces = _faces(crops)
    settings = TrainingSettings(
        batch_size=8,
        max_steps=4,
        val_every_n_steps=2,
        checkpoint_every_n_steps=2,
        preview_every_n_steps=2,
        preview_faces=3,
        log_every_n_steps=1,
        checkpoint_dir=str(tmp_path / "ckpt"),
        optimizer={"lr": 1e-3},
        # Both adversaries asked for: one person's batches have no two people's codes, so the
        # code adversary is dropped; the face adversary trains on the one decoder's faces.
        loss={"face_adversary_weight": 0.1, "code_identity_weight": 0.3},
        trainer={"accelerator": "cpu", "devices": 1},
    )
    result = pretrain_base_model(faces[8:], faces[:8], TINY, settings)
    assert result.base_model.record["steps"] == 4
    assert result.base_model.record["faces"] == len(faces) - 8
    assert (
        result.base_model.record["videos"]
        == sorted(  # the videos it learnt from
            {face.face_id.split("/")[0] for face in faces[8:]}
        )
    )
    assert 0 < result.base_model.record["final_validation"]["val/ssim"] <= 1
    # How it was trained goes with it: base models of one configuration differ by their recipe.
    recipe = result.base_model.record["recipe"]
    assert (recipe["batch_size"], recipe["augmentation"]["warp"]) == (8, 1.0)
    assert recipe["loss"]["face_adversary_weight"] == 0.1 and recipe["optimizer"]["lr"] == 1e-3
    save_base_model(result.base_model, tmp_path / "base")
    assert read_base_model_info(tmp_path / "base")[1]["recipe"] == recipe
    assert result.preview.shape == (2 * 64, 48 + 3 * 64, 3)  # rows: faces, reconstructions
    assert read_checkpoint_info(tmp_path / "ckpt" / "last.ckpt").adversaries == ("face",)

    again = pretrain_base_model(
        faces[8:], faces[:8], TINY, settings.model_copy(update={"max_steps": 6})
    )
    assert (again.summary["resumed_at_step"], again.base_model.record["steps"]) == (4, 6)

    # Its checkpoint holds the face discriminator: resuming without the face adversary is refused,
    # naming the pretraining's own keys (not the pair training's).
    without = settings.loss.model_copy(update={"face_adversary_weight": 0.0})
    with pytest.raises(
        CheckpointMismatchError,
        match=r"pretraining\.training\.loss\.face_adversary_weight is 0 now\. Set"
        r" pretraining\.training\.resume: false",
    ):
        pretrain_base_model(
            faces[8:], faces[:8], TINY, settings.model_copy(update={"loss": without})
        )


def test_pretraining_trains_on_a_given_bank_of_its_faces_and_refuses_another(tmp_path, clip_faces):
    from faceswap_pipeline.model.face_bank import FaceBankBuild

    faces = _faces({**clip_faces["a"][0], **clip_faces["b"][0]})
    train, held_out = faces[8:], faces[:8]
    settings = TrainingSettings(
        batch_size=8,
        max_steps=2,
        val_every_n_steps=2,
        preview_faces=2,
        checkpoint_dir=str(tmp_path / "ckpt"),
        trainer={"accelerator": "cpu", "devices": 1},
    )
    sizes = (TINY.input_size, TINY.coverage, TINY.crop_size, settings.loss.with_landmark_mask, "a")
    bank = FaceBankBuild(tuple(train + held_out), "given", *sizes).build()
    result = pretrain_base_model(train, held_out, TINY, settings, bank=bank)
    assert result.base_model.record["steps"] == 2

    # A bank of the same faces in another order would pair faces with the wrong rows.
    shuffled = FaceBankBuild(tuple(held_out + train), "other", *sizes).build()
    with pytest.raises(ValueError, match="face bank holds .* not the .* in their order"):
        pretrain_base_model(
            train,
            held_out,
            TINY,
            settings.model_copy(update={"checkpoint_dir": str(tmp_path / "other")}),
            bank=shuffled,
        )
