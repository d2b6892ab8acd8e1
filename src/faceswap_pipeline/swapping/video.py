"""Swapping the faces of a whole video file or photo with a swap model: the model wrapped as a swap
function, the converter built from `SwapSettings`, the output framed, encoded and marked synthetic.

Imports torch, PyAV, OpenCV, onnxruntime and dlib at the top; the conversion nodes import this
module inside their functions so that the Kedro CLI starts fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from faceswap_pipeline import __version__
from faceswap_pipeline.compositing import draw_label
from faceswap_pipeline.errors import BadInputError
from faceswap_pipeline.model import SwapModel
from faceswap_pipeline.model.inference import choose_device, choose_precision
from faceswap_pipeline.progress import ProgressLog
from faceswap_pipeline.sources import names_a_url
from faceswap_pipeline.swapping.faces import (
    FaceSwapConverter,
    FrameResult,
    ModelGeometry,
    SwapFunction,
)
from faceswap_pipeline.swapping.settings import OutputSettings, SwapSettings
from faceswap_pipeline.video.background import BackgroundWriter, prefetched
from faceswap_pipeline.video.decode import DecodeReport, VideoFrame, iter_frames
from faceswap_pipeline.video.encode import (
    GifWriter,
    VideoWriter,
    output_size,
    resize_frame,
    side_by_side,
)
from faceswap_pipeline.video.photos import NotAPhotoError, read_photo
from faceswap_pipeline.video.probe import probe_video

logger = logging.getLogger(__name__)

REPORT_COLUMNS = [
    "frame_index",
    "time_s",
    "faces_found",
    "faces_swapped",
    "faces_skipped",
    "skip_reasons",
]


def make_swap_function(
    model: SwapModel, to: str, device: torch.device, dtype: torch.dtype = torch.float32
) -> SwapFunction:
    """Wrap a `SwapModel` as a `SwapFunction`: (N, S, S, 3) uint8 RGB in, the swapped faces out.

    `dtype` bfloat16 runs the model under autocast (weights stay float32).
    """
    model = model.to(device).eval()
    autocast = dtype != torch.float32

    def swap_faces(faces: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=autocast):
            batch = torch.from_numpy(faces).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            swapped = model.swap(batch, to).float()
            return (swapped * 255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    return swap_faces


def model_fingerprint(model: SwapModel) -> str:
    """A short hash of the model's weights, naming exactly which model made an output."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def start_s_past_the_end(start_s: float, video: str, duration_s: float) -> str:
    """The message for a `conversion.start_s` at or past the end of the video it converts."""
    return (
        f"conversion.start_s ({start_s} s) is past the end of {video} ({duration_s:.2f} s); give a"
        " start within the video"
    )


def provenance_tags(
    model: SwapModel,
    *,
    direction: str,
    precision: str,
    source: str,
    run_id: str | None,
    source_mouth_kept: bool = False,
    source_file: str | None = None,
) -> dict[str, str]:
    """Container tags saying that the video is synthetic and what made it.

    Args:
        model: the swap model (its architecture and a fingerprint of its weights are recorded).
        direction: `a_to_b` or `b_to_a`.
        precision: the `precision` setting the model ran with.
        source: the source video's path (only its name is kept) or URL.
        run_id: the MLflow run that made the video, None without one.
        source_mouth_kept: the source face's own mouth shows through the swapped face
            (`compositing.keep_source_mouth`).
        source_file: the name of the file read, where it is not `source`'s: a URL's download
            (`<id>-<hash>-120s-180s.mp4` for a section of its video), which the evaluation reads.
    """
    config = model.config
    made_by = {
        "synthetic": True,
        "generator": f"faceswap_pipeline {__version__}",
        "model": {
            "architecture": config.architecture,
            "input_size": config.input_size,
            "width": config.width,
            "weights_sha256_16": model_fingerprint(model),
        },
        "mlflow_run_id": run_id,
        "direction": direction,
        "precision": precision,
        "source": source if names_a_url(source) else Path(source).name,
        "source_mouth_kept": source_mouth_kept,
        **({"source_file": source_file} if source_file and names_a_url(source) else {}),
    }
    mouth = ", the source's own mouth kept" if source_mouth_kept else ""
    return {
        "title": "SYNTHETIC face-swapped video",
        "comment": (
            f"SYNTHETIC: faces replaced by a face-swap model ({config.architecture}, "
            f"weights {made_by['model']['weights_sha256_16']}, MLflow run {run_id or 'none'}"
            f"{mouth}); not a real recording"
        ),
        "description": json.dumps(made_by, sort_keys=True),
    }


def build_converter(
    model: SwapModel,
    references: np.ndarray | None,
    settings: SwapSettings,
    target: str,
    alignment_margin: float,
) -> FaceSwapConverter:
    """The frame converter for these settings: detector, geometry, swap function.

    Args:
        model: the swap model.
        references: (R, 128) descriptors of the source person; None with `identity.swap_all_faces`.
        settings: the engine's settings.
        target: the decoder to swap into, `a` or `b`.
        alignment_margin: face extraction's `margin`: the model must see faces cut as in training.
    """
    device = choose_device(settings.device)
    config = model.config
    geometry = ModelGeometry(
        input_size=config.input_size,
        coverage=config.coverage,
        crop_size=config.crop_size,
        margin=alignment_margin,
    )
    detector = settings.detection.build(
        batch_size=settings.batch_size, intra_op_threads=settings.cpu_threads
    )
    if device.type == "cpu" and settings.cpu_threads:
        # Decoding and encoding run in their own threads: more compute threads than this only
        # contend for the cores (OpenMP's spinning makes that much slower, not faster).
        torch.set_num_threads(settings.cpu_threads)
    dtype = choose_precision(settings.precision, device)
    logger.info("the swap model runs on %s in %s", device, str(dtype).removeprefix("torch."))
    swap_faces = make_swap_function(model, target, device, dtype)
    return FaceSwapConverter(swap_faces, geometry, detector, references, settings)


def _report_row(result: FrameResult) -> dict:
    return {
        "frame_index": result.index,
        "time_s": result.time_s,
        "faces_found": result.faces_found,
        "faces_swapped": result.faces_swapped,
        "faces_skipped": sum(result.skipped.values()),
        "skip_reasons": ";".join(
            f"{reason}={count}" for reason, count in sorted(result.skipped.items())
        ),
    }


@dataclass
class OutputFramer:
    """Turns a converted frame into the output frame: label, resize, side by side."""

    width: int
    height: int
    side_by_side: bool
    label_text: str | None

    @property
    def frame_size(self) -> tuple[int, int]:
        return (self.width * 2 if self.side_by_side else self.width), self.height

    def __call__(self, original: np.ndarray, swapped: np.ndarray) -> np.ndarray:
        swapped = resize_frame(swapped, self.width, self.height)
        if self.label_text:
            swapped = draw_label(swapped, self.label_text)
        if self.side_by_side:
            return side_by_side(resize_frame(original, self.width, self.height), swapped)
        return swapped


# Frames decoded ahead, and converted frames waiting for the encoder (a batch's worth, so that
# handing over a finished batch rarely blocks the analysis).
_QUEUE_FRAMES = 8
_ENCODE_QUEUE_FRAMES = 16


def _framer(output: OutputSettings, source_width: int, source_height: int) -> OutputFramer:
    width, height = output_size(source_width, source_height, output.width, output.height)
    label = output.label_text if output.label else None
    return OutputFramer(width, height, output.side_by_side, label)


def convert_video_file(
    video: Path,
    output: Path,
    converter: FaceSwapConverter,
    metadata: dict[str, str],
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Convert one video file into `output` (H.264, the source's time stamps and trimmed audio).

    Args:
        video: the source video.
        output: where to write; the file appears only when complete.
        converter: from `build_converter` (its `settings.output`: size, label, side by side, H.264).
        metadata: container tags (`provenance_tags`).
        start_s, end_s: the span to convert, in seconds of the source; None: its start, its end.
        show_progress: show progress: a bar with frames/s on a terminal, else a log line at every
            tenth of the frames.

    Returns:
        The per-frame report (`REPORT_COLUMNS`).

    Raises:
        FileNotFoundError, NotAVideoError: the video is missing or unreadable.
        OutputNotWritableError: the output folder cannot be written.
        BadInputError: the span holds no frames.
    """
    info = probe_video(video)
    output_settings = converter.settings.output
    framer = _framer(output_settings, info.width, info.height)
    if start_s is not None and start_s >= info.duration_s:
        raise BadInputError(start_s_past_the_end(start_s, video.name, info.duration_s))
    span_s = (end_s or info.duration_s) - (start_s or 0.0)
    expected_frames = max(1, round(min(span_s, info.duration_s) * info.avg_fps))
    decode_report = DecodeReport()
    rows: list[dict] = []
    width, height = framer.frame_size
    started = time.perf_counter()
    with (
        VideoWriter(
            output,
            width=width,
            height=height,
            frame_rate=info.nominal_fps or info.avg_fps,
            audio_source=video,
            start_s=start_s,
            end_s=end_s,
            metadata=metadata,
            crf=output_settings.crf,
            preset=output_settings.preset,
        ) as writer,
        tqdm(
            total=expected_frames,
            unit="frame",
            desc=f"converting {video.name}",
            # A bar on a terminal only; in a log file its redraws are noise: ten lines instead.
            disable=not (show_progress and sys.stderr.isatty()),
        ) as bar,
    ):
        decoded = iter_frames(video, start_s=start_s, end_s=end_s, report=decode_report)
        frames = prefetched(decoded, _QUEUE_FRAMES)
        with BackgroundWriter(writer.write, _ENCODE_QUEUE_FRAMES) as background:
            progress = (
                ProgressLog(f"converting {video.name}", expected_frames, every_s=None, tenths=True)
                if show_progress and bar.disable
                else None
            )
            for result in converter.run(frames):
                background.write(framer(result.original, result.swapped), result.time_s)
                rows.append(_report_row(result))
                bar.update(1)
                if progress is not None:
                    progress.update(1)
        if not rows:
            raise ValueError(
                f"no frames of {video.name} between {start_s or 0} s and {end_s or 'the end'}; "
                "check conversion.start_s and duration_s"
            )
    elapsed = time.perf_counter() - started
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    report.attrs["frames_per_s"] = len(rows) / elapsed if elapsed > 0 else float("nan")
    if decode_report.damaged:
        logger.warning(
            "%s is damaged: converted the %d frames before the damage (%s)",
            video.name,
            len(rows),
            decode_report.error,
        )
    return report


def summarise(report: pd.DataFrame) -> dict[str, float]:
    """The report's totals, as MLflow metrics."""
    reasons: Counter = Counter()
    for text in report["skip_reasons"]:
        for part in filter(None, str(text).split(";")):
            reason, count = part.split("=")
            reasons[reason] += int(count)
    summary = {
        "conversion/frames": float(len(report)),
        "conversion/frames_with_face": float((report["faces_found"] > 0).sum()),
        "conversion/frames_swapped": float((report["faces_swapped"] > 0).sum()),
        "conversion/faces_found": float(report["faces_found"].sum()),
        "conversion/faces_swapped": float(report["faces_swapped"].sum()),
        "conversion/faces_skipped": float(report["faces_skipped"].sum()),
    }
    summary.update(
        {f"conversion/skipped_{reason}": float(count) for reason, count in reasons.items()}
    )
    if "frames_per_s" in report.attrs:
        summary["conversion/frames_per_s"] = float(report.attrs["frames_per_s"])
    return summary


def write_gif(video: Path, output: Path, fps: float, max_width: int, max_seconds: float) -> Path:
    """A GIF preview of the first `max_seconds` of a video."""
    with GifWriter(output, fps=fps, max_width=max_width) as gif:
        first_time = None
        for frame in iter_frames(video):
            first_time = frame.time_s if first_time is None else first_time
            if frame.time_s - first_time >= max_seconds:
                break
            gif.write(frame.rgb, frame.time_s)
    return output


def convert_photo(path: Path, converter: FaceSwapConverter, source_person: str) -> np.ndarray:
    """Swap the source person's face in one photo (`source_person` names them in a warning).

    Returns:
        (H, W, 3) uint8 RGB, upright (the photo's EXIF orientation applied), side by side when
        `converter.settings.output` asks for it.
    """
    try:
        rgb = read_photo(path)  # upright: a phone's photo is stored sideways, as its EXIF says
    except NotAPhotoError as error:
        detail = f"{error.detail}, or take it out of conversion.photos"
        raise NotAPhotoError(path, detail) from error
    converter.reset()
    result = next(converter.run([VideoFrame(index=0, time_s=0.0, rgb=rgb)]))
    if result.faces_swapped == 0:
        logger.warning(
            "%s: no face of %s found; the photo is left as it is", path.name, source_person
        )
    output = converter.settings.output
    framer = _framer(output, rgb.shape[1], rgb.shape[0])
    if output.width is None and output.height is None:
        # Photos keep their size exactly (only H.264 needs even sizes).
        framer.width, framer.height = rgb.shape[1], rgb.shape[0]
    return framer(result.original, result.swapped)
