"""Conversion speed: frames/s of the whole conversion of a clip against the same decode and encode
alone.

    .venv/bin/python benchmarks/conversion_speed.py [--video PATH] [--model
    data/06_models/swap_model]
        [--width 0.5] [--seconds N] [--repeat 3] [--set compositing.blend=seamless ...]

The limit is decoding every frame to RGB and encoding it (H.264 with the audio copied), with nothing
in between. The conversion adds detection, tracking, identity, alignment, the model and compositing.
Without `--model` a faceit `original` model of `--width` with untrained weights is timed (speed does
not depend on the weights). The two runs alternate `--repeat` times and the medians are compared,
since a shared machine's speed drifts by ±10% from one run to the next. Prints a table with the
process's CPU time per frame as well; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from faceswap_pipeline.faces.detection import RetinaFaceDetector
from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.model import ModelConfig, SwapModel, load_swap_model
from faceswap_pipeline.model.inference import choose_device, choose_precision
from faceswap_pipeline.pipelines.conversion.params import parse_params
from faceswap_pipeline.swapping import video as swapping
from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.encode import VideoWriter
from faceswap_pipeline.video.probe import probe_video

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "videos" / "person_a_d6.mp4"


def decode_encode_only(video: Path, output: Path, end_s: float | None) -> int:
    """Decode every frame to RGB and encode it with the audio, nothing else; returns the frames
    written."""
    info = probe_video(video)
    with VideoWriter(
        output,
        width=info.width,
        height=info.height,
        frame_rate=info.nominal_fps,
        audio_source=video,
        end_s=end_s,
    ) as writer:
        for frame in iter_frames(video, end_s=end_s):
            writer.write(frame.rgb, frame.time_s)
    return writer.frames_written


def timed(run: Callable[[], int]) -> tuple[float, float]:
    """(frames/s, CPU ms per frame of the whole process) of `run`, which returns its frame count."""
    cpu_before, started = _process_cpu_s(), time.perf_counter()
    frames = run()
    elapsed, cpu = time.perf_counter() - started, _process_cpu_s() - cpu_before
    return frames / elapsed, cpu / frames * 1000.0


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def identity_of(video: Path) -> torch.Tensor:
    frame = next(iter_frames(video))
    found = RetinaFaceDetector(det_size=320).detect([frame.rgb])[0]
    return face_descriptor(frame.rgb, landmarks68(frame.rgb, found.boxes[0]))[None]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--model", type=Path, default=None, help="a trained swap model folder")
    parser.add_argument(
        "--width",
        type=float,
        default=0.5,
        help="width of the untrained model timed when no --model is given",
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="convert only the first N seconds"
    )
    parser.add_argument("--margin", type=float, default=0.2, help="face_extraction.margin")
    parser.add_argument(
        "--set", nargs="*", default=[], help="conversion parameters, e.g. detection.det_size=160"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="alternating runs of each; medians are compared"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    if args.model is not None:
        model, _ = load_swap_model(args.model)
        model_name = f"{args.model} ({model.config.architecture}, width {model.config.width})"
    else:
        model = SwapModel(
            ModelConfig(architecture="original", input_size=64, width=args.width)
        ).eval()
        model_name = f"original 64 px, width {args.width} (untrained weights)"
    overrides: dict = {"video": str(args.video), "duration_s": args.seconds}
    for item in args.set:
        key, value = item.split("=", 1)
        *parents, leaf = key.split(".")
        target = overrides
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    params = parse_params(overrides)
    references = identity_of(args.video)

    converter = swapping.build_converter(model, references, params, params.target, args.margin)
    reports: list[pd.DataFrame] = []
    with tempfile.TemporaryDirectory() as folder:

        def limit() -> int:
            return decode_encode_only(args.video, Path(folder) / "plain.mp4", params.end_s)

        def conversion() -> int:
            converter.reset()  # each run starts as a fresh video would (no tracks carried over)
            reports.append(
                swapping.convert_video_file(
                    args.video,
                    Path(folder) / "swapped.mp4",
                    converter,
                    {"comment": "benchmark"},
                    start_s=params.start_s,
                    end_s=params.end_s,
                    show_progress=False,
                )
            )
            return len(reports[-1])

        runs = [(timed(limit), timed(conversion)) for _ in range(args.repeat)]
    report = reports[-1]
    limit_runs, conversion_runs = zip(*runs, strict=True)
    limit_fps, limit_cpu = (statistics.median(values) for values in zip(*limit_runs, strict=True))
    conversion_fps, conversion_cpu = (
        statistics.median(values) for values in zip(*conversion_runs, strict=True)
    )

    table = pd.DataFrame(
        [
            ("decode + encode only (the limit)", limit_fps, 1.0, limit_cpu),
            ("whole conversion", conversion_fps, conversion_fps / limit_fps, conversion_cpu),
        ],
        columns=["run", "frames/s", "of the limit", "CPU ms/frame"],
    )
    precision = str(choose_precision(params.precision, choose_device(params.device)))
    print(
        f"video: {args.video.name}, {len(report)} frames; model: {model_name}; "
        f"{precision.removeprefix('torch.')}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"faces swapped in {int((report['faces_swapped'] > 0).sum())} of {len(report)} frames;"
        f" det_size {params.detection.det_size}, batch {params.batch_size}; median of {args.repeat}"
        " alternating runs"
    )
    print(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))


if __name__ == "__main__":
    main()
