"""benchmarks/gpu_check.py runs (--smoke, on the CPU) where Kedro, MLflow, PyAV and dlib cannot be
imported, as on the bare GPU machine, on a faces file made from the shared clips' real faces."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from faceswap_pipeline.faces.detection import retinaface_onnx_weights
from faceswap_pipeline.model.face_bank import FaceBankBuild
from faceswap_pipeline.video.decode import iter_frames
from tests.helpers import PROJECT_ROOT
from tests.helpers.faces import face_items

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from gpu_check import FORBIDDEN_MODULES, write_faces_file  # noqa: E402

# Each forbidden module set to None in sys.modules: importing it raises ImportError, as on the bare
# machine.
_BARE_MACHINE = (
    "import runpy, sys; "
    f"sys.modules.update(dict.fromkeys({list(FORBIDDEN_MODULES)!r})); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.mark.slow
def test_the_gpu_check_smoke_run_needs_only_the_library_layer(clip_faces, shared_videos, tmp_path):
    banks = {}
    for person in ("a", "b"):
        items = face_items(clip_faces, person, count=10)
        faces = FaceBankBuild(tuple(items), "t", 128, 0.625, 256, True, person).build().faces
        banks[person] = (faces, np.arange(len(items)) >= 8)
    frames = np.stack([f.rgb for f in iter_frames(shared_videos / "single_d18.mp4", end_s=0.1)])
    faces_file = tmp_path / "faces.npz"
    assert write_faces_file(faces_file, banks, frames, retinaface_onnx_weights())["megabytes"] < 30

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _BARE_MACHINE,
            str(PROJECT_ROOT / "benchmarks" / "gpu_check.py"),
            "--smoke",
            "--faces",
            str(faces_file),
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
