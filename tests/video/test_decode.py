"""Probing and decoding the real clips: counts, time stamps, sampling, windows, damage."""

from __future__ import annotations

import pytest

from faceswap_pipeline.video.decode import DecodeReport, iter_frames
from faceswap_pipeline.video.probe import NotAVideoError, probe_video


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


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"start_s": -1}, "start_s"), ({"start_s": 3, "end_s": 2}, "after start_s"), ({"sample_fps": 0}, "sample_fps"),
])
def test_bad_windows(shared_videos, kwargs, message):
    with pytest.raises(ValueError, match=message):
        next(iter_frames(shared_videos / "single_d18.mp4", **kwargs))


def test_not_a_video(tmp_path, shared_photos):
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    with pytest.raises(NotAVideoError, match="notes.mp4"):
        probe_video(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(NotAVideoError, match="empty"):
        probe_video(empty)
    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "missing.mp4")


def test_damaged_stream_yields_the_good_frames_and_reports(tmp_path, shared_videos):
    # Corrupt the second half of the bytes (the index stays readable): decoding keeps what it can.
    data = bytearray((shared_videos / "single_d18.mp4").read_bytes())
    moov = data.find(b"moov")
    start = len(data) // 2 if moov < len(data) // 2 else 64 * 1024
    for i in range(start, min(len(data), start + 40000)):
        data[i] = 0
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    report = DecodeReport()
    frames = list(iter_frames(damaged, report=report))
    assert 0 < len(frames) <= 216
    assert report.frames_yielded == len(frames)
