"""Converting a video file or photos with a swap model: the work behind the conversion nodes.

Imports torch, PyAV, OpenCV, onnxruntime and dlib at the top; `nodes.py` imports this module inside its
functions so that the Kedro CLI starts fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from faceswap_pipeline import __version__
from faceswap_pipeline.compositing import draw_label
from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.model import SwapModel
from faceswap_pipeline.model.inference import choose_device, choose_precision
from faceswap_pipeline.pipelines.conversion.converter import (
    ConversionSettings,
    FaceSwapConverter,
    FrameResult,
    ModelGeometry,
    SwapFunction,
)
from faceswap_pipeline.pipelines.conversion.params import ConversionParams
from faceswap_pipeline.video.decode import DecodeReport, VideoFrame, iter_frames
from faceswap_pipeline.video.encode import (
    GifWriter,
    VideoWriter,
    output_size,
    resize_frame,
    side_by_side,
)
from faceswap_pipeline.video.probe import probe_video

logger = logging.getLogger(__name__)

REPORT_COLUMNS = ["frame_index", "time_s", "faces_found", "faces_swapped", "faces_skipped", "skip_reasons"]


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


def provenance_tags(model: SwapModel, params: ConversionParams, source: str, run_id: str | None) -> dict[str, str]:
    """Container tags saying that the video is synthetic and what made it."""
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
        "direction": params.direction,
        "precision": params.precision,
        "source": Path(source).name if "://" not in source else source,
    }
    return {
        "title": "SYNTHETIC face-swapped video",
        "comment": (
            f"SYNTHETIC: faces replaced by a face-swap model ({config.architecture}, "
            f"weights {made_by['model']['weights_sha256_16']}, MLflow run {run_id or 'none'}); "
            "not a real recording"
        ),
        "description": json.dumps(made_by, sort_keys=True),
    }


def build_converter(
    model: SwapModel, references: np.ndarray | None, params: ConversionParams, alignment_margin: float
) -> FaceSwapConverter:
    """The frame converter for these parameters: detector, geometry, swap function, settings.

    `alignment_margin` is face extraction's `margin`: the model must see faces cut as in training.
    """
    device = choose_device(params.device)
    config = model.config
    geometry = ModelGeometry(
        input_size=config.input_size,
        coverage=config.coverage,
        crop_size=config.crop_size,
        margin=alignment_margin,
    )
    detector = RetinaFaceDetector(
        det_size=params.detection.det_size,
        score_threshold=params.detection.score_threshold,
        batch_size=params.batch_size,
        providers=params.detection.providers,
        intra_op_threads=params.cpu_threads or None,
    )
    if device.type == "cpu" and params.cpu_threads:
        # Decoding and encoding run in their own threads: more compute threads than this only
        # contend for the cores (OpenMP's spinning makes that much slower, not faster).
        torch.set_num_threads(params.cpu_threads)
    settings = ConversionSettings(
        swap_all_faces=params.identity.swap_all_faces,
        identity_threshold=params.identity.threshold,
        identity_samples=params.identity.samples_per_track,
        identity_every=params.identity.every,
        min_score=params.detection.min_score,
        min_face_size=params.detection.min_face_size,
        detect_every=params.detection.every_n_frames,
        batch_size=params.batch_size,
        smoothing_min_cutoff_hz=params.smoothing.min_cutoff_hz,
        smoothing_beta=params.smoothing.beta,
        mask_erosion=params.compositing.mask_erosion,
        mask_feather=params.compositing.mask_feather,
        border_fade=params.compositing.border_fade,
        colour_transfer=params.compositing.colour_transfer,
        blend=params.compositing.blend,
    )
    dtype = choose_precision(params.precision, device)
    logger.info("the swap model runs on %s in %s", device, str(dtype).removeprefix("torch."))
    swap_faces = make_swap_function(model, params.target, device, dtype)
    return FaceSwapConverter(swap_faces, geometry, detector, references, settings)


def _report_row(result: FrameResult) -> dict:
    return {
        "frame_index": result.index,
        "time_s": result.time_s,
        "faces_found": result.faces_found,
        "faces_swapped": result.faces_swapped,
        "faces_skipped": sum(result.skipped.values()),
        "skip_reasons": ";".join(f"{reason}={count}" for reason, count in sorted(result.skipped.items())),
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


# Frames decoded ahead, and converted frames waiting for the encoder (a batch's worth, so that handing
# over a finished batch rarely blocks the analysis).
_QUEUE_FRAMES = 8
_ENCODE_QUEUE_FRAMES = 16
_END = object()


def prefetch(items: Iterator, depth: int = _QUEUE_FRAMES) -> Iterator:
    """Run an iterator (the decoder) in a background thread, `depth` items ahead.

    PyAV releases the GIL while decoding, so decoding overlaps detection and the model. An error in
    the thread is raised in the consumer.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
        except BaseException as error:  # handed to the consumer
            buffer.put(_Failure(error))
        finally:
            buffer.put(_END)

    thread = threading.Thread(target=produce, name="decode", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


@dataclass
class _Failure:
    error: BaseException


class BackgroundWriter:
    """Feeds a `VideoWriter` from a background thread so that encoding overlaps the next frames' work.

    Errors in the thread are raised by the next `write` or on leaving the `with` block.
    """

    def __init__(self, writer: VideoWriter, depth: int = _ENCODE_QUEUE_FRAMES) -> None:
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._consume, name="encode", daemon=True)

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._queue.put(_END)
        self._thread.join()
        if self._error is not None and exc_type is None:
            raise self._error

    def _consume(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._writer.write(*item)
                except BaseException as error:  # raised in the caller's thread
                    self._error = error

    def write(self, rgb: np.ndarray, time_s: float) -> None:
        """Queue one frame (see `VideoWriter.write`)."""
        if self._error is not None:
            raise self._error
        self._queue.put((rgb, time_s))


def _framer(params: ConversionParams, source_width: int, source_height: int) -> OutputFramer:
    width, height = output_size(source_width, source_height, params.output.width, params.output.height)
    label = params.output.label_text if params.output.label else None
    return OutputFramer(width, height, params.output.side_by_side, label)


def convert_video_file(
    video: Path,
    output: Path,
    converter: FaceSwapConverter,
    params: ConversionParams,
    metadata: dict[str, str],
    *,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Convert one video file into `output` (H.264, the source's time stamps and trimmed audio).

    Args:
        video: the source video.
        output: where to write; the file appears only when complete.
        converter: from `build_converter`.
        params: the conversion parameters (span, output size, label, side by side).
        metadata: container tags (`provenance_tags`).
        show_progress: show a progress bar with frames/s.

    Returns:
        The per-frame report (`REPORT_COLUMNS`).

    Raises:
        FileNotFoundError, NotAVideoError: the video is missing or unreadable.
        OutputNotWritableError: the output folder cannot be written.
        ValueError: the span holds no frames.
    """
    info = probe_video(video)
    framer = _framer(params, info.width, info.height)
    start_s, end_s = params.start_s, params.end_s
    if start_s is not None and start_s >= info.first_frame_time_s + info.duration_s:
        raise ValueError(
            f"conversion.start_s ({start_s} s) is past the end of {video.name} ({info.duration_s:.2f} s)"
        )
    span_s = (end_s or info.duration_s) - (start_s or 0.0)
    expected_frames = max(1, round(min(span_s, info.duration_s) * info.avg_fps))
    decode_report = DecodeReport()
    rows: list[dict] = []
    width, height = framer.frame_size
    started = time.perf_counter()
    with (
        VideoWriter(
            output, width=width, height=height, frame_rate=info.nominal_fps or info.avg_fps,
            audio_source=video, start_s=start_s, end_s=end_s, metadata=metadata,
            crf=params.output.crf, preset=params.output.preset,
        ) as writer,
        tqdm(total=expected_frames, unit="frame", desc=f"converting {video.name}", disable=not show_progress) as bar,
    ):
        frames = prefetch(iter_frames(video, start_s=start_s, end_s=end_s, report=decode_report))
        with BackgroundWriter(writer) as background:
            for result in converter.run(frames):
                background.write(framer(result.original, result.swapped), result.time_s)
                rows.append(_report_row(result))
                bar.update(1)
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
            video.name, len(rows), decode_report.error,
        )
    return report


def iter_photo_frames(photos: dict[str, np.ndarray]) -> Iterator[tuple[str, VideoFrame]]:
    """Photos as single frames (each its own 'video': no tracking across photos)."""
    for index, (name, rgb) in enumerate(sorted(photos.items())):
        yield name, VideoFrame(index=index, time_s=float(index), rgb=np.ascontiguousarray(rgb))


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
    summary.update({f"conversion/skipped_{reason}": float(count) for reason, count in reasons.items()})
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


def convert_photo(path: Path, converter: FaceSwapConverter, params: ConversionParams) -> np.ndarray:
    """Swap the source person's face in one photo; returns (H, W, 3) uint8 RGB (side by side if asked)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} is not a photo that can be read ({error}); remove it from conversion.photos") from error
    converter.reset()
    result = next(converter.run([VideoFrame(index=0, time_s=0.0, rgb=rgb)]))
    if result.faces_swapped == 0:
        logger.warning("%s: no face of %s found; the photo is left as it is", path.name, params.source_person)
    framer = _framer(params, rgb.shape[1], rgb.shape[0])
    if params.output.width is None and params.output.height is None:
        # Photos keep their size exactly (only H.264 needs even sizes).
        framer.width, framer.height = rgb.shape[1], rgb.shape[0]
    return framer(result.original, result.swapped)
