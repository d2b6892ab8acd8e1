"""Media stored as a phone stores them, from the shared clips and photos: pictures turned sideways
with the turn to show them in the file (a video's display matrix, a photo's EXIF orientation),
iPhones' HEIC photos, and HDR video (HLG, PQ); and video of non-square pixels and interlaced
video, as camcorders store them."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.encode import VIDEO_TIME_BASE

# EXIF orientation 6: "turn the stored picture a quarter clockwise to show it".
_EXIF_ORIENTATION, _TURN_CLOCKWISE = 0x0112, 6


def _h264_stream(container: av.container.OutputContainer, width: int, height: int):
    """An H.264 stream (yuv420p, crf 14, the writer's fine time base) of this size."""
    video = container.add_stream("libx264", rate=30)
    video.time_base = video.codec_context.time_base = VIDEO_TIME_BASE
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"crf": "14"}
    return video


def _mux_pictures(container, video, pictures: Iterable[tuple[av.VideoFrame, float]]) -> None:
    """Encode each picture at its time (seconds) into `video`, then flush it."""
    for picture, time_s in pictures:
        picture.pts, picture.time_base = round(time_s / VIDEO_TIME_BASE), VIDEO_TIME_BASE
        for packet in video.encode(picture):
            container.mux(packet)
    for packet in video.encode(None):
        container.mux(packet)


def write_phone_clip(source: Path, output: Path, rotation_deg: int, end_s: float) -> Path:
    """Write `source`'s frames before `end_s` as a phone held upright films them: the middle of
    each, 3 wide to 4 high (a square 480 px source: 360×480), stored turned `rotation_deg`
    counter-clockwise, with a display matrix that tells players to turn it back `rotation_deg`
    clockwise (0, 90, 180 or 270), the source's time stamps and the source's audio of that span
    copied. H.264 at crf 14: the clip of rotation 0 is the one to compare against."""
    frames = list(iter_frames(source, end_s=end_s))
    height, width = frames[0].rgb.shape[:2]
    portrait_width = min(width, height * 3 // 4) // 2 * 2
    left = (width - portrait_width) // 2
    stored = [
        np.ascontiguousarray(
            np.rot90(frame.rgb[:, left : left + portrait_width], k=rotation_deg // 90)
        )
        for frame in frames
    ]
    with av.open(str(source)) as audio_input, av.open(str(output), mode="w") as container:
        video = _h264_stream(container, *stored[0].shape[1::-1])
        video.set_display_rotation(-rotation_deg)  # PyAV's angle is counter-clockwise
        audio = None
        if audio_input.streams.audio:
            audio = container.add_stream_from_template(audio_input.streams.audio[0])
        pictures = (av.VideoFrame.from_ndarray(picture, format="rgb24") for picture in stored)
        _mux_pictures(container, video, zip(pictures, (frame.time_s for frame in frames)))
        if audio is not None:
            for packet in audio_input.demux(audio_input.streams.audio[0]):
                if packet.pts is None or packet.pts * packet.time_base >= end_s:
                    continue
                packet.stream = audio
                container.mux(packet)
    return output


def write_phone_photos(source: Path, folder: Path) -> np.ndarray:
    """Write `source` (a photo) into `folder` three ways: `upright.jpg` as it is, and `phone.jpg`
    and `iphone.heic` stored turned a quarter counter-clockwise with EXIF orientation 6, as a phone
    takes a photo held upright (HEIC: an iPhone's).

    Returns:
        The upright picture, ``(H, W, 3)`` uint8 RGB.
    """
    from pillow_heif import register_heif_opener

    register_heif_opener()
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as photo:
        upright = photo.convert("RGB")
    upright.save(folder / "upright.jpg", quality=95)
    orientation = Image.Exif()
    orientation[_EXIF_ORIENTATION] = _TURN_CLOCKWISE
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    sideways.save(folder / "phone.jpg", quality=95, exif=orientation)
    sideways.save(folder / "iphone.heic", quality=95, exif=orientation.tobytes())
    return np.asarray(upright)


# Linear BT.709 RGB to linear BT.2020 RGB (BT.2087), and BT.2020's luma weights.
_BT709_TO_BT2020 = np.array(
    [[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]]
)
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593])


def _sdr_to_hdr_signal(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """SDR ``(H, W, 3)`` uint8 to the HDR signal (BT.2020, in [0, 1]) a camera filming the same
    light would record, SDR white placed at 203 nits (BT.2408)."""
    display = (rgb / 255.0) ** 2.4  # BT.1886: SDR display light, white = 1
    nits = display @ _BT709_TO_BT2020.T * 203.0
    if transfer == "pq":  # BT.2100's inverse EOTF
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        power = (nits / 10_000) ** m1
        return ((c1 + c2 * power) / (1 + c3 * power)) ** m2
    # HLG: the scene light a 1,000-nit display (system gamma 1.2) shows as `nits`, then the OETF.
    luminance = np.maximum(nits @ _BT2020_LUMA, 1e-9)
    scene = np.clip(((luminance / 1000) ** (-0.2 / 1.2))[..., None] * nits / 1000, 0, 1)
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    logarithmic = a * np.log(np.maximum(12 * scene - b, 1e-9)) + c
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), logarithmic)


def write_hdr_clip(
    source: Path, output: Path, transfer: str, end_s: float, rotation_deg: int = 0
) -> Path:
    """Write `source`'s frames before `end_s` as a phone films HDR: HEVC 10-bit, BT.2020, tagged
    HLG (`transfer="hlg"`, an iPhone's) or PQ (`"pq"`), the same light as the SDR source shows at
    the same times; stored turned as `write_phone_clip` does when `rotation_deg` is not 0 (an
    iPhone held upright: HLG, 90)."""
    frames = list(iter_frames(source, end_s=end_s))
    trc = {"hlg": 18, "pq": 16}[transfer]  # FFmpeg's arib-std-b67 and smpte2084
    bt2020, limited = 9, 1
    with av.open(str(output), mode="w") as container:
        video = container.add_stream("libx265", rate=30)
        video.time_base = video.codec_context.time_base = VIDEO_TIME_BASE
        video.height, video.width = np.rot90(frames[0].rgb, k=rotation_deg // 90).shape[:2]
        video.pix_fmt = "yuv420p10le"
        video.set_display_rotation(-rotation_deg)
        tags = {"hlg": "arib-std-b67", "pq": "smpte2084"}[transfer]
        video.options = {
            "crf": "12",
            "x265-params": f"log-level=error:colorprim=bt2020:transfer={tags}:colormatrix=bt2020nc",
        }
        context = video.codec_context
        context.color_primaries, context.color_trc = bt2020, trc
        context.colorspace, context.color_range = bt2020, limited
        pictures = []
        for frame in frames:
            stored = np.rot90(frame.rgb, k=rotation_deg // 90).astype(np.float64)
            signal = _sdr_to_hdr_signal(stored, transfer)
            codes = np.ascontiguousarray(np.round(signal * 65535).astype(np.uint16))
            picture = av.VideoFrame.from_ndarray(codes, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace="bt2020", dst_color_range=limited
            )
            picture.color_primaries, picture.color_trc = bt2020, trc
            picture.colorspace, picture.color_range = bt2020, limited
            pictures.append(picture)
        _mux_pictures(container, video, zip(pictures, (frame.time_s for frame in frames)))
    return output


def write_camcorder_clip(source: Path, output: Path, end_s: float) -> Path:
    """Write `source`'s frames before `end_s` as an HDV camcorder stores 16:9 in 1440×1080: each
    picture squeezed to 3/4 of its width, with a sample aspect ratio of 4:3 that tells players to
    stretch it back. H.264 at crf 14."""
    import cv2

    frames = list(iter_frames(source, end_s=end_s))
    height, width = frames[0].rgb.shape[:2]
    squeezed_width = width * 3 // 4
    with av.open(str(output), mode="w") as container:
        video = _h264_stream(container, squeezed_width, height)
        video.codec_context.sample_aspect_ratio = Fraction(4, 3)
        pictures = [
            av.VideoFrame.from_ndarray(
                cv2.resize(frame.rgb, (squeezed_width, height), interpolation=cv2.INTER_AREA),
                format="rgb24",
            )
            for frame in frames
        ]
        _mux_pictures(container, video, zip(pictures, (frame.time_s for frame in frames)))
    return output


def write_interlaced_clip(source: Path, output: Path, end_s: float) -> Path:
    """Write `source`'s frames before `end_s` as an interlaced camcorder films: each stored frame
    two fields filmed apart, bottom field first as DV stores them (its odd rows, shown first, from
    the source's frame 2k; its even rows from frame 2k + 1), at frame 2k's time (half the source's
    frame rate), coded interlaced (H.264 at crf 14). Bottom first because FFmpeg's libx264 takes
    the field order from each frame's flags, which PyAV cannot set: unflagged means bottom."""
    frames = list(iter_frames(source, end_s=end_s))
    with av.open(str(output), mode="w") as container:
        video = _h264_stream(container, *frames[0].rgb.shape[1::-1])
        video.options = {"crf": "14", "x264-params": "interlaced=1:bff=1"}
        pictures = []
        for first, second in zip(frames[::2], frames[1::2], strict=False):
            woven = second.rgb.copy()
            woven[1::2] = first.rgb[1::2]
            pictures.append((av.VideoFrame.from_ndarray(woven, format="rgb24"), first.time_s))
        _mux_pictures(container, video, pictures)
    return output


def combing(rgb: np.ndarray) -> float:
    """How far each row lies from the mean of its neighbours, in grey levels: small for a whole
    picture, large where two fields filmed apart are woven (every moving edge combed)."""
    grey = rgb.astype(np.float32).mean(axis=2)
    return float(np.abs(grey[1:-1] - (grey[:-2] + grey[2:]) / 2).mean())
