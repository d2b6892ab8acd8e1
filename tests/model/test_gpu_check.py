"""benchmarks/gpu_check.py runs (--smoke, on the CPU) where Kedro, MLflow, PyAV and dlib cannot be
imported, as on the bare GPU machine, on a faces file made from the shared clips' real faces; the
held-out swaps it brings back are judged here, with dlib."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from faceswap_pipeline.evaluation.identity import identity_centre
from faceswap_pipeline.evaluation.validation_swaps import HeldOutFace
from faceswap_pipeline.faces.detection import retinaface_onnx_weights
from faceswap_pipeline.faces.identity import face_descriptor
from faceswap_pipeline.model.face_bank import FaceBankBuild
from faceswap_pipeline.video.decode import iter_frames
from tests.helpers import PROJECT_ROOT
from tests.helpers.faces import face_items

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from gpu_check import (  # noqa: E402
    FORBIDDEN_MODULES,
    MAX_FACES_FILE_MB,
    PARTS,
    judge_swaps,
    load_faces_file,
    pretraining_items,
    write_faces_file,
)
from presets import environment_parameters, preset_training  # noqa: E402


@pytest.mark.parametrize("env", ["base", "gpu", "tiny"])
def test_the_benchmarks_read_each_preset_as_kedro_run_env_does(env, tmp_path):
    from kedro.config import OmegaConfigLoader

    from faceswap_pipeline.settings import CONFIG_LOADER_ARGS

    # The project's environments without a developer's conf/local (an empty run environment).
    conf = tmp_path / "conf"
    conf.mkdir()
    for folder in ("base", env):
        if not (conf / folder).exists():
            (conf / folder).symlink_to(PROJECT_ROOT / "conf" / folder)
    (conf / "empty").mkdir()
    loaded = OmegaConfigLoader(
        conf_source=str(conf),
        **{**CONFIG_LOADER_ARGS, "default_run_env": "empty"},
        env=None if env == "base" else env,
    )["parameters"]
    for name, key in (
        ("parameters_training.yml", "training"),
        ("parameters_pretraining.yml", "pretraining"),
    ):
        assert environment_parameters(env, name)[key] == loaded[key]
    # A benchmark's `--preset conf/ENV/parameters_training.yml` too.
    preset = PROJECT_ROOT / "conf" / env / "parameters_training.yml"
    assert preset_training(preset) == loaded["training"]


# Each forbidden module set to None in sys.modules: importing it raises ImportError, as on the bare
# machine.
_BARE_MACHINE = (
    "import runpy, sys; "
    f"sys.modules.update(dict.fromkeys({list(FORBIDDEN_MODULES)!r})); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.mark.slow
def test_the_gpu_check_smoke_run_needs_only_the_library_layer(clip_faces, shared_videos, tmp_path):
    banks, judged, centres = {}, {}, {}
    for person in ("a", "b"):
        items = face_items(clip_faces, person, count=10)
        faces = FaceBankBuild(tuple(items), "t", 128, 0.625, 256, True, person).build().faces
        banks[person] = (faces, np.arange(len(items)) >= 8)
        judged[person] = [HeldOutFace(item.load(), item.landmarks68) for item in items[8:]]
        centres[person] = identity_centre(
            np.stack([face_descriptor(item.load(), item.landmarks68) for item in items])
        )
    frames = np.stack([f.rgb for f in iter_frames(shared_videos / "single_d18.mp4", end_s=0.1)])
    faces_file, swaps_file = tmp_path / "faces.npz", tmp_path / "swaps.npz"
    # The base model's faces (any real faces will do for the smoke run): stored as JPEG and read
    # back as face items that load the same crops, within JPEG's error.
    pretraining = face_items(clip_faces, "b", count=8)
    written = write_faces_file(
        faces_file,
        banks,
        frames,
        retinaface_onnx_weights(),
        judged=judged,
        centres=centres,
        pretraining={"train": pretraining[:6], "val": pretraining[6:]},
    )
    assert written["megabytes"] < MAX_FACES_FILE_MB and written["a"]["judged"] == 2
    assert written["pretraining"] == {"faces": 6, "held_out": 2}
    train, val = pretraining_items(load_faces_file(faces_file))
    assert [item.face_id for item in train + val] == [item.face_id for item in pretraining]
    for stored, item in zip(train + val, pretraining, strict=True):
        assert np.abs(stored.load().astype(int) - item.load()).mean() < 3
        np.testing.assert_allclose(stored.landmarks68, item.landmarks68)

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _BARE_MACHINE,
            str(PROJECT_ROOT / "benchmarks" / "gpu_check.py"),
            "--smoke",
            "--faces",
            str(faces_file),
            "--swaps-out",
            str(swaps_file),
            "--parts",
            ",".join(PARTS),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["imported_forbidden_modules"] == []
    assert (
        report["retinaface"]["faces_per_frame"][0] == 1 and report["retinaface"]["frames_per_s"] > 0
    )
    speeds = {
        (r["architecture"], r["input_size"]): r["images_per_s"] for r in report["architectures"]
    }
    assert set(speeds) == {("original", 64), ("hires", 128)} and min(speeds.values()) > 0
    assert report["face_adversary"]["face_adversary"] == 0.1
    assert report["face_adversary"]["images_per_s"] > 0
    training = report["training"]
    assert training["steps"] >= 1 and training["faces"]["a"] == {"train": 8, "val": 2}
    assert 0 < training["final_validation"]["val/ssim_a"] < 1
    # The swaps at the end of training, judged here as training's validation swaps are.
    assert training["swap_snapshots"][-1][0] == training["steps"]
    picture = tmp_path / "swaps.png"
    (judged_row,) = judge_swaps(load_faces_file(faces_file), swaps_file, picture)
    assert judged_row["step"] == training["steps"] and 0 < judged_row["ssim_b"] < 1
    for direction in ("a_to_b", "b_to_a"):
        assert 0 < judged_row[f"val_swap/distance_to_target_{direction}"] < 2
        assert 0 <= judged_row[f"val_swap/share_nearer_target_{direction}"] <= 1
    # A few steps of a tiny model swap in no one: the verdict must say so.
    assert judged_row["val_swap/convincing"] == 0 and "not convincing" in judged_row["verdict"]
    assert picture.stat().st_size > 0
    # A base model pretrained on the pretraining faces, the pair fine-tuned from it: its swaps
    # come back beside scratch's, judged the same way.
    pretrained, fine_tune = report["base_model"]["pretraining"], report["base_model"]["fine_tune"]
    assert pretrained["steps"] == 2 and pretrained["faces"] == 6
    assert fine_tune["steps"] >= 1 and fine_tune["faces"]["b"] == {"train": 8, "val": 2}
    # ... with the settings a pair takes from a base model, where scratch takes its own.
    assert fine_tune["from_base_model"] and fine_tune["auto_settings"] == {
        "augmentation.warp": 0.0,
        "loss.code_identity_weight": 0.1,
        "optimizer.clip_grad_norm": 1.0,
    }
    assert report["training"]["auto_settings"]["augmentation.warp"] == 1.0
    (base_row,) = judge_swaps(
        load_faces_file(faces_file), tmp_path / "swaps_base_model.npz", tmp_path / "base.png"
    )
    assert base_row["step"] == fine_tune["steps"]
    assert 0 < base_row["val_swap/distance_to_target_a_to_b"] < 2
