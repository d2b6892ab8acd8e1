"""Media stored as a phone stores them, from the shared clips and photos: pictures turned sideways
with the turn to show them in the file (a video's display matrix, a photo's EXIF orientation), and
iPhones' HEIC photos."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.encode import VIDEO_TIME_BASE

# EXIF orientation 6: "turn the stored picture a quarter clockwise to show it".
_EXIF_ORIENTATION, _TURN_CLOCKWISE = 0x0112, 6


def write_phone_clip(source: Path, output: Path, rotation_deg: int, end_s: float) -> Path:
    """Write `source`'s frames before `end_s` as a phone does: each picture stored turned
    `rotation_deg` counter-clockwise, with a display matrix that tells players to turn it back
    `rotation_deg` clockwise (0, 90, 180 or 270), the source's time stamps and the source's audio
    of that span copied. H.264 at crf 14: the clip of rotation 0 is the one to compare against."""
    frames = list(iter_frames(source, end_s=end_s))
    stored = [np.ascontiguousarray(np.rot90(frame.rgb, k=rotation_deg // 90)) for frame in frames]
    with av.open(str(source)) as audio_input, av.open(str(output), mode="w") as container:
        video = container.add_stream("libx264", rate=30)
        video.time_base = video.codec_context.time_base = VIDEO_TIME_BASE
        video.height, video.width = stored[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "14"}
        video.set_display_rotation(-rotation_deg)  # PyAV's angle is counter-clockwise
        audio = None
        if audio_input.streams.audio:
            audio = container.add_stream_from_template(audio_input.streams.audio[0])
        for frame, picture in zip(frames, stored, strict=True):
            encoded = av.VideoFrame.from_ndarray(picture, format="rgb24")
            encoded.pts, encoded.time_base = round(frame.time_s / VIDEO_TIME_BASE), VIDEO_TIME_BASE
            for packet in video.encode(encoded):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
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
