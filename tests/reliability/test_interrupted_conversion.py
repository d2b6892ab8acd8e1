"""Kill a conversion midway (SIGKILL): the partial video lives only under a hidden name beside the
final path, never at it nor in the system's temporary folder; running again removes it and makes the
video whole.
"""

from __future__ import annotations

import re

import av
import pandas as pd
import pytest
import torch

from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.model import ModelConfig, SwapModel, save_swap_model
from faceswap_pipeline.video.decode import iter_frames
from tests.helpers.interrupt import kill_kedro_run_when
from tests.helpers.kedro_project import kedro_run, make_project


@pytest.mark.slow
def test_sigkill_during_conversion_leaves_nothing_at_the_final_path(tmp_path, shared_videos):
    project = make_project(tmp_path / "project")
    video = shared_videos / "single_d18.mp4"
    torch.manual_seed(0)
    save_swap_model(
        SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1)).eval(),
        project / "data/06_models/swap_model",
    )
    frame = next(iter_frames(video))
    box = RetinaFaceDetector(det_size=320).detect([frame.rgb])[0].boxes[0]
    identity = pd.DataFrame(
        {
            "video": [video.name],
            "track": [0],
            "frame_index": [0],
            "descriptor": [face_descriptor(frame.rgb, landmarks68(frame.rgb, box)).tolist()],
        }
    )
    for person in ("person_a", "person_b"):
        (project / "data/03_primary").mkdir(parents=True, exist_ok=True)
        identity.to_parquet(project / f"data/03_primary/identity_{person}.parquet")
    final = project / "data/07_model_output/swapped.mp4"
    staging = project / "data/07_model_output/.partial-conversion"  # the conversion's work folder
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    params = [
        "--pipelines",
        "conversion",
        "--params",
        f"conversion.video={video},conversion.duration_s=5",
    ]

    def output_being_written() -> bool:
        # Midway: the progress lines are past 40 % and the encoder's hidden partial file exists
        # (the muxer may still hold the packets in its interleaving queue, so its size says little).
        logs = list(project.glob("killed-run-*.log"))
        progress = logs[0].read_text(errors="replace") if logs else ""
        midway = re.search(r"converting single_d18\.mp4: \d+ frames of \d+ \([4-9]\d %\)", progress)
        midway = midway is not None
        return midway and any(staging.glob("*.partial.mp4"))

    kill_kedro_run_when(project, params, output_being_written, env={"TMPDIR": str(system_temp)})
    assert not final.exists() and not final.with_suffix(".gif").exists()
    left = [path.relative_to(final.parent) for path in final.parent.rglob("*") if path.is_file()]
    assert left and all(path.parts[0] == ".partial-conversion" for path in left), (
        left
    )  # hidden, beside
    assert [
        path for path in system_temp.rglob("*") if path.suffix in (".mp4", ".gif")
    ] == []  # not there

    kedro_run(project, "conversion", [f"conversion.video={video}", "conversion.duration_s=5"])
    with av.open(str(final)) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
    assert frames == 150  # 5 s at 30 frames/s, whole
    assert [
        path for path in staging.rglob("*") if path.is_file()
    ] == []  # the killed run's leftover is gone
