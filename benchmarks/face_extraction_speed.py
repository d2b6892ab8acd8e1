"""Face-extraction speed: the whole extraction of a clip against decoding alone and faceit's way.

    .venv/bin/python benchmarks/face_extraction_speed.py [--video PATH] [--end-s SECONDS]
    [--det-size 320] .venv/bin/python benchmarks/face_extraction_speed.py --workers 1 2 [--repeat 2]
    [--videos PATH ...]

On every frame of the clip (default `person_a_d6.mp4`, 1008 frames) it times:
- decoding alone (PyAV to RGB, every frame touched): the limit;
- the whole extraction: the pipeline's two nodes through a SequentialRunner on a temporary catalog
  (detect in batches, track, landmarks, align, quality, sampled descriptors, PNG crops written,
  identity decided, aligned faces, table and contact sheet written);
- faceit's way on the same frames: dlib's HOG face detector (upsampled once, as `face_recognition`
  does) and a 68-landmark shape plus a 128-d descriptor for every face it finds, kept when within
  0.6 of the reference (here: the mean descriptor of its own faces, as no reference photo exists).
Then where the extraction's time goes (cProfile of the same run). CPU ms/frame (all threads) is the
figure that other jobs on the machine do not distort; frames/s is wall time. Prints tables; asserts
nothing.

With ``--workers``, instead: the whole extraction of several videos of one person (default four
short
clips: single_d18, single_d12, no_audio_d0, person_b_d9; every frame) with
``face_extraction.workers`` at each given count (1: one by one in this process; N: a Dask
LocalCluster of N processes, its start and close included), frames/s in wall time, CPU seconds of
this process and its workers, and whether the per-video tables are identical to those of the first
count; with ``--repeat`` the counts alternate, round after round, and the medians are printed.
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
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from faceswap_pipeline.faces.identity import face_descriptor, landmarks68
from faceswap_pipeline.pipelines.face_extraction.pipeline import create_template
from faceswap_pipeline.video.decode import iter_frames
from faceswap_pipeline.video.probe import probe_video

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "videos" / "person_a_d6.mp4"
FAN_OUT_VIDEOS = [
    ROOT.parent / "shared" / "data" / "videos" / name
    for name in ("single_d18.mp4", "single_d12.mp4", "no_audio_d0.mp4", "person_b_d9.mp4")
]
# Functions whose cumulative time shows where the extraction spends it (cProfile names). Decoding
# and PNG encoding run in background threads, which cProfile does not see: the CPU column covers
# them.
STAGES = {
    "detect (RetinaFace ONNX, batched)": ("detection.py", "_detect_batch"),
    "align + sharpness + 68 landmarks": ("extraction.py", "_align"),
    "  of which 68 landmarks (dlib)": ("identity.py", "landmarks68"),
    "descriptors (dlib, sampled)": ("identity.py", "face_descriptor"),
    "write face tables": ("core.py", "write_table"),
    "identity, outputs, contact sheet": ("nodes.py", "select_person_faces"),
}


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system): robust to other jobs sharing the
    cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_only(video: Path, end_s: float | None) -> tuple[int, float, float]:
    started, cpu_started = time.perf_counter(), cpu_seconds()
    frames = 0
    for frame in iter_frames(video, end_s=end_s):
        frames += int(frame.rgb[0, 0, 0] >= 0)
    return frames, time.perf_counter() - started, cpu_seconds() - cpu_started


def cpu_seconds_with_workers() -> float:
    """CPU time of this process and of its finished child processes (Dask workers once closed)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return cpu_seconds() + children.ru_utime + children.ru_stime


def whole_extraction(
    videos: list[Path],
    end_s: float | None,
    det_size: int,
    folder: Path,
    *,
    workers: int = 1,
    profile: bool = True,
) -> tuple[dict, float, float, pstats.Stats | None, DataCatalog]:
    params = yaml.safe_load((ROOT / "conf/base/parameters_face_extraction.yml").read_text())[
        "face_extraction"
    ]
    params["detector"]["det_size"] = det_size
    params["workers"] = workers
    rows = []
    for video in videos:
        info = probe_video(video)
        rows.append(
            {
                "person": "benchmark",
                "file": video.name,
                "start_s": math.nan,
                "end_s": end_s if end_s else math.nan,
                "sample_fps": math.nan,
                "duration_s": info.duration_s,
                "frame_count": info.frame_count,
                "sha256": hashlib.sha256(video.read_bytes()).hexdigest(),
            }
        )
    metadata = pd.DataFrame(rows)
    config = yaml.safe_load((ROOT / "conf/base/catalog_face_extraction.yml").read_text())
    catalog_config = {}
    for name, template in config.items():
        entry = dict(template)
        for key in ("path", "filepath"):
            if key in entry:
                entry[key] = str(folder / entry[key].replace("{person}", "benchmark"))
        catalog_config[name.replace("{person}.", "")] = entry
    catalog = DataCatalog.from_config(catalog_config)
    catalog["raw_videos"] = {video.name: video for video in videos}
    catalog["video_metadata"] = metadata
    catalog["reference_photos"] = {}
    catalog["params:face_extraction"] = params
    # No MLflow run here (kedro-mlflow starts one in `kedro run`): the totals stay in memory.
    catalog["face_extraction_metrics"] = MemoryDataset()
    profiler = cProfile.Profile() if profile else None
    started, cpu_started = time.perf_counter(), cpu_seconds_with_workers()
    if profiler:
        profiler.enable()
    SequentialRunner().run(create_template(), catalog)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, cpu_seconds_with_workers() - cpu_started
    alignments = catalog.load("face_alignments")
    tables = catalog.load("extracted_faces")
    counts = {
        "frames": sum(int(table.metadata()["frames_read"]) for table in tables.values()),
        "faces found": len(alignments),
        "faces kept": int(alignments["kept"].sum()),
    }
    return counts, elapsed, cpu, pstats.Stats(profiler) if profiler else None, catalog


def table_digest(catalog: DataCatalog) -> str:
    """One hash of every per-video table's content (the timing metadata left out)."""
    digest = hashlib.sha256()
    for key, table in sorted(catalog.load("extracted_faces").items()):
        digest.update(key.encode())
        digest.update(
            pd.util.hash_pandas_object(table.read().map(repr), index=False).to_numpy().tobytes()
        )
    return digest.hexdigest()[:16]


class PeakWorkerMemory:
    """Samples, every 0.2 s in a thread, the largest resident memory of one child process (a
    worker)."""

    def __init__(self):
        import threading

        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.2):
            for child in me.children(recursive=True):
                try:
                    if "resource_tracker" in " ".join(child.cmdline()):  # multiprocessing's helper
                        continue
                    self.peak_bytes = max(self.peak_bytes, child.memory_info().rss)
                except psutil.Error:
                    continue

    def __enter__(self) -> PeakWorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def fan_out(videos: list[Path], worker_counts: list[int], det_size: int, repeat: int) -> None:
    """The whole extraction of ``videos`` at each worker count, ``repeat`` rounds alternating;
    prints a table."""
    import logging
    import statistics

    from faceswap_pipeline.fan_out import FanOut, dask_client

    for name in (None, "kedro", "faceswap_pipeline"):  # the tables, not the runs' progress lines
        logging.getLogger(name).setLevel(logging.WARNING)
    print(
        f"\n{len(videos)} videos ({', '.join(v.name for v in videos)}), every frame;"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other jobs on a shared"
        " machine make wall times noisy)\n"
    )
    print(
        "| workers | round | frames | seconds | frames/s | CPU s (all processes) | CPU ms/frame |"
        " peak worker RSS | tables |"
    )
    print(
        "|--------:|------:|-------:|--------:|---------:|----------------------:|-------------:|----------------:|:-------|"
    )
    first_digest = None
    results: dict[int, list[tuple[float, float]]] = {workers: [] for workers in worker_counts}
    for round_ in range(1, repeat + 1):
        for workers in worker_counts:
            with tempfile.TemporaryDirectory() as folder, PeakWorkerMemory() as memory:
                counts, seconds, cpu, _, catalog = whole_extraction(
                    videos, None, det_size, Path(folder), workers=workers, profile=False
                )
                digest = table_digest(catalog)
            first_digest = first_digest or digest
            same = "identical" if digest == first_digest else f"DIFFER ({digest})"
            frames = counts["frames"]
            results[workers].append((frames / seconds, cpu))
            rss = f"{memory.peak_bytes / 2**30:.2f} GiB" if memory.peak_bytes else "(in process)"
            print(
                f"| {workers:>7} | {round_:>5} | {frames:>6} | {seconds:>7.1f} |"
                f" {frames / seconds:>8.1f} | {cpu:>21.1f} | {1000 * cpu / frames:>12.1f} |"
                f" {rss:>15} | {same} |",
                flush=True,
            )
    if repeat > 1:
        print("\nmedians over rounds:")
        for workers, runs in results.items():
            print(
                f"  {workers} workers: {statistics.median(r[0] for r in runs):.1f} frames/s, "
                f"{statistics.median(r[1] for r in runs):.1f} CPU s"
            )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    for workers in (w for w in worker_counts if w > 1):
        started = time.perf_counter()
        with dask_client(FanOut(workers=workers)) as client:
            client.wait_for_workers(workers)
        print(
            f"\nLocalCluster of {workers} workers, start and close alone:"
            f" {time.perf_counter() - started:.1f} s"
        )


def faceit_way(video: Path, end_s: float | None) -> tuple[dict, float, float]:
    import dlib

    detector = dlib.get_frontal_face_detector()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    frames, descriptors = 0, []
    for frame in iter_frames(video, end_s=end_s):
        frames += 1
        for rectangle in detector(frame.rgb, 1):
            box = np.array(
                [rectangle.left(), rectangle.top(), rectangle.right(), rectangle.bottom()], float
            )
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument(
        "--end-s", type=float, default=None, help="only the first SECONDS of the clip"
    )
    parser.add_argument("--det-size", type=int, default=320)
    parser.add_argument(
        "--skip-faceit", action="store_true", help="skip faceit's way (minutes on a CPU)"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", help="instead: several videos at these worker counts"
    )
    parser.add_argument(
        "--videos", type=Path, nargs="+", default=FAN_OUT_VIDEOS, help="the videos for --workers"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of --workers, alternating; medians printed"
    )
    args = parser.parse_args()
    if args.workers:
        fan_out(args.videos, args.workers, args.det_size, args.repeat)
        return

    frames, decode_s, decode_cpu = decode_only(args.video, args.end_s)
    with tempfile.TemporaryDirectory() as folder:
        ours, ours_s, ours_cpu, stats, _ = whole_extraction(
            [args.video], args.end_s, args.det_size, Path(folder)
        )
    rows = [
        ("decoding alone (the limit)", frames, decode_s, decode_cpu, "", ""),
        (
            f"whole extraction (RetinaFace {args.det_size} px, this pipeline)",
            frames,
            ours_s,
            ours_cpu,
            ours["faces found"],
            ours["faces kept"],
        ),
    ]
    if not args.skip_faceit:
        faceit, faceit_s, faceit_cpu = faceit_way(args.video, args.end_s)
        rows.append(
            (
                "faceit's way (dlib HOG + descriptor per face)",
                faceit["frames"],
                faceit_s,
                faceit_cpu,
                faceit["faces found"],
                faceit["faces kept"],
            )
        )

    print(
        f"\n{args.video.name}: {frames} frames, every frame; {os.cpu_count()} CPUs, load average"
        f" {os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"| {'what':<58} | frames | seconds | frames/s | CPU ms/frame | faces found | faces kept |"
    )
    print(f"|{'-' * 60}|-------:|--------:|---------:|-------------:|------------:|-----------:|")
    for what, count, seconds, cpu, found, kept in rows:
        print(
            f"| {what:<58} | {count:>6} | {seconds:>7.1f} | {count / seconds:>8.1f} |"
            f" {1000 * cpu / count:>12.1f} | {found!s:>11} | {kept!s:>10} |"
        )
    if not args.skip_faceit:
        print(
            f"\nspeed-up over faceit's way: {faceit_s / ours_s:.1f}x in wall time,"
            f" {faceit_cpu / ours_cpu:.1f}x in CPU time"
        )

    print(
        f"\nwhere the main thread's {ours_s:.1f} s go (cumulative; decoding and PNG encoding run in"
        " background threads)\n"
    )
    print(f"| {'stage':<36} | seconds | ms/frame |")
    print(f"|{'-' * 38}|--------:|---------:|")
    for label, seconds in stage_seconds(stats).items():
        print(f"| {label:<36} | {seconds:>7.2f} | {1000 * seconds / max(frames, 1):>8.2f} |")


if __name__ == "__main__":
    main()
