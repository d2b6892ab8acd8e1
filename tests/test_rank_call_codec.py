"""The call DDP rank processes receive: everything the training node takes comes back equal; nothing
unmarked can be named."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from faceswap_pipeline.datasets import ImageFolderDataset
from faceswap_pipeline.pipelines.training.nodes import train_swap_model
from faceswap_pipeline.rank_call_codec import CallCodecError, decode_call, encode_call


def test_the_training_nodes_inputs_come_back_equal(tmp_path):
    # The aligned faces' loaders as the catalog's image folder gives them to the training node.
    crop = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    ImageFolderDataset(str(tmp_path / "faces")).save({"d6/000001_t000": crop})
    faces = ImageFolderDataset(str(tmp_path / "faces")).load()
    table = pd.DataFrame(
        {
            "face_id": ["d6/000001_t000", "d6/000002_t000"],
            "time_s": [0.04, np.nan],
            "landmarks68_crop": [[float(v) for v in range(136)], None],
        }
    )
    params = {"batch_size": 8, "betas": [0.5, 0.999], "name": "adam", "resume": True, "lr": 1e-3}
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    call = decode_call(encode_call(train_swap_model, (faces, table, params), {"extra": array}))
    assert call.func is train_swap_model
    loaded_faces, loaded_table, loaded_params = call.args
    assert loaded_faces.keys() == faces.keys()
    loader, original = loaded_faces["d6/000001_t000"], faces["d6/000001_t000"]
    assert isinstance(loader, functools.partial)
    assert (loader.func, loader.args) == (original.func, original.args)
    np.testing.assert_array_equal(loader(), crop)
    assert loaded_params == params
    np.testing.assert_array_equal(call.keywords["extra"], array)
    assert list(loaded_table["face_id"]) == list(table["face_id"])
    assert loaded_table["time_s"].iloc[0] == 0.04 and np.isnan(loaded_table["time_s"].iloc[1])
    assert list(loaded_table["landmarks68_crop"].iloc[0]) == table["landmarks68_crop"].iloc[0]
    assert loaded_table["landmarks68_crop"].iloc[1] is None


def test_unmarked_functions_and_unknown_types_are_refused():
    with pytest.raises(CallCodecError, match="not marked transferable"):
        encode_call(print, (), {})
    with pytest.raises(CallCodecError, match="posixpath:join is not marked transferable"):
        encode_call(train_swap_model, (functools.partial(__import__("os").path.join, "a"),), {})
    with pytest.raises(CallCodecError, match="a set cannot be sent"):
        encode_call(train_swap_model, ({1, 2},), {})
    with pytest.raises(CallCodecError, match="'builtins:eval' is not a function of this project"):
        decode_call(
            b'{"function": "builtins:eval", "args": {"tuple": ["1"]}, "kwargs": {"dict": []}}'
        )
    with pytest.raises(CallCodecError, match="not marked transferable"):
        decode_call(
            b'{"function": "faceswap_pipeline.atomic_files:atomic_output", "args": '
            b'{"tuple": []}, "kwargs": {"dict": []}}'
        )
    with pytest.raises(CallCodecError, match="not an encoded call"):
        decode_call(b"\x80\x04not json")


def test_a_face_bank_on_disk_is_sent_by_its_file_and_mapped_again(tmp_path):
    from faceswap_pipeline.model.face_bank import FaceBank

    faces = np.arange(2 * 4 * 8 * 8, dtype=np.uint8).reshape(2, 4, 8, 8)
    np.save(tmp_path / "person_a.npy", faces)
    bank = FaceBank(np.load(tmp_path / "person_a.npy", mmap_mode="r"), ("v/1_t0", "v/2_t0"), "k")
    data = encode_call(train_swap_model, (), {"training_face_banks": {"a": bank}})
    assert len(data) < 1000  # the path, not the 512 bytes of faces (base64 would be ~700)
    received = decode_call(data).keywords["training_face_banks"]["a"]
    assert isinstance(received, FaceBank)
    assert (received.face_ids, received.key) == (bank.face_ids, "k")
    assert isinstance(received.faces, np.memmap)
    assert str(received.faces.filename) == str(bank.faces.filename)
    np.testing.assert_array_equal(received.faces, faces)


def test_a_face_bank_in_memory_or_a_part_of_a_mapped_file_is_refused(tmp_path):
    from faceswap_pipeline.model.face_bank import FaceBank

    faces = np.zeros((3, 3, 8, 8), dtype=np.uint8)
    with pytest.raises(CallCodecError, match=r"FaceBank\.faces is held in memory, not mem"):
        encode_call(train_swap_model, (FaceBank(faces, ("x", "y", "z"), "k"),), {})
    np.save(tmp_path / "bank.npy", faces)
    part = np.load(tmp_path / "bank.npy", mmap_mode="r")[1:]
    with pytest.raises(CallCodecError, match="must be the whole array of a C-ordered .npy file"):
        encode_call(train_swap_model, (FaceBank(part, ("y", "z"), "k"),), {})
