"""Probing and decoding the real clips: counts, time stamps, sampling, windows, damage, non-square
pixels, interlaced video, and the clips made into a phone's (stored sideways, filmed in HDR)."""

from __future__ import annotations

import copy as copy_module
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest

from faceswap_pipeline.video.decode import DecodeReport, iter_frames
from faceswap_pipeline.video.probe import NotAVideoError, probe_video
from tests.helpers.phone_media import (
    combing,
    write_camcorder_clip,
    write_hdr_clip,
    write_interlaced_clip,
    write_phone_clip,
)


def test_every_frame_with_stream_time_stamps(shared_videos):
    frames = list(iter_frames(shared_videos / "no_audio_d0.mp4"))
    assert len(frames) == 78
    assert [f.index for f in frames] == list(range(78))
    assert frames[1].time_s == pytest.approx(1 / 25)
    assert frames[0].rgb.shape == (512, 512, 3) and frames[0].rgb.flags["C_CONTIGUOUS"]


def test_variable_rate_clip_keeps_its_real_times(shared_videos):
    info = probe_video(shared_videos / "multi_hamilton.mp4")
    assert info.variable_frame_rate and info.frame_count == 275
    frames = list(iter_frames(shared_videos / "multi_hamilton.mp4"))
    assert len(frames) == 275
    assert frames[0].time_s == pytest.approx(info.first_frame_time_s) and frames[0].time_s > 0.8


def test_sampling_by_time(shared_videos):
    frames = list(iter_frames(shared_videos / "single_d18.mp4", sample_fps=5))
    assert len(frames) == pytest.approx(7.2 * 5, abs=1)
    gaps = [b.time_s - a.time_s for a, b in zip(frames, frames[1:], strict=False)]
    assert all(g == pytest.approx(0.2, abs=0.034) for g in gaps)


def test_start_end_window_keeps_stream_indices(shared_videos):
    frames = list(iter_frames(shared_videos / "person_a_d6.mp4", start_s=10, end_s=11))
    assert len(frames) == 30
    assert frames[0].index == 300 and frames[0].time_s == pytest.approx(10.0)
    assert frames[-1].time_s < 11


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_s": -1}, "start_s"),
        ({"start_s": 3, "end_s": 2}, "after start_s"),
        ({"sample_fps": 0}, "sample_fps"),
    ],
)
def test_bad_windows(shared_videos, kwargs, message):
    with pytest.raises(ValueError, match=message):
        next(iter_frames(shared_videos / "single_d18.mp4", **kwargs))


def test_not_a_video(tmp_path, shared_photos):
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    with pytest.raises(NotAVideoError, match="notes.mp4") as raised:
        probe_video(text)
    # FFmpeg's reason once, without the path it repeats; the error crosses to and from Dask
    # workers whole (a deep copy reduces it as pickling does).
    assert raised.value.detail.startswith(
        "is not a video file PyAV can read (Invalid data found when processing input);"
    )
    assert str(text) not in raised.value.detail
    copy = copy_module.deepcopy(raised.value)
    assert (str(copy), copy.path, copy.detail) == (
        str(raised.value),
        text,
        raised.value.detail,
    )
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(NotAVideoError, match="empty"):
        probe_video(empty)
    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "missing.mp4")


def _faststart_copy(source, destination):
    """Remux with the index (moov) first, as streaming-friendly files are: a cut then keeps the
    index."""
    import av

    with (
        av.open(str(source)) as src,
        av.open(str(destination), "w", options={"movflags": "faststart"}) as out,
    ):
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)


def test_truncated_video_yields_the_good_frames_and_reports_the_damage(tmp_path, shared_videos):
    whole = tmp_path / "whole.mp4"
    _faststart_copy(shared_videos / "single_d18.mp4", whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    report = DecodeReport()
    frames = list(iter_frames(cut, report=report))
    assert 30 < len(frames) < 216
    assert report.damaged and "of the 216 frames" in report.error
    intact = DecodeReport()
    assert len(list(iter_frames(whole, report=intact))) == 216 and not intact.damaged


@pytest.fixture(scope="module")
def phone_clips(shared_videos, tmp_path_factory) -> dict[int, Path]:
    """d9's first 0.4 s filmed as a phone held upright films (360×480), stored as it stores it, by
    display rotation; 0: upright."""
    folder = tmp_path_factory.mktemp("phone_clips")
    source = shared_videos / "person_b_d9.mp4"
    return {
        rotation: write_phone_clip(source, folder / f"rotated_{rotation}.mp4", rotation, 0.4)
        for rotation in (0, 90, 180, 270)
    }


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_phone_clip_stored_sideways_is_probed_and_decoded_upright(phone_clips, rotation):
    info = probe_video(phone_clips[rotation])
    assert (info.width, info.height, info.rotation_deg) == (360, 480, rotation)
    upright = [frame.rgb for frame in iter_frames(phone_clips[0])]
    turned = list(iter_frames(phone_clips[rotation], start_s=0.1))
    assert len(turned) == len(upright) - 3
    for frame in turned:
        assert frame.rgb.shape == (480, 360, 3) and frame.rgb.flags["C_CONTIGUOUS"]
        # The same picture, within the noise of encoding it another way round (a wrong turn
        # differs by tens of grey levels).
        difference = np.abs(frame.rgb.astype(int) - upright[frame.index]).mean()
        assert difference < 2.0, (frame.index, difference)
    assert probe_video(phone_clips[0]).rotation_deg == 0


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
def test_a_phone_s_hdr_clip_is_decoded_as_the_sdr_picture_it_shows(
    shared_videos, tmp_path, transfer
):
    source = shared_videos / "person_b_d9.mp4"
    clip = write_hdr_clip(source, tmp_path / f"{transfer}.mp4", transfer, 0.2)
    info = probe_video(clip)
    assert (info.hdr, info.video_codec, info.width, info.height) == (transfer, "hevc", 480, 480)
    assert probe_video(source).hdr is None
    sdr = [frame.rgb.astype(int) for frame in iter_frames(source, end_s=0.2)]
    decoded = list(iter_frames(clip))
    assert len(decoded) == len(sdr) == 6
    for frame in decoded:
        assert frame.rgb.dtype == np.uint8 and frame.rgb.flags["C_CONTIGUOUS"]
        # The source's picture within a couple of grey levels (its few highlights above 75 % of
        # white are rolled off); read as if it were SDR it is 25 (HLG) to 40 (PQ) levels off,
        # darker and greyer.
        assert np.abs(frame.rgb - sdr[frame.index]).mean() < 2.5


def test_non_square_pixels_are_read_as_a_player_shows_them(shared_videos, tmp_path):
    # d9 is stored 512 wide with pixels of 15:16 (an ffmpeg rescale kept its square picture):
    # players show it 480×480.
    d9 = probe_video(shared_videos / "person_b_d9.mp4")
    assert (d9.width, d9.height, d9.pixel_aspect) == (480, 480, 15 / 16)
    assert next(iter_frames(shared_videos / "person_b_d9.mp4")).rgb.shape == (480, 480, 3)
    # d18 (square pixels) stored as an HDV camcorder stores 16:9: 3/4 of the width, pixels 4:3.
    source = shared_videos / "single_d18.mp4"
    clip = write_camcorder_clip(source, tmp_path / "camcorder.mp4", 0.2)
    info = probe_video(clip)
    assert (info.width, info.height, info.pixel_aspect) == (480, 480, 4 / 3)
    assert probe_video(source).pixel_aspect == 1
    original = [frame.rgb.astype(int) for frame in iter_frames(source, end_s=0.2)]
    for frame in iter_frames(clip):
        assert frame.rgb.shape == (480, 480, 3) and frame.rgb.flags["C_CONTIGUOUS"]
        # The picture, within what squeezing a quarter of its columns away loses (read as stored
        # it is 360 wide).
        assert np.abs(frame.rgb - original[frame.index]).mean() < 3.0


def test_an_interlaced_clip_is_read_deinterlaced_as_a_player_shows_it(shared_videos, tmp_path):
    # d12 (lively) as an interlaced camcorder films: each stored frame woven from two moments
    # 1/25 s apart, which combs every moving edge; read as stored, faces are found and swapped in
    # combed pictures and the conversion writes them so.
    source = shared_videos / "single_d12.mp4"
    clip = write_interlaced_clip(source, tmp_path / "interlaced.mp4", 2.0)
    assert probe_video(clip).interlaced and not probe_video(source).interlaced
    original = list(iter_frames(source, end_s=2.0))
    frames = list(iter_frames(clip))
    assert [frame.index for frame in frames] == list(range(25))
    assert [frame.time_s for frame in frames] == pytest.approx(
        [frame.time_s for frame in original[::2]]
    )
    with av.open(str(clip)) as container:
        stored = [picture.to_ndarray(format="rgb24") for picture in container.decode(video=0)]
    source_combing = np.mean([combing(frame.rgb) for frame in original[::2]])
    assert np.mean([combing(picture) for picture in stored]) > 5 * source_combing
    # Whole pictures, combed no more than the progressive source's own rows differ.
    assert np.mean([combing(frame.rgb) for frame in frames]) < 1.2 * source_combing
    for frame, first_field in zip(frames, original[::2], strict=True):
        assert frame.rgb.flags["C_CONTIGUOUS"]
        # The moment of its first field (the frames 1/25 s later differ by up to 17 levels).
        assert np.abs(frame.rgb - first_field.rgb.astype(int)).mean() < 3.5
    # From a seek, the same pictures.
    later = list(iter_frames(clip, start_s=1.0))
    assert later[0].index == 13 and np.array_equal(later[0].rgb, frames[13].rgb)


def test_a_clip_cut_without_re_encoding_is_read_from_its_cut(shared_videos, tmp_path, caplog):
    # `ffmpeg -ss 10 -c copy` (and a section yt-dlp downloads) keeps d6 from the keyframe before
    # 10 s, with an edit list that hides what comes before the cut: those frames were counted (the
    # first 1.7 s before the clip's start), and their absence read as a truncated file.
    clip = tmp_path / "cut.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    source = shared_videos / "person_a_d6.mp4"
    cut = ["-ss", "10", "-i", str(source), "-t", "2", "-c", "copy", str(clip)]
    subprocess.run([ffmpeg, "-loglevel", "error", *cut], check=True)
    with av.open(str(clip)) as container:
        hidden = sum(packet.is_discard for packet in container.demux(video=0))
    assert hidden > 0
    info = probe_video(clip)
    report = DecodeReport()
    frames = list(iter_frames(clip, report=report))
    assert not report.damaged and "truncated" not in caplog.text
    assert info.frame_count == len(frames) >= 60
    assert info.first_frame_time_s == 0.0 == frames[0].time_s
    assert [frame.index for frame in frames] == list(range(len(frames)))
    # The clip's first second is d6's eleventh, picture for picture.
    original = list(iter_frames(source, start_s=10, end_s=11))
    assert len(original) == 30
    for frame, source_frame in zip(frames, original, strict=False):
        assert frame.time_s + 10 == pytest.approx(source_frame.time_s)
        assert np.array_equal(frame.rgb, source_frame.rgb)
