"""The ingestion nodes as pure functions, and the pipeline through a SequentialRunner on a
catalog."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from faceswap_pipeline.datasets import ImageFolderDataset, StagingFolderDataset, VideoFolderDataset
from faceswap_pipeline.pipelines.ingestion import create_pipeline
from faceswap_pipeline.pipelines.ingestion.nodes import collect_reference_photos, fetch_videos
from faceswap_pipeline.sources import SourceError
from faceswap_pipeline.video.decode import iter_frames
from tests.helpers.media_server import MediaServer
from tests.helpers.phone_media import (
    write_hdr_clip,
    write_interlaced_clip,
    write_phone_clip,
    write_phone_photos,
)

DOWNLOAD = {"max_height": 720, "retries": 0, "socket_timeout_s": 5}


def _person(*sources, photos=()):
    return {"name": "person_a", "sources": list(sources), "reference_photos": list(photos)}


def test_metadata_matches_the_facts_of_the_clips(shared_videos, staging):
    names = ["person_a_d6.mp4", "person_b_d9.mp4", "no_audio_d0.mp4", "multi_hamilton.mp4"]
    sources = [{"path": str(shared_videos / name)} for name in names]
    sources[0].update(start=2.0, end=12.5, fps=10)
    videos, metadata = fetch_videos({}, _person(*sources), DOWNLOAD, staging)
    try:
        rows = {Path(row.source).name: row for row in metadata.itertuples()}
        assert set(videos) == set(metadata["file"])
        d6, d9, d0, ham = (rows[name] for name in names)
        assert (d6.width, d6.height, d6.frame_count, d6.nominal_fps, d6.audio_codec) == (
            480,
            480,
            1008,
            30.0,
            "aac",
        )
        assert (d6.start_s, d6.end_s, d6.sample_fps) == (2.0, 12.5, 10.0)
        assert math.isclose(d6.duration_s, 33.6, abs_tol=0.05)
        # Stored 512 wide with pixels of 15:16: shown square, as players show it.
        assert (d9.width, d9.height, d9.frame_count, d9.pixel_aspect) == (480, 480, 587, 15 / 16)
        assert pd.isna(d0.audio_codec) and d0.nominal_fps == 25.0 and d0.frame_count == 78
        assert ham.variable_frame_rate and not d6.variable_frame_rate
        assert ham.frame_count == 275 and math.isclose(ham.nominal_fps, 29.97, abs_tol=0.01)
        assert all(len(sha) == 64 for sha in metadata["sha256"])
        assert math.isnan(d9.start_s) and math.isnan(d9.sample_fps)
        assert d6.bytes == (shared_videos / "person_a_d6.mp4").stat().st_size
        assert (metadata["rotation_deg"] == 0).all() and metadata["hdr"].isna().all()
    finally:
        for path in videos.values():
            path.unlink(missing_ok=True)


def test_a_url_s_seconds_come_as_a_section_that_reads_as_the_whole_video_s(
    shared_videos, staging, tmp_path
):
    """Seconds 10–12 of a URL's d6 are downloaded alone; the row tells face extraction to read
    that file from its start for 2 s, which gives the frames the whole video's window gives."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "d6.mp4").symlink_to(shared_videos / "person_a_d6.mp4")
    with MediaServer(tmp_path / "www") as server:
        url = f"{server.url}/d6.mp4"
        videos, metadata = fetch_videos(
            {}, _person({"url": url, "start": 10, "end": 12}), DOWNLOAD, staging
        )
    (row,) = metadata.itertuples()
    assert (row.source, row.section_start_s, row.section_end_s) == (url, 10.0, 12.0)
    assert math.isnan(row.start_s) and row.end_s == 2.0
    assert row.file.endswith("-10s-12s.mp4") and row.frame_count < 70
    window = {"start_s": None, "end_s": row.end_s}
    section = list(iter_frames(videos[row.file], **window))
    whole = list(iter_frames(shared_videos / "person_a_d6.mp4", start_s=10, end_s=12))
    assert len(section) == len(whole) == 60
    for frame, whole_frame in zip(section, whole, strict=True):
        assert np.array_equal(frame.rgb, whole_frame.rgb)
    # A whole video's row keeps its window and says it was not cut.
    _, local = fetch_videos(
        {}, _person({"path": str(shared_videos / "single_d18.mp4"), "start": 2}), DOWNLOAD, staging
    )
    assert local.loc[0, "start_s"] == 2.0 and local[
        ["section_start_s", "section_end_s"]
    ].isna().all(axis=None)


def test_a_phone_s_clips_are_recorded_as_stored_turned_or_hdr_and_read_as_shown(
    shared_videos, staging, tmp_path, caplog
):
    source = shared_videos / "person_b_d9.mp4"
    turned = write_phone_clip(source, tmp_path / "phone.mp4", 90, 0.4)
    hdr = write_hdr_clip(source, tmp_path / "hdr.mp4", "hlg", 0.2)
    sources = [{"path": str(turned)}, {"path": str(hdr)}]
    with caplog.at_level(logging.INFO):
        videos, metadata = fetch_videos({}, _person(*sources), DOWNLOAD, staging)
    try:
        facts = metadata.fillna({"hdr": "SDR"})[["width", "height", "rotation_deg", "hdr"]]
        assert facts.to_dict("records") == [
            {"width": 360, "height": 480, "rotation_deg": 90, "hdr": "SDR"},
            {"width": 480, "height": 480, "rotation_deg": 0, "hdr": "hlg"},
        ]
        assert (
            "2 videos ready (2 fetched, 0 already there), 0.6 s of video; 1 stored turned (a"
            " phone's), read upright; 1 in HDR, read as SDR"
        ) in caplog.text
    finally:
        for path in videos.values():
            path.unlink(missing_ok=True)


def test_a_camcorder_s_interlaced_clip_is_recorded_and_read_deinterlaced(
    shared_videos, staging, tmp_path, caplog
):
    clip = write_interlaced_clip(shared_videos / "person_b_d9.mp4", tmp_path / "dv.mp4", 0.4)
    sources = [{"path": str(clip)}, {"path": str(shared_videos / "no_audio_d0.mp4")}]
    with caplog.at_level(logging.INFO):
        videos, metadata = fetch_videos({}, _person(*sources), DOWNLOAD, staging)
    try:
        assert metadata["interlaced"].tolist() == [True, False]
        assert "; 1 interlaced, deinterlaced" in caplog.text
    finally:
        for path in videos.values():
            path.unlink(missing_ok=True)


def test_an_animated_gif_is_a_video_source(shared_videos, staging, tmp_path):
    # A meme: FFmpeg reads an animated GIF as a video; its name was not one the raw folder lists.
    from PIL import Image

    from faceswap_pipeline.video.decode import iter_frames

    source = shared_videos / "single_d18.mp4"
    pictures = [Image.fromarray(frame.rgb) for frame in iter_frames(source, end_s=1.0)]
    meme = tmp_path / "meme.gif"
    pictures[0].save(meme, save_all=True, append_images=pictures[1:], duration=40, loop=0)
    videos, metadata = fetch_videos({}, _person({"path": str(meme)}), DOWNLOAD, staging)
    try:
        ((name, path),) = videos.items()
        assert (
            name.endswith(".gif") and path.name in VideoFolderDataset(path=str(path.parent)).load()
        )
        assert (metadata.loc[0, "video_codec"], metadata.loc[0, "frame_count"]) == ("gif", 30)
    finally:
        for path in videos.values():
            path.unlink(missing_ok=True)


def test_empty_source_list_is_one_clear_error(staging):
    with pytest.raises(ValueError, match="person_a has no video sources"):
        fetch_videos({}, _person(), DOWNLOAD, staging)


def test_bad_start_is_refused_naming_the_parameter(shared_videos, staging):
    source = {"path": str(shared_videos / "no_audio_d0.mp4"), "start": 5, "end": 1}
    with pytest.raises(ValueError, match=r"person\.sources\.0.*end .* must be after start"):
        fetch_videos({}, _person(source), DOWNLOAD, staging)


def test_start_past_the_end_of_the_video(shared_videos, staging):
    source = {"path": str(shared_videos / "no_audio_d0.mp4"), "start": 60}
    with pytest.raises(SourceError, match=r"start 60.0s .* is past its end"):
        fetch_videos({}, _person(source), DOWNLOAD, staging)


def test_reference_photos(shared_photos):
    photos = collect_reference_photos(_person(photos=[str(shared_photos / "obama.jpg")]))
    (image,) = photos.values()
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"
    with pytest.raises(SourceError, match="reference photo /nope.png does not exist"):
        collect_reference_photos(_person(photos=["/nope.png"]))


def test_a_reference_photo_from_an_iphone_is_read_upright(shared_photos, tmp_path):
    upright = write_phone_photos(shared_photos / "obama.jpg", tmp_path)
    photos = collect_reference_photos(_person(photos=[str(tmp_path / "iphone.heic")]))
    ((name, image),) = photos.items()
    assert name.startswith("iphone-") and image.shape == upright.shape
    assert np.abs(image.astype(int) - upright).mean() < 3.0


def _catalog(root: Path, people: dict) -> DataCatalog:
    catalog = DataCatalog()
    for person in ("person_a", "person_b"):
        folder = str(root / "videos" / person)
        catalog[f"{person}_raw_videos"] = VideoFolderDataset(path=folder)
        catalog[f"{person}.existing_raw_videos"] = VideoFolderDataset(path=folder)
        catalog[f"{person}.fetch_staging"] = StagingFolderDataset(
            path=str(root / "videos" / f".partial-fetch-{person}")
        )
        catalog[f"{person}.reference_photos"] = ImageFolderDataset(
            path=str(root / "photos" / person), overwrite=True
        )
        catalog[f"{person}.video_metadata"] = ParquetDataset(
            filepath=str(root / f"metadata_{person}.parquet")
        )
        catalog[f"params:{person}"] = people[person]
    catalog["params:download"] = DOWNLOAD
    return catalog


def test_pipeline_runs_both_people_and_a_rerun_fetches_nothing(
    tmp_path, shared_videos, shared_photos
):
    people = {
        "person_a": {
            "name": "person_a",
            "sources": [{"path": str(shared_videos / "person_a_d6.mp4")}],
            "reference_photos": [str(shared_photos / "obama.jpg")],
        },
        "person_b": {
            "name": "person_b",
            "sources": [{"path": str(shared_videos / "person_b_d9.mp4")}],
        },
    }
    SequentialRunner().run(create_pipeline(), _catalog(tmp_path, people))
    (video_a,) = (tmp_path / "videos" / "person_a").iterdir()
    (video_b,) = (tmp_path / "videos" / "person_b").iterdir()
    assert video_a.read_bytes() == (shared_videos / "person_a_d6.mp4").read_bytes()
    assert len(list((tmp_path / "photos" / "person_a").iterdir())) == 1
    metadata_b = pd.read_parquet(tmp_path / "metadata_person_b.parquet")
    assert metadata_b.loc[0, "file"] == video_b.name and metadata_b.loc[0, "frame_count"] == 587
    stamp = video_a.stat().st_mtime_ns, video_a.stat().st_ino

    SequentialRunner().run(create_pipeline(), _catalog(tmp_path, people))
    assert (video_a.stat().st_mtime_ns, video_a.stat().st_ino) == stamp
    assert len(list((tmp_path / "videos" / "person_a").iterdir())) == 1


def test_failed_source_adds_nothing_to_the_folder(tmp_path, shared_videos):
    people = {
        "person_a": {
            "name": "person_a",
            "sources": [
                {"path": str(shared_videos / "no_audio_d0.mp4")},
                {"path": str(tmp_path / "gone.mp4")},
            ],
        },
        "person_b": {
            "name": "person_b",
            "sources": [{"path": str(shared_videos / "no_audio_d0.mp4")}],
        },
    }
    with pytest.raises(Exception, match="gone.mp4 does not exist"):
        SequentialRunner().run(create_pipeline(), _catalog(tmp_path, people))
    folder = tmp_path / "videos" / "person_a"
    assert not folder.exists() or not any(folder.iterdir())
