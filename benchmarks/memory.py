"""Peak resident memory of face extraction and conversion: does it grow with the video's length?

    .venv/bin/python benchmarks/memory.py [--minutes 1 3 10] [--conversion-minutes 1 3]
        [--sample-fps 1] [--cache DIR]

Measures `crowd_1080p.mp4` (1920x1080, 4.2 s, 4-8 small faces a frame) and 1080p videos of 1, 3 and
10 minutes made by looping it (its H.264 and AAC packets copied with shifted time stamps, no
re-encoding; made once into `--cache`). Each measurement runs in its own child process; its peak
resident set (the kernel's `ru_maxrss` of that child, from `os.wait4`) is the figure. Extraction
runs the face_extraction pipeline for one person through a Kedro runner and catalog in a temporary
folder, sampling `--sample-fps` frames a second (every frame is still decoded); conversion runs the
conversion node on every frame with an untrained tiny model, swapping every face of 24 px or more
(`swap_all_faces`). Bounded memory means the peak stays flat from the short clip to the longest
video. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "videos" / "crowd_1080p.mp4"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "faceswap-benchmark-videos"


def looped_video(source: Path, minutes: float, cache: Path) -> Path:
    """``source`` repeated to last ``minutes`` (packets copied with shifted time stamps); made
    once."""
    import av

    target = cache / f"{source.stem}_loop_{minutes:g}min.mp4"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.mp4")
    with av.open(str(source)) as reader:
        streams = [reader.streams.video[0], *reader.streams.audio[:1]]
        packets = [
            (p.stream.index, bytes(p), p.pts, p.dts, p.duration, p.is_keyframe)
            for p in reader.demux(streams)
            if p.pts is not None
        ]
        spans = {}
        for stream in streams:
            own = [
                (pts, duration)
                for index, _, pts, _, duration, _ in packets
                if index == stream.index
            ]
            spans[stream.index] = max(pts + (duration or 0) for pts, duration in own) - min(
                pts for pts, _ in own
            )
        loop_s = float(spans[streams[0].index] * streams[0].time_base)
        with av.open(str(partial), "w") as writer:
            outputs = {stream.index: writer.add_stream_from_template(stream) for stream in streams}
            time_bases = {stream.index: stream.time_base for stream in streams}
            for repeat in range(max(1, round(minutes * 60 / loop_s))):
                for index, data, pts, dts, duration, keyframe in packets:
                    packet = av.Packet(data)
                    shift = repeat * spans[index]
                    packet.pts, packet.dts = pts + shift, (dts if dts is not None else pts) + shift
                    packet.duration, packet.time_base, packet.is_keyframe = (
                        duration,
                        time_bases[index],
                        keyframe,
                    )
                    packet.stream = outputs[index]
                    writer.mux(packet)
    partial.rename(target)
    return target


def _extraction(video: Path, sample_fps: float) -> dict:
    """The face_extraction pipeline for one person, through Kedro's runner and the project's
    catalog."""
    import hashlib

    import pandas as pd
    import yaml
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from faceswap_pipeline.pipelines.face_extraction.pipeline import create_pipeline
    from faceswap_pipeline.video.probe import probe_video

    info = probe_video(video)
    digest = hashlib.sha256()
    with video.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    with tempfile.TemporaryDirectory(prefix="faceswap-memory-") as folder:
        config = yaml.safe_load((ROOT / "conf/base/catalog_face_extraction.yml").read_text())
        for entry in config.values():
            for key in ("path", "filepath"):
                if key in entry:
                    entry[key] = f"{folder}/{entry[key]}"
        config["{person}.reference_photos"] = {
            "type": "faceswap_pipeline.datasets.ImageFolderDataset",
            "path": f"{folder}/photos/{{person}}",
        }
        catalog = DataCatalog.from_config(config)
        # No MLflow run here (kedro-mlflow starts one in `kedro run`): the totals stay in memory.
        catalog["person_a.face_extraction_metrics"] = MemoryDataset()
        catalog["person_a_raw_videos"] = {video.name: video}
        catalog["person_a.video_metadata"] = pd.DataFrame(
            [
                {
                    "person": "person_a",
                    "source": str(video),
                    "title": video.stem,
                    "file": video.name,
                    "start_s": float("nan"),
                    "end_s": float("nan"),
                    "sample_fps": sample_fps,
                    "duration_s": info.duration_s,
                    "frame_count": info.frame_count,
                    "sha256": digest.hexdigest(),
                }
            ]
        )
        catalog["params:face_extraction"] = yaml.safe_load(
            (ROOT / "conf/base/parameters_face_extraction.yml").read_text()
        )["face_extraction"]
        SequentialRunner().run(create_pipeline().only_nodes_with_namespaces(["person_a"]), catalog)
        alignments = catalog.load("person_a_face_alignments")
    return {
        "frames": int(alignments["frame_index"].nunique()) if len(alignments) else 0,
        "faces": len(alignments),
        "duration_s": info.duration_s,
    }


def _conversion(video: Path) -> dict:
    """The conversion node on every frame of ``video``, every face swapped by an untrained tiny
    model."""
    import pandas as pd
    import torch

    from faceswap_pipeline.model import ModelConfig, SwapModel
    from faceswap_pipeline.pipelines.conversion.nodes import convert_video

    torch.manual_seed(0)
    model = SwapModel(ModelConfig(architecture="original", input_size=64, width=0.1)).eval()
    # The crowd's faces are small: a larger detector input and lower limits, so that faces are
    # swapped.
    conversion = {
        "video": str(video),
        "identity": {"swap_all_faces": True},
        "detection": {"det_size": 320, "min_face_size": 24, "min_score": 0.5},
    }
    staging = Path(tempfile.mkdtemp(prefix=".partial-benchmark-", dir=DEFAULT_CACHE.parent))
    try:
        _, report = convert_video(
            model, pd.DataFrame(), pd.DataFrame(), {}, {}, conversion, 0.2, staging
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "frames": len(report),
        "faces": int(report["faces_swapped"].sum()),
        "duration_s": float(report["time_s"].max()) if len(report) else 0.0,
    }


def _child(stage: str, video: Path, sample_fps: float) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    result = _extraction(video, sample_fps) if stage == "extraction" else _conversion(video)
    print("RESULT " + json.dumps(result), flush=True)


def measure(stage: str, video: Path, sample_fps: float) -> dict:
    """Run one stage on one video in a child process; its peak RSS (MiB), wall time and counts."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", stage, str(video), "--sample-fps", str(sample_fps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
    )
    stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(
            f"{stage} of {video.name} failed ({child.returncode}):\n{stdout[-3000:]}"
        )
    return {
        **json.loads(lines[-1].removeprefix("RESULT ")),
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, nargs="*", default=[1, 3, 10], help="looped lengths for extraction"
    )
    parser.add_argument(
        "--conversion-minutes",
        type=float,
        nargs="*",
        default=[1, 3],
        help=(
            "looped lengths for conversion (every frame is converted: ~10 min of CPU a minute at"
            " 1080p)"
        ),
    )
    parser.add_argument(
        "--sample-fps", type=float, default=1.0, help="frames a second face extraction samples"
    )
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where the looped videos are kept"
    )
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.sample_fps)
        return

    plan = [("extraction", CLIP)] + [
        ("extraction", looped_video(CLIP, m, args.cache)) for m in args.minutes
    ]
    plan += [("conversion", CLIP)] + [
        ("conversion", looped_video(CLIP, m, args.cache)) for m in args.conversion_minutes
    ]
    print(
        f"{'stage':<11} {'video':<28} {'length':>8} {'frames':>7} {'faces':>7} {'peak RSS':>10}"
        f" {'wall':>8}"
    )
    for stage, video in plan:
        row = measure(stage, video, args.sample_fps)
        print(
            f"{stage:<11} {video.name:<28} {row['duration_s']:>7.0f}s {row['frames']:>7}"
            f" {row['faces']:>7} {row['peak_rss_mib']:>7.0f} MiB {row['seconds']:>7.0f}s",
            flush=True,
        )
    print(
        f"\nextraction samples {args.sample_fps:g} frame/s (every frame decoded); conversion"
        " converts every frame. frames: frames with a face (extraction) or converted (conversion)."
    )


if __name__ == "__main__":
    main()
