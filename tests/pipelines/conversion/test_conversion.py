"""The conversion on the real clips, with a tiny swap model: frames, rate, audio span, size,
identity, masks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from faceswap_pipeline.compositing import jaw_fitted_mask, landmark_hull_mask, mouth_mask
from faceswap_pipeline.errors import BadInputError
from faceswap_pipeline.evaluation.detail import detail_ratio
from faceswap_pipeline.faces.alignment import transform_points
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.model import ModelConfig, SwapModel
from faceswap_pipeline.model.inference import choose_precision
from faceswap_pipeline.pipelines.conversion.nodes import convert_video, summarise_conversion
from faceswap_pipeline.pipelines.conversion.params import parse_params
from faceswap_pipeline.swapping import video as swapping
from faceswap_pipeline.swapping.faces import SKIP_NOT_SOURCE_PERSON, FaceSwapConverter
from faceswap_pipeline.video.decode import VideoFrame, iter_frames
from faceswap_pipeline.video.probe import NotAVideoError
from tests.helpers.phone_media import write_phone_clip, write_phone_photos

MARGIN = 0.2


@pytest.fixture(scope="module")
def swap_model() -> SwapModel:
    """A tiny faceit-style model (untrained weights, fixed seed): its output differs from the
    input."""
    torch.manual_seed(0)
    return SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1)).eval()


def _identity_of(video: Path) -> pd.DataFrame:
    """Descriptors of the face in a video's first frame, as face extraction writes
    `{person}_identity`."""
    frame = next(iter_frames(video))
    found = RetinaFaceDetector(det_size=320).detect([frame.rgb])[0]
    points = landmarks68(frame.rgb, found.boxes[0])
    descriptor = face_descriptor(frame.rgb, points)
    return pd.DataFrame(
        {
            "video": [video.name],
            "track": [0],
            "frame_index": [0],
            "descriptor": [descriptor.tolist()],
        }
    )


@pytest.fixture(scope="module")
def d18_identity(shared_videos: Path) -> pd.DataFrame:
    return _identity_of(shared_videos / "single_d18.mp4")


def _run(model, identity, video: Path, **conversion) -> tuple[Path, pd.DataFrame]:
    """Run the node; its output (a finished file in the test's work folder) is removed after the
    test."""
    conversion = {"video": str(video), **conversion}
    output, report = convert_video(
        model, identity, pd.DataFrame(), {}, {}, conversion, MARGIN, _STAGING[-1]
    )
    _CREATED.append(output)
    return output, report


_CREATED: list[Path] = []
_STAGING: list[Path] = []


@pytest.fixture(autouse=True)
def _remove_outputs(staging: Path):
    """Each test converts in its own work folder (the catalog's `conversion_staging`)."""
    _STAGING.append(staging)
    yield
    _STAGING.pop()
    while _CREATED:
        _CREATED.pop().unlink(missing_ok=True)


def _read(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        width, height, rate = (
            video.codec_context.width,
            video.codec_context.height,
            float(video.average_rate),
        )
        times = [frame.time for frame in container.decode(video)]
    with av.open(str(path)) as container:
        audio_span = None
        if container.streams.audio:
            audio = container.streams.audio[0]
            packets = [p for p in container.demux(audio) if p.pts is not None]
            audio_span = (
                float(min(p.pts for p in packets) * audio.time_base),
                float(max(p.pts + p.duration for p in packets) * audio.time_base),
            )
        return {
            "times": times,
            "rate": rate,
            "size": (width, height),
            "audio": audio_span,
            "tags": dict(container.metadata),
        }


def test_whole_clip_keeps_frames_rate_audio_and_says_it_is_synthetic(
    swap_model, d18_identity, shared_videos
):
    output, report = _run(
        swap_model, d18_identity, shared_videos / "single_d18.mp4", output={"width": 240}
    )
    result = _read(output)
    assert len(result["times"]) == len(report) == 216
    assert result["rate"] == pytest.approx(30, abs=0.01)
    assert result["size"] == (240, 240)
    video_end = result["times"][-1] + 1 / 30
    assert abs(result["audio"][1] - video_end) <= 1 / 30
    assert "SYNTHETIC" in result["tags"]["comment"]
    assert '"synthetic": true' in result["tags"]["description"]
    # The source person is in every frame: every frame's face is swapped.
    assert (report["faces_swapped"] == 1).mean() > 0.95
    # The totals the catalog logs to MLflow, in kedro-mlflow's {name: {value, step}} form.
    metrics = summarise_conversion(report)
    assert metrics["conversion/frames"] == {"value": 216.0, "step": 0}
    assert metrics["conversion/faces_swapped"]["value"] == report["faces_swapped"].sum()
    assert metrics["conversion/frames_per_s"]["value"] > 0


def test_span_side_by_side_covers_exactly_that_time(swap_model, d18_identity, shared_videos):
    output, report = _run(
        swap_model,
        d18_identity,
        shared_videos / "single_d18.mp4",
        start_s="0:02",  # as a player shows it: 2 s
        duration_s=1.5,
        output={"side_by_side": True},
    )
    result = _read(output)
    assert len(result["times"]) == 45
    assert result["times"][0] == pytest.approx(0.0, abs=1e-3)
    assert result["size"] == (960, 480)  # the source is 480x480: side by side doubles the width
    audio_start, audio_end = result["audio"]
    assert abs(audio_start) <= 1 / 30 and abs(audio_end - 1.5) <= 1 / 30
    assert report["time_s"].iloc[0] == pytest.approx(2.0, abs=1e-3)


def test_a_phone_clip_stored_sideways_is_converted_upright(swap_model, shared_videos, tmp_path):
    # A phone filming upright stores its pictures sideways with a display matrix; the video written
    # must show them as the phone did, as the same clip stored upright is converted.
    source = shared_videos / "person_b_d9.mp4"
    identity = _identity_of(source)
    converted = {}
    for rotation in (0, 90):
        clip = write_phone_clip(source, tmp_path / f"phone_{rotation}.mp4", rotation, 0.4)
        output, report = _run(swap_model, identity, clip)
        assert report["faces_swapped"].tolist() == [1] * 12
        result = _read(output)
        assert result["size"] == (360, 480) and result["audio"] is not None
        with av.open(str(output)) as container:
            assert next(container.decode(video=0)).rotation == 0  # no display matrix to obey
        converted[rotation] = np.stack([frame.rgb.astype(int) for frame in iter_frames(output)])
    assert np.abs(converted[90] - converted[0]).mean() < 2.0


def test_no_progress_bar_is_drawn_into_a_log_file(swap_model, d18_identity, shared_videos, capfd):
    # `kedro run > run.log`: stderr is not a terminal, so tqdm's redraws would be noise in the log
    # (one "converting ...: 1%|..." record per update, joined by carriage returns).
    _run(swap_model, d18_identity, shared_videos / "single_d18.mp4", start_s=1.0, duration_s=0.5)
    written = capfd.readouterr()
    assert "frame/s" not in written.err and "frame/s" not in written.out


def test_video_without_audio_and_without_the_source_person_passes_through(
    swap_model, d18_identity, shared_videos, caplog
):
    # no_audio_d0.mp4 shows another man: nobody is swapped, a warning says so, the video is written.
    with caplog.at_level(logging.WARNING):
        output, report = _run(
            swap_model, d18_identity, shared_videos / "no_audio_d0.mp4", duration_s=1.0
        )
    result = _read(output)
    assert result["audio"] is None
    assert len(result["times"]) == 25
    assert report["faces_swapped"].sum() == 0
    assert report["skip_reasons"].str.contains(SKIP_NOT_SOURCE_PERSON).all()
    assert "never found" in caplog.text


def test_pixels_change_inside_the_face_only_and_faceless_frames_are_untouched(
    swap_model, shared_videos
):
    params = parse_params({"identity": {"swap_all_faces": True}, "output": {"label": False}})
    converter = swapping.build_converter(swap_model, None, params, params.target, MARGIN)
    face_frame = next(iter_frames(shared_videos / "single_d18.mp4"))
    blank = VideoFrame(
        index=1, time_s=face_frame.time_s + 1 / 30, rgb=np.full_like(face_frame.rgb, 128)
    )
    with_face, without_face = converter.run([face_frame, blank])
    assert without_face.faces_found == 0 and np.array_equal(without_face.swapped, blank.rgb)
    assert with_face.faces_swapped == 1
    changed = np.any(with_face.swapped != face_frame.rgb, axis=2)
    # Outside the landmark hull nothing changes; inside, most of the face does.
    found = RetinaFaceDetector(det_size=320).detect([face_frame.rgb])[0]
    points = landmarks68(face_frame.rgb, found.boxes[0])
    x0, y0 = points.min(axis=0) - 2
    x1, y1 = points.max(axis=0) + 2
    outside = np.ones_like(changed)
    outside[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1] = False
    assert not changed[outside].any()
    centre = changed[
        int(points[:, 1].mean()) - 10 : int(points[:, 1].mean()) + 10,
        int(points[:, 0].mean()) - 10 : int(points[:, 0].mean()) + 10,
    ]
    assert centre.mean() > 0.5


def _frame(video: Path, index: int) -> VideoFrame:
    return next(frame for frame in iter_frames(video) if frame.index == index)


def _every_face_uncoloured(swap_model, compositing: dict) -> tuple[Any, FaceSwapConverter]:
    """Conversion settings that swap every face, unlabelled, without colour transfer, with these
    `compositing` settings, and the converter `build_converter` makes of them (its geometry and
    detector, for a converter with a "model" of the test's own)."""
    params = parse_params(
        {
            "precision": "fp32",
            "identity": {"swap_all_faces": True},
            "output": {"label": False},
            "compositing": {**compositing, "colour_transfer": "none"},
        }
    )
    return params, swapping.build_converter(swap_model, None, params, params.target, MARGIN)


@pytest.mark.parametrize("follow_swapped_jaw", [True, False])
def test_a_narrower_target_face_shows_the_source_cheek_not_its_background(
    swap_model, shared_videos, follow_swapped_jaw
):
    # A "model" that draws d18's real aligned face, narrowed to 80 % of its width around its
    # middle, whatever it is given: a perfect swap onto a target whose face is narrower than
    # d12's (or turned, as d18 never is while d12 is), with d18's grey background around it. Along
    # d12's jaw outside d18's, the mask cut to the swapped jaw keeps d12's own cheek; the source's
    # hull alone pastes d18's background there (a pale streak along the jaw in the video).
    params, working = _every_face_uncoloured(swap_model, {"follow_swapped_jaw": follow_swapped_jaw})
    geometry, detector = working.geometry, working.detector

    def aligned(frame: VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The face's model input, its 68 landmarks in frame px and the frame → input matrix."""
        found = detector.detect([frame.rgb])[0]
        to_input = geometry.frame_to_model_input(found.landmarks5[0])
        points = landmarks68(frame.rgb, found.boxes[0])
        return working.cut_model_input(frame.rgb, to_input), points, to_input

    target_face, target_points, target_to_input = aligned(
        _frame(shared_videos / "single_d18.mp4", 60)
    )
    size = geometry.input_size
    narrowing = np.array([[0.8, 0.0, 0.1 * size], [0.0, 1.0, 0.0]])
    target_face = cv2.warpAffine(
        target_face, narrowing, (size, size), borderMode=cv2.BORDER_REPLICATE
    )
    source = _frame(shared_videos / "single_d12.mp4", 20)
    _, source_points, source_to_input = aligned(source)
    converter = FaceSwapConverter(
        lambda faces: np.stack([target_face] * len(faces)), geometry, detector, None, params
    )
    (result,) = converter.run([source])
    assert result.faces_swapped == 1

    # d18's landmarks where the swap draws them in d12's frame.
    drawn_points = transform_points(
        transform_points(transform_points(target_points, target_to_input), narrowing),
        cv2.invertAffineTransform(source_to_input),
    )
    # Where the source's mask (as the converter makes it) pastes at least a third of the swapped
    # face, outside the jaw line d18's face is drawn with (its hull grown by 4 px for the
    # landmarks' disagreement).
    shape = source.rgb.shape[:2]
    compositing = params.compositing
    pasted = landmark_hull_mask(
        source_points, shape, erosion=compositing.mask_erosion, feather=compositing.mask_feather
    )
    drawn = jaw_fitted_mask(source_points, drawn_points, shape, erosion=0, feather=0)
    strip = (pasted > 0.33) & (cv2.dilate(drawn, np.ones((9, 9), np.uint8)) == 0)
    assert strip.sum() > 100  # d18's jaw lies inside d12's on one side at least
    difference = np.abs(result.swapped.astype(float) - source.rgb).mean(axis=2)[strip].mean()
    if follow_swapped_jaw:
        assert difference < 3
    else:
        assert difference > 10


@pytest.mark.parametrize("keep_source_mouth", [True, False])
def test_the_source_mouth_shows_through_the_swapped_face_when_kept(
    swap_model, shared_videos, keep_source_mouth
):
    # A "model" that draws one flat grey face whatever it is given: with the source's mouth
    # kept, d12's own lips and open mouth show in the output, the rest of his face is the grey;
    # without, the grey covers the mouth too.
    params, working = _every_face_uncoloured(swap_model, {"keep_source_mouth": keep_source_mouth})
    converter = FaceSwapConverter(
        lambda faces: np.full_like(faces, 128), working.geometry, working.detector, None, params
    )
    source = _frame(shared_videos / "single_d12.mp4", 20)
    (result,) = converter.run([source])
    assert result.faces_swapped == 1
    found = working.detector.detect([source.rgb])[0]
    points = landmarks68(source.rgb, found.boxes[0])
    difference = np.abs(result.swapped.astype(float) - source.rgb).mean(axis=2)
    # The lips and what lies between them (the mask whole there, as the converter's smoothed
    # landmarks may lie a pixel or two off these), and the cheeks between eye and jaw.
    lips = mouth_mask(points, source.rgb.shape[:2], grow=0.0, feather=0.0) > 0.5
    lips = cv2.erode(lips.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    face = landmark_hull_mask(points, source.rgb.shape[:2]) > 0.99
    cheeks = face & ~(mouth_mask(points, source.rgb.shape[:2]) > 0)
    assert lips.sum() > 200 and cheeks.sum() > 2000
    assert difference[cheeks].mean() > 20  # the grey, either way
    if keep_source_mouth:
        assert difference[lips].mean() < 3
    else:
        assert difference[lips].mean() > 20


def test_the_video_and_its_evaluation_say_whether_the_mouth_is_the_source_s(swap_model):
    from faceswap_pipeline.pipelines.evaluation.nodes import _facts

    for kept in (False, True):
        tags = swapping.provenance_tags(
            swap_model,
            direction="a_to_b",
            precision="fp32",
            source="/videos/clip.mp4",
            run_id=None,
            source_mouth_kept=kept,
        )
        made_by = json.loads(tags["description"])
        assert made_by["synthetic"] is True and made_by["source_mouth_kept"] is kept
        assert ("the source's own mouth kept" in tags["comment"]) is kept
        assert tags["comment"].startswith("SYNTHETIC")
        facts = _facts(Path("swapped.mp4"), made_by, "a_to_b", None)
        assert facts["mouth"].startswith("the source's own" if kept else "the model's")


def test_bad_input_is_named(swap_model, d18_identity, tmp_path, shared_videos):
    not_a_video = tmp_path / "page.mp4"
    not_a_video.write_text("<html>not a video</html>")
    with pytest.raises(NotAVideoError, match="page.mp4"):
        _run(swap_model, d18_identity, not_a_video)
    with pytest.raises(FileNotFoundError, match="conversion.video"):
        _run(swap_model, d18_identity, tmp_path / "missing.mp4")
    # A user error (no traceback from `kedro run`), said as for a URL's video (test below).
    with pytest.raises(BadInputError, match=r"conversion.start_s \(30.0 s\) is past the end of"):
        _run(swap_model, d18_identity, shared_videos / "single_d18.mp4", start_s=30)
    with pytest.raises(ValueError, match="conversion.compositing.colour_transfer"):
        _run(swap_model, d18_identity, not_a_video, compositing={"colour_transfer": "magic"})
    with pytest.raises(ValueError, match="person_a_identity"):
        convert_video(
            swap_model,
            pd.DataFrame(),
            pd.DataFrame(),
            {},
            {},
            {"video": str(not_a_video)},
            MARGIN,
            _STAGING[-1],
        )


def test_gif_preview_of_the_converted_video(swap_model, d18_identity, shared_videos, tmp_path):
    from PIL import Image

    from faceswap_pipeline.pipelines.conversion.nodes import make_preview_gif

    output, _ = _run(swap_model, d18_identity, shared_videos / "single_d18.mp4", duration_s=1.0)
    gif = make_preview_gif(
        output, {"gif": {"fps": 5, "max_width": 100, "max_seconds": 1.0}}, _STAGING[-1]
    )
    _CREATED.append(gif)
    with Image.open(gif) as image:
        assert image.size == (100, 100) and image.n_frames == 5


def test_photos_are_converted_one_by_one(swap_model, shared_photos, tmp_path):
    from faceswap_pipeline.pipelines.conversion.nodes import convert_photos

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama.jpg", "two_people.jpg"):
        (folder / name).symlink_to(shared_photos / name)
    conversion = {
        "photos": str(folder),
        "identity": {"swap_all_faces": True},
        "output": {"label": False},
    }
    swapped = convert_photos(swap_model, pd.DataFrame(), pd.DataFrame(), conversion, MARGIN)
    assert sorted(swapped) == ["obama", "two_people"]
    from PIL import Image

    for name, load in swapped.items():
        original = np.asarray(Image.open(folder / f"{name}.jpg").convert("RGB"))
        result = load()
        assert result.shape == original.shape
        assert (result != original).any()
    assert convert_photos(swap_model, pd.DataFrame(), pd.DataFrame(), {}, MARGIN) == {}


def test_a_phone_s_photos_stored_sideways_are_converted_upright(
    swap_model, shared_photos, tmp_path
):
    from faceswap_pipeline.pipelines.conversion.nodes import convert_photos

    folder = tmp_path / "photos"
    upright = write_phone_photos(shared_photos / "obama.jpg", folder)
    conversion = {
        "photos": str(folder),
        "identity": {"swap_all_faces": True},
        "output": {"label": False},
    }
    swapped = convert_photos(swap_model, pd.DataFrame(), pd.DataFrame(), conversion, MARGIN)
    results = {name: load().astype(int) for name, load in swapped.items()}
    assert sorted(results) == ["iphone", "phone", "upright"]
    # The face was found and swapped the same way in each (a sideways face is not found).
    assert (results["upright"] != upright).any()
    for name, result in results.items():
        assert result.shape == upright.shape == (1137, 910, 3), name
        assert np.abs(result - results["upright"]).mean() < 3.0, name


def test_two_photos_of_one_name_are_both_converted(swap_model, shared_photos, tmp_path):
    from faceswap_pipeline.pipelines.conversion.nodes import convert_photos

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "me.jpg").symlink_to(shared_photos / "obama.jpg")
    (folder / "me.png").symlink_to(shared_photos / "lin-manuel-miranda.png")
    (folder / "you.jpg").symlink_to(shared_photos / "biden.jpg")
    conversion = {"photos": str(folder), "identity": {"swap_all_faces": True}}
    swapped = convert_photos(swap_model, pd.DataFrame(), pd.DataFrame(), conversion, MARGIN)
    assert sorted(swapped) == ["me_jpg", "me_png", "you"]


def test_a_url_is_fetched_with_the_ingestion_downloader(swap_model, d18_identity, shared_videos):
    from tests.helpers.media_server import MediaServer

    with MediaServer(shared_videos) as server:
        url = f"{server.url}/single_d18.mp4"
        output, report = convert_video(
            swap_model,
            d18_identity,
            pd.DataFrame(),
            {},
            {},
            {"video": url, "duration_s": 0.5},
            MARGIN,
            _STAGING[-1],
        )
    _CREATED.append(output)
    assert len(_read(output)["times"]) == len(report) == 15
    assert report["faces_swapped"].sum() == 15


def test_a_url_s_seconds_are_converted_from_their_own_download(
    swap_model, d18_identity, shared_videos, tmp_path
):
    """`conversion.start_s`/`duration_s` of a URL: the conversion reads the section fetched for
    them (which starts at 2 s), converts the same seconds as from the whole video, and its tags
    name the file read, for the evaluation."""
    from faceswap_pipeline.datasets import VideoFolderDataset
    from faceswap_pipeline.evaluation.video import read_provenance
    from faceswap_pipeline.pipelines.conversion.nodes import fetch_conversion_video
    from tests.helpers.media_server import MediaServer

    with MediaServer(shared_videos) as server:
        url = f"{server.url}/single_d18.mp4"
        conversion = {"video": url, "start_s": 2.0, "duration_s": 1.5}
        folder = VideoFolderDataset(path=str(tmp_path / "conversion"))  # as the catalog places it
        folder.save(fetch_conversion_video({}, conversion, {"retries": 0}, tmp_path / "fetch"))
        fetched = folder.load()
        (section,) = fetched
        served = server.requests["/single_d18.mp4"]
        output, report = convert_video(
            swap_model,
            d18_identity,
            pd.DataFrame(),
            {},
            {},
            {**conversion, "output": {"side_by_side": True}},
            MARGIN,
            _STAGING[-1],
            conversion_videos=fetched,
        )
        assert server.requests["/single_d18.mp4"] == served  # read, not downloaded again
    _CREATED.append(output)
    result = _read(output)
    assert len(result["times"]) == len(report) == 45
    audio_start, audio_end = result["audio"]
    assert abs(audio_start) <= 1 / 30 and abs(audio_end - 1.5) <= 1 / 30
    # The left half is the source as it was at 2 s (within the H.264 encoding's error).
    with av.open(str(output)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    at_2s = next(iter_frames(shared_videos / "single_d18.mp4", start_s=2.0)).rgb
    assert np.abs(first[:, :480].astype(int) - at_2s).mean() < 3
    provenance = read_provenance(output)
    assert (provenance["source"], provenance["source_file"]) == (url, section)


def test_overlapping_stages_give_every_frame_once_in_order(swap_model, shared_videos):
    # Batches of 2 frames: several batches in flight at once (detection ahead, analysis,
    # compositing).
    frames = [frame for _, frame in zip(range(24), iter_frames(shared_videos / "single_d18.mp4"))]
    results = {}
    for batch_size in (2, 24):
        params = parse_params(
            {"batch_size": batch_size, "precision": "fp32", "identity": {"swap_all_faces": True}}
        )
        converter = swapping.build_converter(swap_model, None, params, params.target, MARGIN)
        results[batch_size] = list(converter.run(frames))
    small, whole = results[2], results[24]
    assert [result.index for result in small] == [frame.index for frame in frames]
    assert all(result.original is frame.rgb for result, frame in zip(small, frames, strict=True))
    assert (
        [result.faces_swapped for result in small]
        == [result.faces_swapped for result in whole]
        == [1] * 24
    )
    # The same faces whatever the batching (the model's batch size may move a pixel by one level).
    for a, b in zip(small, whole, strict=True):
        assert np.abs(a.swapped.astype(int) - b.swapped.astype(int)).max() <= 2


def test_an_error_in_a_worker_stage_reaches_the_caller(swap_model, shared_videos):
    params = parse_params({"batch_size": 4, "identity": {"swap_all_faces": True}})
    working = swapping.build_converter(swap_model, None, params, params.target, MARGIN)
    converter = FaceSwapConverter(  # a broken model: wrong output shape
        lambda faces: faces[:, :8], working.geometry, working.detector, None, params
    )
    frames = [frame for _, frame in zip(range(12), iter_frames(shared_videos / "single_d18.mp4"))]
    with pytest.raises(ValueError, match="swap function returned"):
        list(converter.run(frames))


def test_a_perfect_model_keeps_the_detail_of_a_64_px_face(swap_model, shared_videos):
    # A model that hands its input back: whatever detail the conversion loses is lost by cutting,
    # enlarging and pasting the face. Enlarged twice bilinearly, it kept 0.39 of these faces'
    # detail at 40 px, far below what validation's paste keeps of a perfect 64 px model (0.55-0.59)
    # and below what the trained models' validation swaps keep: the conversion undid the training.
    # Bicubic keeps 0.59-0.64 (as the region measured moves with the landmarks).
    params = parse_params({"precision": "fp32", "identity": {"swap_all_faces": True}})
    working = swapping.build_converter(swap_model, None, params, params.target, MARGIN)
    converter = FaceSwapConverter(
        lambda faces: faces.copy(), working.geometry, working.detector, None, params
    )
    every_tenth = [frame for frame in iter_frames(shared_videos / "person_b_d9.mp4")][:120:10]
    kept = []
    for frame, result in zip(every_tenth, converter.run(every_tenth), strict=True):
        assert result.faces_swapped == 1
        found = converter.detector.detect([frame.rgb])[0]
        points = landmarks68(frame.rgb, found.boxes[0])
        kept.append(detail_ratio(result.swapped, frame.rgb, points))
    assert np.median(kept) >= 0.55


def test_bf16_swaps_within_a_grey_level_or_two_of_fp32(swap_model, shared_videos):
    params = parse_params({"precision": "fp32", "identity": {"swap_all_faces": True}})
    converter = swapping.build_converter(swap_model, None, params, params.target, MARGIN)
    frame = next(iter_frames(shared_videos / "single_d18.mp4"))
    found = converter.detector.detect([frame.rgb])[0]
    to_input = converter.geometry.frame_to_model_input(found.landmarks5[0])
    faces = np.stack([converter.cut_model_input(frame.rgb, to_input)] * 4)
    cpu = torch.device("cpu")
    fp32 = swapping.make_swap_function(swap_model, "b", cpu, torch.float32)(faces).astype(int)
    bf16 = swapping.make_swap_function(swap_model, "b", cpu, torch.bfloat16)(faces).astype(int)
    assert bf16.shape == fp32.shape
    difference = np.abs(bf16 - fp32)
    assert difference.max() <= 3 and difference.mean() < 0.5
    assert choose_precision("fp32", cpu) == torch.float32
    assert choose_precision("bf16", cpu) == torch.bfloat16
    assert choose_precision("auto", cpu) in (torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="conversion.precision"):
        parse_params({"precision": "fp16"})
