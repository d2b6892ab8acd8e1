"""VideoWriter on the real clips: frame count and rate, time stamps, trimmed audio, metadata,
atomicity."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.encode import (
    GifWriter,
    OutputNotWritableError,
    VideoWriter,
    output_size,
    resize_frame,
    side_by_side,
)
from faceswap_pipeline.video.probe import probe_video
from tests.helpers.audio_tracks import (
    AudioTrack,
    audio_rms,
    write_broadcast_recording,
    write_clip_with_audio,
)


def _encode(source: Path, output: Path, start_s=None, end_s=None, **kwargs) -> int:
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        width, height, rate = (
            stream.codec_context.width,
            stream.codec_context.height,
            stream.average_rate,
        )
    with VideoWriter(
        output,
        width=width,
        height=height,
        frame_rate=rate,
        audio_source=source,
        start_s=start_s,
        end_s=end_s,
        **kwargs,
    ) as writer:
        for frame in iter_frames(source, start_s=start_s, end_s=end_s):
            writer.write(frame.rgb, frame.time_s)
    return writer.frames_written


def _streams(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frame_times = [frame.time for frame in container.decode(video)]
    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate)
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_span = None
        if audio is not None:
            packets = [p for p in container.demux(audio) if p.pts is not None]
            first = min(p.pts for p in packets) * audio.time_base
            last = max((p.pts + p.duration) for p in packets) * audio.time_base
            audio_span = (float(first), float(last))
        return {
            "frame_times": frame_times,
            "rate": rate,
            "audio_span": audio_span,
            "metadata": dict(container.metadata),
        }


def test_full_clip_keeps_frames_rate_audio_and_metadata(shared_videos: Path, tmp_path: Path):
    source = shared_videos / "single_d18.mp4"
    output = tmp_path / "out.mp4"
    written = _encode(
        source, output, metadata={"comment": "synthetic face swap", "description": "model x"}
    )
    result = _streams(output)
    assert written == 216 and len(result["frame_times"]) == 216
    assert result["rate"] == pytest.approx(30, abs=0.01)
    video_end = result["frame_times"][-1] + 1 / 30
    audio_start, audio_end = result["audio_span"]
    assert abs(audio_end - video_end) <= 1 / 30
    assert result["metadata"]["comment"] == "synthetic face swap"
    assert result["metadata"]["description"] == "model x"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temporary file left beside it


def test_trimmed_span_covers_the_same_time_on_both_streams(shared_videos: Path, tmp_path: Path):
    output = tmp_path / "trim.mp4"
    written = _encode(shared_videos / "single_d18.mp4", output, start_s=2.0, end_s=4.5)
    result = _streams(output)
    assert written == len(result["frame_times"]) == 75  # 2.5 s at 30 fps
    assert result["frame_times"][0] == pytest.approx(0.0, abs=1e-3)
    audio_start, audio_end = result["audio_span"]
    assert abs(audio_start - 0.0) <= 1 / 30
    assert abs(audio_end - 2.5) <= 1 / 30


def test_no_audio_source_gives_no_audio_stream(shared_videos: Path, tmp_path: Path):
    output = tmp_path / "silent.mp4"
    _encode(shared_videos / "no_audio_d0.mp4", output)
    result = _streams(output)
    assert result["audio_span"] is None
    assert len(result["frame_times"]) == 78


def test_variable_frame_rate_time_stamps_survive(shared_videos: Path, tmp_path: Path):
    source = shared_videos / "multi_hamilton.mp4"
    output = tmp_path / "vfr.mp4"
    _encode(source, output)
    source_times = [frame.time_s for frame in iter_frames(source)]
    output_times = _streams(output)["frame_times"]
    assert len(output_times) == len(source_times) == 275
    np.testing.assert_allclose(output_times, source_times, atol=1e-4)


def test_colours_are_written_and_tagged_as_bt709_as_players_read_them(tmp_path: Path):
    # Players read an untagged HD video's colours as BT.709: written so and tagged so, a patch of
    # colour comes back as it went in, by the tags (as `iter_frames` reads) and by BT.709 alike.
    patch = np.zeros((720, 1280, 3), np.uint8)
    patch[...] = (200, 60, 30)
    output = tmp_path / "patch.mp4"
    with VideoWriter(output, width=1280, height=720, frame_rate=30) as writer:
        writer.write(patch, 0.0)
    with av.open(str(output)) as container:
        frame = next(container.decode(video=0))
    bt709, limited = 1, 1  # FFmpeg's codes
    assert frame.colorspace == frame.color_primaries == frame.color_trc == bt709
    assert frame.color_range == limited
    as_bt709 = frame.reformat(format="rgb24", src_colorspace="itu709").to_ndarray()
    for decoded in (as_bt709, next(iter_frames(output)).rgb):
        assert np.abs(decoded[360, 640].astype(int) - (200, 60, 30)).max() <= 2


def test_error_while_writing_leaves_nothing_at_the_final_path(shared_videos: Path, tmp_path: Path):
    output = tmp_path / "broken.mp4"
    frames = iter_frames(shared_videos / "single_d18.mp4", end_s=0.5)
    with (
        pytest.raises(RuntimeError, match="interrupted"),
        VideoWriter(output, width=480, height=480) as writer,
    ):
        for frame in frames:
            writer.write(frame.rgb, frame.time_s)
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_are_refused(tmp_path: Path):
    with VideoWriter(tmp_path / "x.mp4", width=64, height=48) as writer:
        with pytest.raises(ValueError, match="64x48"):
            writer.write(np.zeros((48, 60, 3), np.uint8), 0.0)
        writer.write(np.zeros((48, 64, 3), np.uint8), 0.0)
        with pytest.raises(ValueError, match="increase"):
            writer.write(np.zeros((48, 64, 3), np.uint8), 0.0)
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "y.mp4", width=63, height=48)


def test_unwritable_output_folder_is_a_clear_error(tmp_path: Path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    with pytest.raises(OutputNotWritableError, match="not writable"):
        VideoWriter(not_a_folder / "out.mp4", width=64, height=64)


def test_frame_helpers():
    left = np.zeros((40, 30, 3), np.uint8)
    right = np.full((40, 30, 3), 255, np.uint8)
    both = side_by_side(left, right)
    assert both.shape == (40, 60, 3) and both[0, 0, 0] == 0 and both[0, -1, 0] == 255
    assert resize_frame(left, 20, 10).shape == (10, 20, 3)
    assert output_size(480, 480, width=320) == (320, 320)
    assert output_size(640, 360, height=181) == (322, 180)
    with pytest.raises(ValueError, match="RGB"):
        side_by_side(left[..., 0], right)


def test_gif_writer_samples_and_shrinks(shared_videos: Path, tmp_path: Path):
    output = tmp_path / "clip.gif"
    with GifWriter(output, fps=5, max_width=120) as gif:
        for frame in iter_frames(shared_videos / "single_d18.mp4", end_s=2.0):
            gif.write(frame.rgb, frame.time_s)
    with Image.open(output) as image:
        assert image.n_frames == 10
        assert image.size == (120, 120)


def _audio_streams(path: Path) -> list[dict]:
    with av.open(str(path)) as container:
        return [
            {
                "codec": stream.codec_context.name,
                "layout": stream.codec_context.layout.name,
                "rate": stream.codec_context.sample_rate,
                "language": stream.metadata.get("language"),
            }
            for stream in container.streams.audio
        ]


def test_pcm_audio_of_an_avi_is_reencoded_to_aac(shared_videos: Path, tmp_path: Path):
    # A camera's or an old editor's AVI: Motion JPEG and PCM whose channels have no named order
    # ("2 channels"), which the AAC encoder refused: the conversion failed at its first frame.
    source = shared_videos / "single_d12.mp4"
    avi = write_clip_with_audio(
        source,
        tmp_path / "camera.avi",
        3.0,
        [AudioTrack("pcm_s16le", 44100)],
        video_codec="mjpeg",
        pix_fmt="yuvj420p",
    )
    assert _audio_streams(avi)[0]["layout"] == "2 channels"
    output = tmp_path / "out.mp4"
    _encode(avi, output, start_s=0.5, end_s=2.5)
    assert _audio_streams(output) == [
        {"codec": "aac", "layout": "stereo", "rate": 44100, "language": "und"}  # MP4's "none"
    ]
    audio_start, audio_end = _streams(output)["audio_span"]
    assert abs(audio_start) <= 1 / 25 and abs(audio_end - 2.0) <= 1 / 25
    # The sound itself, not silence: as loud as the source's (AAC's loss is small).
    assert audio_rms(output) == pytest.approx(audio_rms(avi), rel=0.1)
    assert audio_rms(output) > 0.1


def test_every_audio_track_is_kept_with_its_language(shared_videos: Path, tmp_path: Path):
    # A film's languages: players offer each; only the first was written before.
    source = shared_videos / "single_d12.mp4"
    film = write_clip_with_audio(
        source,
        tmp_path / "film.mkv",
        3.0,
        [
            AudioTrack("aac", 44100, language="eng"),
            AudioTrack("libopus", 48000, language="deu"),
            AudioTrack("pcm_s16le", 48000, "mono", language="fra"),
        ],
    )
    output = tmp_path / "out.mp4"
    _encode(film, output, end_s=2.0)
    assert _audio_streams(output) == [
        {"codec": "aac", "layout": "stereo", "rate": 44100, "language": "eng"},
        {"codec": "opus", "layout": "stereo", "rate": 48000, "language": "deu"},
        {"codec": "aac", "layout": "mono", "rate": 48000, "language": "fra"},  # PCM re-encoded
    ]
    for index in range(3):
        assert audio_rms(output, index) == pytest.approx(audio_rms(film, index), rel=0.1)


def test_audio_at_a_rate_aac_lacks_is_resampled(shared_videos: Path, tmp_path: Path):
    # A studio recorder's 192 kHz PCM: AAC's highest rate is 96 kHz.
    studio = write_clip_with_audio(
        shared_videos / "single_d12.mp4",
        tmp_path / "studio.mov",
        2.0,
        [AudioTrack("pcm_s24le", 192_000, "mono")],
    )
    output = tmp_path / "out.mp4"
    _encode(studio, output)
    assert _audio_streams(output) == [
        {"codec": "aac", "layout": "mono", "rate": 96_000, "language": "und"}
    ]
    assert audio_rms(output) == pytest.approx(audio_rms(studio), rel=0.1)


def test_a_recording_an_hour_into_its_clock_is_read_and_written_from_its_start(
    shared_videos: Path, tmp_path: Path
):
    # A broadcast recording's (or a camcorder's) MPEG-TS starts anywhere on its clock: here an
    # hour in. Its converted MP4 began with an hour of nothing (players showed 1:00:04), and a
    # trim "from 1 s" read no frames.
    recording = write_broadcast_recording(
        shared_videos / "single_d12.mp4", tmp_path / "recording.ts"
    )
    with av.open(str(recording)) as container:
        assert container.start_time / av.time_base == pytest.approx(3600, abs=0.05)
    assert probe_video(recording).first_frame_time_s == pytest.approx(0, abs=0.05)
    frames = list(iter_frames(recording))
    assert len(frames) == 100 and frames[0].time_s == pytest.approx(0, abs=0.05)

    whole = tmp_path / "whole.mp4"
    _encode(recording, whole)
    result = _streams(whole)
    with av.open(str(whole)) as container:
        assert container.duration / av.time_base == pytest.approx(4.0, abs=0.1)
    assert result["frame_times"][0] == pytest.approx(0, abs=0.05)
    assert result["audio_span"][0] == pytest.approx(0, abs=0.05)
    assert result["audio_span"][1] == pytest.approx(4.0, abs=0.1)

    trimmed = tmp_path / "trimmed.mp4"
    assert _encode(recording, trimmed, start_s=1.0, end_s=3.0) == 50  # 2 s at 25 fps
    result = _streams(trimmed)
    # (Its video starts 10 ms after its audio, as the recording's does.)
    assert result["frame_times"][0] == pytest.approx(0, abs=1 / 25)
    assert result["audio_span"][0] == pytest.approx(0, abs=1 / 25)
    assert result["audio_span"][1] == pytest.approx(2.0, abs=1 / 25)
    # The frames of that second on: the source's own frame 25 first.
    first = next(iter_frames(trimmed)).rgb.astype(int)
    assert np.abs(first - frames[25].rgb).mean() < 3.0
