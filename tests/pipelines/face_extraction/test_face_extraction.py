"""The face-extraction pipeline through a SequentialRunner, on the project's own catalog entries
pointed at a temporary folder, with real clips."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from faceswap_pipeline.pipelines.face_extraction import nodes
from tests.helpers.audio_tracks import write_broadcast_recording
from tests.helpers.face_extraction import (
    FACE_EXTRACTION_PARAMS,
    face_extraction_catalog,
    run_face_extraction,
    video_metadata,
)
from tests.helpers.phone_media import write_phone_clip


def test_hamilton_with_his_photo_keeps_only_lin_manuel_and_a_rerun_reuses_the_video(
    tmp_path, shared_videos, shared_photos
):
    import cv2

    video = shared_videos / "multi_hamilton.mp4"
    metadata = video_metadata("person_a", video, sample_fps=15)
    catalog = face_extraction_catalog(tmp_path, "person_a", video, metadata)
    photo = cv2.imread(str(shared_photos / "lin-manuel-miranda.png"))[:, :, ::-1].copy()
    catalog["person_a.reference_photos"].save({"lin-manuel-miranda": photo})
    run_face_extraction(catalog, "person_a")

    alignments = catalog.load("person_a_face_alignments")
    assert list(alignments.columns) == nodes.ALIGNMENT_COLUMNS
    kept = alignments[alignments["kept"]]
    # His solo shots are frames ~82-210; the audience after the cut at 211 is never kept.
    assert len(kept) >= 40
    assert kept["frame_index"].min() >= 75 and kept["frame_index"].max() <= 215
    assert (kept["identity_distance"] <= FACE_EXTRACTION_PARAMS["identity"]["threshold"]).all()
    audience = alignments[alignments["frame_index"] > 215]
    assert len(audience) >= 20 and not audience["kept"].any()
    assert set(alignments["reject_reason"].dropna()) <= {
        "too_small",
        "low_score",
        "blurred",
        "other_identity",
    }
    assert (alignments["reject_reason"] == "other_identity").any()
    assert kept["landmarks68"].map(len).eq(136).all() and kept["transform"].map(len).eq(6).all()
    assert kept["landmarks68_crop"].map(len).eq(136).all()
    too_small = alignments[alignments["reject_reason"] == "too_small"]
    assert too_small["landmarks68"].isna().all() and too_small["box"].map(len).eq(4).all()

    crops = catalog.load("person_a_aligned_faces")
    assert sorted(crops) == sorted(kept["face_id"])
    assert all(face_id.startswith("multi_hamilton/") for face_id in crops)
    first = next(iter(crops.values()))()
    assert first.shape == (256, 256, 3) and first.dtype == np.uint8

    identity = catalog.load("person_a_identity")
    assert len(identity) >= 1 and identity["descriptor"].map(len).eq(128).all()
    assert set(zip(identity["video"], identity["track"], strict=True)) <= set(
        zip(kept["video"], kept["track"], strict=True)
    )
    assert (tmp_path / "data/08_reporting/face_contact_sheet_person_a.png").stat().st_size > 10_000
    metrics = catalog.load("person_a.face_extraction_metrics")
    assert metrics["face_extraction.person_a.faces_kept"] == {"value": len(kept), "step": 0}
    assert metrics["face_extraction.person_a.faces_found"]["value"] == len(alignments)
    assert (
        metrics["face_extraction.person_a.rejected_other_identity"]["value"]
        == (alignments["reject_reason"] == "other_identity").sum()
    )

    # Same checksum, same parameters: the per-video table is reused, not extracted again.
    tables = sorted((tmp_path / "data/02_intermediate/face_extraction/person_a").glob("*.parquet"))
    assert len(tables) == 1
    written = tables[0].stat().st_mtime_ns
    run_face_extraction(catalog, "person_a")
    assert tables[0].stat().st_mtime_ns == written
    pd.testing.assert_frame_equal(catalog.load("person_a_face_alignments"), alignments)
    # A parameter that changes the result makes a new key: the video is extracted again.
    catalog["params:face_extraction"] = {**FACE_EXTRACTION_PARAMS, "min_face_size": 80}
    jobs, plan = nodes.extract_video_faces(
        {video.name: video},
        metadata,
        catalog.load("person_a.extracted_faces_before"),
        catalog.load("params:face_extraction"),
    )
    assert list(jobs) == list(plan["key"]) and not plan["reused"].any()


def test_a_phone_clip_stored_sideways_gives_the_faces_of_the_clip_stored_upright(
    tmp_path, shared_videos
):
    source = shared_videos / "person_b_d9.mp4"
    alignments = {}
    for rotation in (0, 270):
        clip = write_phone_clip(source, tmp_path / f"phone_{rotation}.mp4", rotation, 0.4)
        # Metadata as an ingestion before `rotation_deg` wrote it: extraction reads the file.
        catalog = face_extraction_catalog(
            tmp_path / str(rotation), "person_b", clip, video_metadata("person_b", clip)
        )
        run_face_extraction(catalog, "person_b")
        alignments[rotation] = catalog.load("person_b_face_alignments")
    upright, turned = alignments[0], alignments[270]
    assert upright["kept"].tolist() == turned["kept"].tolist() == [True] * 12
    # The same landmarks, in the upright picture's pixels (the face is ~200 px high).
    offsets = np.stack(turned["landmarks68"]) - np.stack(upright["landmarks68"])
    assert np.abs(offsets).mean() < 1.5, np.abs(offsets).mean()


def test_a_recording_an_hour_into_its_clock_gives_the_faces_of_its_window(
    tmp_path, shared_videos, staging
):
    # A broadcast recording's MPEG-TS starts anywhere on its clock (here an hour in): its window
    # "from 1 s to 3 s" read no frames, and its file was not listed in the raw video folder.
    from faceswap_pipeline.datasets import VideoFolderDataset
    from faceswap_pipeline.pipelines.ingestion.nodes import fetch_videos

    recording = write_broadcast_recording(
        shared_videos / "single_d12.mp4", tmp_path / "recording.ts"
    )
    person = {"name": "person_b", "sources": [{"path": str(recording), "start": 1, "end": 3}]}
    download = {"max_height": 720, "retries": 0, "socket_timeout_s": 5}
    videos, metadata = fetch_videos({}, person, download, staging)
    ((name, fetched),) = videos.items()
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / name).hardlink_to(fetched)
    assert list(VideoFolderDataset(path=str(folder)).load()) == [name]

    catalog = face_extraction_catalog(tmp_path / "project", "person_b", folder / name, metadata)
    run_face_extraction(catalog, "person_b")
    alignments = catalog.load("person_b_face_alignments")
    # 25 fps from 1 s to 3 s: frames 25 to 74, d12's face in every one.
    assert alignments["frame_index"].tolist() == list(range(25, 75))
    assert alignments["time_s"].between(1.0, 3.0).all() and alignments["kept"].all()


def _faceless_video(path: Path, frames: int = 12) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(frames):
            image = np.full((96, 128, 3), 40 + 10 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_video_without_faces_warns_and_gives_empty_outputs(tmp_path, caplog, capfd):
    video = _faceless_video(tmp_path / "empty_wall.mp4")
    metadata = video_metadata("person_b", video)
    catalog = face_extraction_catalog(tmp_path, "person_b", video, metadata)
    with caplog.at_level(logging.INFO):
        run_face_extraction(catalog, "person_b")
    # Not a terminal (a log file): progress goes to log lines, no bar's redraws.
    assert "frame/s" not in capfd.readouterr().err
    assert "empty_wall: extracting faces (12 frames)" in caplog.text
    assert "empty_wall: no face found in 12 frames" in caplog.text
    assert "person_b: no face kept" in caplog.text
    assert catalog.load("person_b_face_alignments").empty
    assert catalog.load("person_b_aligned_faces") == {}
    assert catalog.load("person_b_identity").empty


def test_a_reference_photo_without_a_face_is_an_error_naming_it():
    plan = pd.DataFrame(columns=nodes.PLAN_COLUMNS)
    blank = np.full((240, 320, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="reference photo holiday-snow has no face"):
        nodes.select_person_faces(plan, {}, {"holiday-snow": lambda: blank}, FACE_EXTRACTION_PARAMS)


def test_bad_parameters_are_refused_before_any_work_naming_them():
    negative_crop = {**FACE_EXTRACTION_PARAMS, "crop_size": -4}
    with pytest.raises(ValueError, match=r"face_extraction\.crop_size"):
        nodes.extract_video_faces({}, pd.DataFrame(), {}, negative_crop)
    misspelt = {**FACE_EXTRACTION_PARAMS, "detector": {"det_sise": 320}}
    with pytest.raises(ValueError, match=r"face_extraction\.detector\.det_sise"):
        nodes.extract_video_faces({}, pd.DataFrame(), {}, misspelt)
