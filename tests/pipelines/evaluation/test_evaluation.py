"""`kedro run --pipelines evaluation` in a throw-away project after a real conversion of a short
clip.

Upstream results are made for real but small: ingestion of two shared clips, identity descriptors
and a few aligned faces made with the project's face library, a tiny untrained swap model, then the
conversion of 1.2 s of single_d18. The evaluation must then write its report holding every figure,
and log them to MLflow linked to the conversion's run.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from faceswap_pipeline.faces.alignment import alignment_matrix, warp_face
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.model import ModelConfig, SwapModel, save_swap_model
from faceswap_pipeline.pipelines.evaluation.params import parse_params
from faceswap_pipeline.video.decode import iter_frames
from tests.helpers.faces import largest_face_descriptors
from tests.helpers.kedro_project import kedro_run, local_sources, make_project
from tests.helpers.media_server import MediaServer

SOURCE_CLIP, TARGET_CLIP = "single_d18.mp4", "person_b_d9.mp4"


def _write_identity(project: Path, person: str, video: Path) -> None:
    _, descriptors = largest_face_descriptors(video, start_s=0.5, count=2)
    pd.DataFrame(
        {
            "video": video.name,
            "track": 0,
            "frame_index": [0, 1],
            "descriptor": [d.tolist() for d in descriptors],
        }
    ).to_parquet(project / f"data/03_primary/identity_{person}.parquet")


def _write_faces(project: Path, person: str, video: Path) -> list[dict]:
    """Four aligned crops per person, as face extraction writes them; the last two held out."""
    detector = RetinaFaceDetector(det_size=320)
    rows = []
    for frame in iter_frames(video, end_s=4.0, sample_fps=1.0):
        landmarks5 = detector.detect([frame.rgb])[0].landmarks5[0]
        face_id = f"{video.stem}/{frame.index:06d}_t000"
        path = project / "data/03_primary/faces" / person / f"{face_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(warp_face(frame.rgb, alignment_matrix(landmarks5, 256, 0.2), 256)).save(
            path
        )
        rows.append(
            {
                "person": person[-1],
                "face_id": face_id,
                "video": video.stem,
                "frame_index": frame.index,
                "time_s": frame.time_s,
                "split": "val" if len(rows) >= 2 else "train",
                "landmarks68_crop": None,
            }
        )
    return rows


def _ready_to_convert(tmp_path: Path, shared_videos: Path) -> Path:
    """A throw-away project with what the conversion and the evaluation read: both people's
    videos, identities and a few faces, and a tiny untrained swap model."""
    project = make_project(tmp_path / "project")
    kedro_run(project, "ingestion", local_sources(shared_videos, a=SOURCE_CLIP, b=TARGET_CLIP))
    (project / "data/03_primary").mkdir(parents=True, exist_ok=True)
    _write_identity(project, "person_a", shared_videos / SOURCE_CLIP)
    _write_identity(project, "person_b", shared_videos / TARGET_CLIP)
    rows = _write_faces(project, "person_a", shared_videos / SOURCE_CLIP)
    rows += _write_faces(project, "person_b", shared_videos / TARGET_CLIP)
    (project / "data/05_model_input").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(project / "data/05_model_input/training_faces.parquet")
    torch.manual_seed(0)
    save_swap_model(
        SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1)),
        project / "data/06_models/swap_model",
    )
    return project


@pytest.mark.slow
def test_evaluation_after_a_conversion_writes_the_report_and_the_mlflow_figures(
    tmp_path, shared_videos
):
    project = _ready_to_convert(tmp_path, shared_videos)
    kedro_run(project, "conversion", ["conversion.duration_s=1.2"])
    evaluation = kedro_run(
        project, "evaluation", ["evaluation.max_described_faces=3", "evaluation.report.frames=2"]
    )

    reporting = project / "data/08_reporting"
    summary = json.loads((reporting / "evaluation_summary.json").read_text())
    metrics = summary["metrics"]
    table = pd.read_csv(reporting / "evaluation_metrics.csv")
    assert set(table["metric"]) == set(metrics)
    frames = pd.read_parquet(reporting / "evaluation_frames.parquet")
    report = pd.read_parquet(reporting / "conversion_report.parquet")
    assert len(frames) == len(report) == 36
    assert metrics["coverage/frames"] == 36
    assert metrics["coverage/swapped_share"] == pytest.approx((report["faces_swapped"] > 0).mean())
    assert metrics["coverage/swapped_share"] > 0.9 and metrics["coverage/face_share"] == 1.0
    assert metrics["identity/described_faces"] <= 3
    assert metrics["reconstruction/faces_a"] == metrics["reconstruction/faces_b"] == 2
    assert 0 < metrics["reconstruction/l1_a"] < 1 and -1 < metrics["reconstruction/ssim_b"] < 1
    # An untrained model's swap is a blur: the flicker and landmark figures are measured, not
    # perfect.
    assert metrics["temporal/flicker_ratio"] > 0
    # ... and the verdict says so: at the top of the JSON, the report and the console. (An untrained
    # model draws noise, which has as much "detail" as a face: identity is what it fails.)
    verdict = summary["verdict"]
    assert verdict["convincing"] is False
    assert "identity/mean_distance_to_target" in {failed["metric"] for failed in verdict["failed"]}
    assert metrics["detail/sharpness_ratio"] > 0
    assert metrics["identity/target_spread"] > 0
    assert list(summary)[0] == "verdict"
    console = evaluation.stdout + evaluation.stderr
    assert "verdict: not convincing yet: " in " ".join(console.split())

    html = (reporting / "evaluation_report.html").read_text()
    assert html.index("Verdict: not convincing yet.") < html.index("<h2>Figures</h2>")
    for name in metrics:
        assert name in html
    images = re.findall(r'src="data:image/png;base64,', html)
    assert len(images) == 2 + 2  # two original | swapped frames, two plots
    assert len(list((reporting / "evaluation_frames").glob("*.png"))) == 2
    for plot in ("evaluation_identity.png", "evaluation_flicker.png"):
        assert Image.open(reporting / plot).size[0] > 400

    with sqlite3.connect(project / "mlflow.db") as db:
        runs = dict(
            db.execute(
                "SELECT r.run_uuid, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "WHERE t.key = 'evaluation.conversion_run_id'"
            ).fetchall()
        )
        assert len(runs) == 1
        ((evaluation_run, conversion_run),) = runs.items()
        assert conversion_run != evaluation_run
        assert (
            db.execute(
                "SELECT COUNT(*) FROM metrics WHERE run_uuid = ? AND key = 'conversion/frames'",
                (conversion_run,),
            ).fetchone()[0]
            == 1
        )
        logged = {
            key: value
            for key, value in db.execute(
                "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (evaluation_run,)
            )
        }
        artifacts = db.execute(
            "SELECT artifact_uri FROM runs WHERE run_uuid = ?", (evaluation_run,)
        ).fetchone()[0]
    assert {f"evaluation/{name}" for name in metrics} <= set(logged)
    assert logged["evaluation/coverage/frames"] == 36
    assert logged["evaluation/convincing"] == 0.0
    with sqlite3.connect(project / "mlflow.db") as db:
        (tag,) = db.execute(
            "SELECT value FROM tags WHERE run_uuid = ? AND key = 'evaluation.verdict'",
            (evaluation_run,),
        ).fetchone()
    assert tag == verdict["text"]
    assert summary["facts"]["evaluation MLflow run"] == evaluation_run
    assert summary["facts"]["conversion MLflow run"] == conversion_run
    artifact_folder = Path(artifacts.removeprefix("file://")) / "evaluation"
    assert {p.name for p in artifact_folder.iterdir()} >= {
        "evaluation_report.html",
        "evaluation_identity.png",
        "evaluation_flicker.png",
    }


@pytest.mark.slow
def test_a_url_s_seconds_are_evaluated_against_the_download_the_conversion_read(
    tmp_path, shared_videos
):
    """The conversion of 1.2 s of a URL's video from its 2nd second reads a download of those
    seconds; the evaluation, run alone without the conversion's parameters and with the site
    gone, reads the same file (the video's tags name it) and measures the same 36 frames."""
    project = _ready_to_convert(tmp_path, shared_videos)
    with MediaServer(shared_videos) as server:
        url = f"{server.url}/{SOURCE_CLIP}"
        seconds = ["conversion.start_s=2", "conversion.duration_s=1.2"]
        kedro_run(project, "conversion", [f"conversion.video={url}", *seconds])
    (download,) = (project / "data/01_raw/videos/conversion").iterdir()
    assert download.name.endswith("-2s-3.2s.mp4")
    evaluation = kedro_run(
        project, "evaluation", ["evaluation.max_described_faces=3", "evaluation.report.frames=2"]
    )
    reporting = project / "data/08_reporting"
    frames = pd.read_parquet(reporting / "evaluation_frames.parquet")
    report = pd.read_parquet(reporting / "conversion_report.parquet")
    assert len(frames) == len(report) == 36
    assert np.array_equal(frames["frame_index"], report["frame_index"])
    console = evaluation.stdout + evaluation.stderr
    assert f"against its source {url}" in " ".join(console.split())
    assert "WARNING" not in console, console[-3000:]


def test_bad_evaluation_parameters_are_named():
    with pytest.raises(ValueError, match=r"evaluation\.report\.frames"):
        parse_params({"report": {"frames": -1}})
    with pytest.raises(ValueError, match=r"evaluation\.max_described_face"):
        parse_params({"max_described_face": 3})
    assert np.isclose(parse_params(None).detection.match_iou, 0.3)


def test_the_default_run_evaluates_last_with_its_inputs_made_upstream():
    """`kedro run` sums the stages; Kedro orders nodes by data, so the evaluation must consume their
    outputs."""
    from kedro.framework.project import configure_project

    from faceswap_pipeline.pipeline_registry import DEFAULT_STAGES, register_pipelines

    configure_project("faceswap_pipeline")
    pipelines = register_pipelines()
    assert DEFAULT_STAGES[-1] == "evaluation"
    default = pipelines["__default__"]
    order = [node.name for node in default.nodes]  # topologically sorted
    evaluation = {node.name for node in pipelines["evaluation"].nodes}
    assert evaluation <= set(order)
    first_evaluation = min(order.index(name) for name in evaluation)
    assert order.index("convert_video") < first_evaluation
    training = [node.name for node in pipelines["training"].nodes]
    assert max(order.index(name) for name in training) < order.index("evaluate_reconstruction")
    # Nothing the evaluation reads is left for the user to provide, except parameters.
    # (Work folders, `*_staging`, are made by their dataset when loaded; `*_mlflow_run_id` is the
    # active MLflow run's.)
    free_inputs = {
        name
        for name in default.inputs()
        if not name.startswith("param") and not name.endswith(("_staging", "_mlflow_run_id"))
    }
    assert not free_inputs & pipelines["evaluation"].inputs()
