"""Bad input files: one clear error (or warning) that names the input and says what to do.

The cases the other test folders do not already cover (see docs/bad_inputs.md for the whole list):
empty, truncated, audio-only and still-image files where a video is expected, a video where a photo
is expected, a video whose faces are all too small, and a model file that is a crafted pickle.
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path

import av
import pandas as pd
import pytest
import torch

from faceswap_pipeline.model import ModelConfig, ModelFileError, SwapModel, load_swap_model
from faceswap_pipeline.model.model_file import CONFIG_FILE, WEIGHTS_FILE
from faceswap_pipeline.pipelines.conversion.nodes import convert_video
from faceswap_pipeline.pipelines.ingestion.nodes import collect_reference_photos, fetch_videos
from faceswap_pipeline.sources import SourceError
from faceswap_pipeline.video.probe import NotAVideoError
from tests.helpers.face_extraction import (
    FACE_EXTRACTION_PARAMS,
    face_extraction_catalog,
    run_face_extraction,
    video_metadata,
)

DOWNLOAD = {"max_height": 720, "retries": 0, "socket_timeout_s": 5, "retry_backoff_s": 0}


def _audio_only(source: Path, destination: Path) -> Path:
    """The source's AAC packets alone in an MP4: a file with sound and no picture."""
    with av.open(str(source)) as reader, av.open(str(destination), "w") as writer:
        audio = writer.add_stream_from_template(reader.streams.audio[0])
        for packet in reader.demux(reader.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = audio
                writer.mux(packet)
    return destination


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, shared_videos, shared_photos) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad_files")
    clip = (shared_videos / "single_d18.mp4").read_bytes()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(clip[: len(clip) // 2])  # cut in half with a byte copy
    (folder / "notes.mp4").write_text("meeting notes, not a video\n")
    (folder / "page.mp4").write_text("<!doctype html><html><body>404 Not Found</body></html>\n")
    return {
        "empty": folder / "empty.mp4",
        "truncated": folder / "truncated.mp4",
        "text": folder / "notes.mp4",
        "html": folder / "page.mp4",
        "audio_only": _audio_only(shared_videos / "single_d18.mp4", folder / "audio_only.mp4"),
        "image": shared_photos / "obama.jpg",
        "png": shared_photos / "lin-manuel-miranda.png",
    }


def _person(path: Path | str) -> dict:
    return {"name": "person_a", "sources": [{"path": str(path)}]}


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("empty", r"is empty \(0 bytes\)"),
        ("truncated", "is not a video file PyAV can read .*a truncated download, or not a video"),
        ("text", "is not a video file PyAV can read"),
        ("html", "is not a video file PyAV can read"),
        ("audio_only", r"has no video stream \(audio only or an image\?\)"),
        ("image", r"is a still image \(image2\), not a video; .*reference_photos"),
        ("png", r"is a still image \(png_pipe\), not a video"),
    ],
)
def test_a_source_that_is_not_a_video_is_named_and_nothing_is_added(
    bad_files, case, reason, staging
):
    path = bad_files[case]
    with pytest.raises(SourceError, match=rf"^person_a: {re.escape(str(path))} {reason}") as raised:
        fetch_videos({}, _person(path), DOWNLOAD, staging)
    # Named by the path the user gave, not by the staged copy that was opened.
    assert ".partial-fetch" not in str(raised.value)


def test_a_missing_or_nul_named_source_is_named(staging):
    for path in ("/no/such/clip.mp4", "/tmp/clip\x00.mp4"):
        with pytest.raises(
            SourceError, match=r"person_a: local source .* does not exist; fix the path"
        ):
            fetch_videos({}, _person(path), DOWNLOAD, staging)


def test_a_video_given_as_a_reference_photo_is_named(shared_videos):
    video = shared_videos / "single_d18.mp4"
    with pytest.raises(
        SourceError,
        match=rf"person_a: reference photo {video} is not a photo that can be read \(not an image"
        r" format Pillow or pillow-heif knows\); give a JPEG, PNG, WebP or HEIC file in",
    ):
        collect_reference_photos(
            {
                "name": "person_a",
                "sources": [{"path": str(video)}],
                "reference_photos": [str(video)],
            }
        )


@pytest.fixture(scope="module")
def tiny_model() -> SwapModel:
    torch.manual_seed(0)
    return SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1)).eval()


@pytest.mark.parametrize(
    ("case", "error", "reason"),
    [
        ("image", NotAVideoError, "is a still image"),
        ("audio_only", NotAVideoError, "has no video stream"),
        ("empty", NotAVideoError, "is empty"),
        ("truncated", NotAVideoError, "is not a video file PyAV can read"),
    ],
)
def test_conversion_of_something_that_is_not_a_video_names_it(
    bad_files, tiny_model, case, error, reason, staging
):
    conversion = {"video": str(bad_files[case]), "identity": {"swap_all_faces": True}}
    with pytest.raises(error, match=rf"{bad_files[case]} {reason}"):
        convert_video(tiny_model, pd.DataFrame(), pd.DataFrame(), {}, {}, conversion, 0.2, staging)


def test_a_video_whose_faces_are_all_too_small_warns_naming_the_setting(
    tmp_path, shared_videos, caplog
):
    """The crowd's faces are at most ~100 px tall at 1080p: none passes a minimum of 150 px."""
    video = shared_videos / "crowd_1080p.mp4"
    metadata = video_metadata("person_b", video, sample_fps=2)
    catalog = face_extraction_catalog(tmp_path, "person_b", video, metadata)
    # min_score at the detector's threshold: faces are rejected for their size alone.
    catalog["params:face_extraction"] = {
        **FACE_EXTRACTION_PARAMS,
        "min_face_size": 150,
        "min_score": FACE_EXTRACTION_PARAMS["detector"]["score_threshold"],
    }
    with caplog.at_level(logging.WARNING):
        run_face_extraction(catalog, "person_b")
    alignments = catalog.load("person_b_face_alignments")
    assert len(alignments) >= 10 and not alignments["kept"].any()
    assert set(alignments["reject_reason"]) == {"too_small"}
    assert (
        "person_b: no face kept" in caplog.text
        and f"rejected too_small {len(alignments)})" in caplog.text
    )
    assert "smaller than face_extraction.min_face_size" in caplog.text
    assert catalog.load("person_b_aligned_faces") == {}


def test_a_crafted_pickle_as_the_model_file_is_refused_without_running_it(tmp_path):
    """A pickle that would create a file when unpickled, saved where the safetensors weights
    belong."""
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    model_dir = tmp_path / "swap_model"
    model_dir.mkdir()
    (model_dir / WEIGHTS_FILE).write_bytes(pickle.dumps({"encoder.weight": Payload()}))
    (model_dir / CONFIG_FILE).write_text('{"architecture": "original", "input_size": 64}')
    with pytest.raises(
        ModelFileError, match=r"model\.safetensors is not a swap model file this version can read"
    ):
        load_swap_model(model_dir)
    # torch's own format, pickled inside a zip: refused too (the file must be safetensors).
    torch.save({"state": Payload()}, model_dir / WEIGHTS_FILE)
    with pytest.raises(ModelFileError, match="not a swap model file"):
        load_swap_model(model_dir)
    assert not marker.exists()
