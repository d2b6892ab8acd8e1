"""Face-extraction speed: the whole extraction of a clip against decoding alone and faceit's way.

    .venv/bin/python benchmarks/face_extraction_speed.py [--video PATH] [--end-s SECONDS] [--det-size 320]

On every frame of the clip (default `person_a_d6.mp4`, 1008 frames) it times:
- decoding alone (PyAV to RGB, every frame touched): the limit;
- the whole extraction: the pipeline's two nodes through a SequentialRunner on a temporary catalog
  (detect in batches, track, landmarks, align, quality, sampled descriptors, PNG crops written, identity
  decided, aligned faces, table and contact sheet written);
- faceit's way on the same frames: dlib's HOG face detector (upsampled once, as `face_recognition`
  does) and a 68-landmark shape plus a 128-d descriptor for every face it finds, kept when within 0.6 of
  the reference (here: the mean descriptor of its own faces, as no reference photo exists).
Then where the extraction's time goes (cProfile of the same run). CPU ms/frame (all threads) is the
figure that other jobs on the machine do not distort; frames/s is wall time. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import math
import os
import pstats
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.pipelines.face_extraction.pipeline import create_template
from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.probe import probe_video

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "videos" / "person_a_d6.mp4"
# Functions whose cumulative time shows where the extraction spends it (cProfile names). Decoding and
# PNG encoding run in background threads, which cProfile does not see: the CPU column covers them.
STAGES = {
    "detect (RetinaFace ONNX, batched)": ("detection.py", "_detect_batch"),
    "align + sharpness + 68 landmarks": ("extraction.py", "_align"),
    "  of which 68 landmarks (dlib)": ("identity.py", "landmarks68"),
    "descriptors (dlib, sampled)": ("identity.py", "face_descriptor"),
    "write face tables": ("core.py", "write_table"),
    "identity, outputs, contact sheet": ("nodes.py", "select_person_faces"),
}


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system): robust to other jobs sharing the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_only(video: Path, end_s: float | None) -> tuple[int, float, float]:
    started, cpu_started = time.perf_counter(), cpu_seconds()
    frames = 0
    for frame in iter_frames(video, end_s=end_s):
        frames += int(frame.rgb[0, 0, 0] >= 0)
    return frames, time.perf_counter() - started, cpu_seconds() - cpu_started


def whole_extraction(video: Path, end_s: float | None, det_size: int, folder: Path) -> tuple[dict, float, float, pstats.Stats]:
    params = yaml.safe_load((ROOT / "conf/base/parameters_face_extraction.yml").read_text())["face_extraction"]
    params["detector"]["det_size"] = det_size
    info = probe_video(video)
    metadata = pd.DataFrame([{
        "person": "benchmark", "file": video.name, "start_s": math.nan, "end_s": end_s if end_s else math.nan,
        "sample_fps": math.nan, "duration_s": info.duration_s, "frame_count": info.frame_count,
        "sha256": hashlib.sha256(video.read_bytes()).hexdigest(),
    }])
    config = yaml.safe_load((ROOT / "conf/base/catalog_face_extraction.yml").read_text())
    catalog_config = {}
    for name, template in config.items():
        entry = dict(template)
        for key in ("path", "filepath"):
            if key in entry:
                entry[key] = str(folder / entry[key].replace("{person}", "benchmark"))
        catalog_config[name.replace("{person}.", "")] = entry
    catalog = DataCatalog.from_config(catalog_config)
    catalog["raw_videos"] = {video.name: video}
    catalog["video_metadata"] = metadata
    catalog["reference_photos"] = {}
    catalog["params:face_extraction"] = params
    profiler = cProfile.Profile()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    profiler.enable()
    SequentialRunner().run(create_template(), catalog)
    profiler.disable()
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    alignments = catalog.load("face_alignments")
    counts = {
        "frames": int(len(alignments[["frame_index"]].drop_duplicates())) if len(alignments) else 0,
        "faces found": len(alignments),
        "faces kept": int(alignments["kept"].sum()),
    }
    return counts, elapsed, cpu, pstats.Stats(profiler)


def faceit_way(video: Path, end_s: float | None) -> tuple[dict, float, float]:
    import dlib

    detector = dlib.get_frontal_face_detector()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    frames, descriptors = 0, []
    for frame in iter_frames(video, end_s=end_s):
        frames += 1
        for rectangle in detector(frame.rgb, 1):
            box = np.array([rectangle.left(), rectangle.top(), rectangle.right(), rectangle.bottom()], float)
            descriptors.append(face_descriptor(frame.rgb, landmarks68(frame.rgb, box)))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    kept = 0
    if descriptors:
        stacked = np.stack(descriptors)
        kept = int((np.linalg.norm(stacked - stacked.mean(axis=0), axis=1) <= 0.6).sum())
    return {"frames": frames, "faces found": len(descriptors), "faces kept": kept}, elapsed, cpu


def stage_seconds(stats: pstats.Stats) -> dict[str, float]:
    seconds = {}
    for label, (file_part, function) in STAGES.items():
        total = 0.0
        for (file, _, name), (_, _, _, cumulative, _) in stats.stats.items():
            if (name == function or (file == "~" and function in name)) and file_part in file:
                total += cumulative
        seconds[label] = total
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--end-s", type=float, default=None, help="only the first SECONDS of the clip")
    parser.add_argument("--det-size", type=int, default=320)
    parser.add_argument("--skip-faceit", action="store_true", help="skip faceit's way (minutes on a CPU)")
    args = parser.parse_args()

    frames, decode_s, decode_cpu = decode_only(args.video, args.end_s)
    with tempfile.TemporaryDirectory() as folder:
        ours, ours_s, ours_cpu, stats = whole_extraction(args.video, args.end_s, args.det_size, Path(folder))
    rows = [
        ("decoding alone (the limit)", frames, decode_s, decode_cpu, "", ""),
        (f"whole extraction (RetinaFace {args.det_size} px, this pipeline)", frames, ours_s, ours_cpu, ours["faces found"], ours["faces kept"]),
    ]
    if not args.skip_faceit:
        faceit, faceit_s, faceit_cpu = faceit_way(args.video, args.end_s)
        rows.append(("faceit's way (dlib HOG + descriptor per face)", faceit["frames"], faceit_s, faceit_cpu, faceit["faces found"], faceit["faces kept"]))

    print(f"\n{args.video.name}: {frames} frames, every frame; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print(f"| {'what':<58} | frames | seconds | frames/s | CPU ms/frame | faces found | faces kept |")
    print(f"|{'-' * 60}|-------:|--------:|---------:|-------------:|------------:|-----------:|")
    for what, count, seconds, cpu, found, kept in rows:
        print(f"| {what:<58} | {count:>6} | {seconds:>7.1f} | {count / seconds:>8.1f} | {1000 * cpu / count:>12.1f} | {found!s:>11} | {kept!s:>10} |")
    if not args.skip_faceit:
        print(f"\nspeed-up over faceit's way: {faceit_s / ours_s:.1f}x in wall time, {faceit_cpu / ours_cpu:.1f}x in CPU time")

    print(f"\nwhere the main thread's {ours_s:.1f} s go (cumulative; decoding and PNG encoding run in background threads)\n")
    print(f"| {'stage':<36} | seconds | ms/frame |")
    print(f"|{'-' * 38}|--------:|---------:|")
    for label, seconds in stage_seconds(stats).items():
        print(f"| {label:<36} | {seconds:>7.2f} | {1000 * seconds / max(frames, 1):>8.2f} |")


if __name__ == "__main__":
    main()
