"""Face-extraction nodes: per-video face tables (resumable), then the person's faces across videos.

Node 1 (``extract_video_faces``) returns one lazy callable per video that is not already extracted
with the same checksum and parameters; the catalog's folder dataset runs and writes them chunk by
chunk, one video at a time or, with ``workers`` > 1 or a ``dask_scheduler``, side by side on Dask
workers. Node 2 (``select_person_faces``) decides identity per track across all the person's videos
and writes the aligned crops, the table, the identity descriptors and a contact sheet.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from faceswap_pipeline.errors import BadInputError
from faceswap_pipeline.fan_out import FanOutJobs
from faceswap_pipeline.pipelines.face_extraction.params import (
    FaceExtractionParams,
    fingerprint_hash,
    parse_params,
)
from faceswap_pipeline.progress import ProgressLog
from faceswap_pipeline.safe_names import safe_stem

if TYPE_CHECKING:
    from faceswap_pipeline.video.probe import PictureFacts

logger = logging.getLogger(__name__)

REJECT_OTHER_IDENTITY = "other_identity"
PLAN_COLUMNS = [
    "person",
    "video",
    "file",
    "key",
    "sha256",
    "start_s",
    "end_s",
    "sample_fps",
    "reused",
]
ALIGNMENT_COLUMNS = [
    "video",
    "face_id",
    "frame_index",
    "time_s",
    "box",
    "score",
    "landmarks5",
    "landmarks68",
    "landmarks68_crop",
    "transform",
    "track",
    "identity_distance",
    "sharpness",
    "kept",
    "reject_reason",
]
IDENTITY_COLUMNS = ["video", "track", "frame_index", "descriptor"]


def _optional(value: Any) -> float | None:
    return (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )


def _video_key(
    row: pd.Series, settings_hash: str, picture: PictureFacts, clock_origin_s: float = 0.0
) -> str:
    """``<file stem>_<sha256[:12]>_<hash of window, rate and settings>``: same key, same result.
    ``clock_origin_s``: where the window's seconds count from (``_window_origin_s``)."""
    fingerprint = {
        "start_s": _optional(row["start_s"]),
        "end_s": _optional(row["end_s"]),
        "sample_fps": _optional(row["sample_fps"]),
        "settings": settings_hash,
    }
    # A phone's clip is decoded upright and HDR as SDR, non-square pixels stretched square and
    # interlaced frames deinterlaced, which tables made before that was so were not: they are
    # extracted again. An ordinary video's key, and its table on disk, stay.
    if picture.rotation_deg:
        fingerprint["upright_from_rotation_deg"] = picture.rotation_deg
    if picture.hdr:
        fingerprint["sdr_from"] = picture.hdr
    if picture.pixel_aspect != 1:
        fingerprint["square_from_pixel_aspect"] = round(picture.pixel_aspect, 6)
    if picture.interlaced:
        fingerprint["deinterlaced"] = True
    # A window counts from the file's start since this was so (an MPEG-TS starts anywhere on its
    # clock); before, from its clock's zero.
    if clock_origin_s > 1e-3:
        fingerprint["window_from_file_start_s"] = round(clock_origin_s, 6)
    window = fingerprint_hash(fingerprint)
    stem = safe_stem(Path(str(row["file"])).stem, fallback="video")
    return f"{stem}_{str(row['sha256'])[:12]}_{window}"


def _window_origin_s(row: pd.Series, path: Path) -> float:
    """The clock time a windowed video's ``start_s``/``end_s`` count from
    (``probe.clock_origin_s``), read from the file; 0 without a window, where it does not matter."""
    if _optional(row["start_s"]) is None and _optional(row["end_s"]) is None:
        return 0.0
    from faceswap_pipeline.video.probe import clock_origin_s, open_video

    with open_video(path) as container:
        return clock_origin_s(container)


def _picture_facts(row: pd.Series, path: Path) -> PictureFacts:
    """How the video's pictures are stored: ingestion's ``rotation_deg``, ``hdr``,
    ``pixel_aspect`` and ``interlaced``, or, in a table an older ingestion wrote without them, read
    from the file."""
    from faceswap_pipeline.video.probe import PictureFacts, picture_facts

    rotation, hdr, aspect = row.get("rotation_deg"), row.get("hdr"), row.get("pixel_aspect")
    interlaced = row.get("interlaced")
    if any(value is None or pd.isna(value) for value in (rotation, aspect, interlaced)):
        return picture_facts(path)
    return PictureFacts(
        int(rotation),
        None if hdr is None or pd.isna(hdr) else str(hdr),
        float(aspect),
        bool(interlaced),
    )


def _face_table_schema():
    import pyarrow as pa

    floats = pa.list_(pa.float32())
    return pa.schema(
        [
            ("video", pa.string()),
            ("frame_index", pa.int64()),
            ("time_s", pa.float64()),
            ("box", floats),
            ("score", pa.float32()),
            ("landmarks5", floats),
            ("landmarks68", floats),
            ("landmarks68_crop", floats),
            ("transform", pa.list_(pa.float64())),
            ("track", pa.int64()),
            ("sharpness", pa.float32()),
            ("reject_reason", pa.string()),
            ("descriptor", floats),
            ("crop_png", pa.binary()),
        ]
    )


class _VideoFaceChunks:
    """Iterating runs the extraction of one video and yields its faces as pyarrow tables, batch by
    batch.

    ``parquet_metadata`` (frames read, decode damage, speed) is complete once iteration ends; the
    face-table dataset stores it in the file.
    """

    def __init__(
        self,
        video: str,
        path: Path,
        row: pd.Series,
        params: FaceExtractionParams,
        models: _Models,
        progress_bar: bool = True,
    ):
        self.video, self.path, self.row, self.params, self.models = video, path, row, params, models
        self.progress_bar = progress_bar
        self.parquet_metadata: dict[str, Any] = {}

    def _expected_frames(self) -> int | None:
        frame_count = self.row.get("frame_count")
        duration = self.row.get("duration_s")
        if frame_count is None or duration is None or not math.isfinite(float(frame_count)):
            return None
        start, end, fps = (
            _optional(self.row["start_s"]),
            _optional(self.row["end_s"]),
            _optional(self.row["sample_fps"]),
        )
        span = max(
            0.0, min(end if end is not None else float(duration), float(duration)) - (start or 0.0)
        )
        estimate = (
            float(frame_count) * span / float(duration)
            if float(duration) > 0
            else float(frame_count)
        )
        if fps is not None:
            estimate = min(estimate, span * fps)
        return max(1, round(estimate))

    def _table(self, faces: list[Any], schema: Any) -> Any:
        """One batch of faces as a pyarrow table, crops encoded as PNG (OpenCV releases the GIL)."""
        import cv2
        import pyarrow as pa

        png_options = [cv2.IMWRITE_PNG_COMPRESSION, self.params.png_compression]
        columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        for face in faces:
            columns["video"].append(self.video)
            columns["frame_index"].append(face.frame_index)
            columns["time_s"].append(face.time_s)
            columns["box"].append(face.box.ravel().tolist())
            columns["score"].append(face.score)
            columns["landmarks5"].append(face.landmarks5.ravel().tolist())
            # Faces rejected before alignment (low score, too small: most of a crowd) store nulls,
            # not 290 NaNs each, so a long crowded video's table stays small.
            aligned = face.crop is not None or not np.isnan(face.transform).all()
            columns["landmarks68"].append(
                face.landmarks68.ravel().tolist() if face.crop is not None else None
            )
            columns["landmarks68_crop"].append(
                face.landmarks68_crop.ravel().tolist() if face.crop is not None else None
            )
            columns["transform"].append(face.transform.ravel().tolist() if aligned else None)
            columns["track"].append(face.track)
            columns["sharpness"].append(face.sharpness)
            columns["reject_reason"].append(face.reject_reason)
            columns["descriptor"].append(
                None if face.descriptor is None else face.descriptor.tolist()
            )
            if face.crop is None:
                columns["crop_png"].append(None)
            else:
                ok, encoded = cv2.imencode(
                    ".png", np.ascontiguousarray(face.crop[:, :, ::-1]), png_options
                )
                if not ok:
                    raise RuntimeError(f"{self.video}: could not encode a face crop as PNG")
                columns["crop_png"].append(encoded.tobytes())
        return pa.Table.from_pydict(columns, schema=schema)

    def __iter__(self) -> Iterator[Any]:
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        from faceswap_pipeline.faces.extraction import FaceExtractor
        from faceswap_pipeline.video.decode import DecodeReport, iter_frames

        schema = _face_table_schema()
        report = DecodeReport()
        extractor = FaceExtractor(self.models.detector(), self.params)
        window = {key: _optional(self.row[key]) for key in ("start_s", "end_s", "sample_fps")}
        frames = iter_frames(self.path, report=report, **window)
        started = time.perf_counter()
        yielded = False
        expected = self._expected_frames()
        # PNG encoding of one batch runs in a second thread while the next batch is detected; at
        # most two batches wait, so memory stays bounded. A bar only where a person watches a
        # terminal: on a Dask worker it would garble it, in a log file each redraw is a line;
        # there progress goes to the log (which a worker forwards to the user).
        show_bar = self.progress_bar and sys.stderr.isatty()
        progress = None
        if not show_bar:
            logger.info(
                "%s: extracting faces (%s frames)",
                self.video,
                expected if expected is not None else "unknown",
            )
            progress = ProgressLog(self.video, expected)
        with (
            tqdm(
                total=expected,
                desc=self.video,
                unit="frame",
                mininterval=1.0,
                leave=False,
                disable=not show_bar,
            ) as bar,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-png") as encoder,
        ):
            pending = []
            for faces in extractor.run(
                frames, on_frames=progress.update if progress else bar.update
            ):
                if faces:
                    pending.append(encoder.submit(self._table, faces, schema))
                if len(pending) > 1:
                    yielded = True
                    yield pending.pop(0).result()
            for table in pending:
                yielded = True
                yield table.result()
        if not yielded:
            yield schema.empty_table()
        self._record(extractor.counts, report, time.perf_counter() - started)

    def _record(self, counts: Any, report: Any, elapsed: float) -> None:
        """The video's figures into the table's metadata, and into the log (with its problems)."""
        self.parquet_metadata = {
            "frames_read": counts.frames_read,
            "frames_decoded": report.frames_decoded,
            "damaged": report.damaged,
            "shot_cuts": counts.shot_cuts,
            "decode_error": report.error or "",
            "seconds": round(elapsed, 3),
        }
        fps = counts.frames_read / elapsed if elapsed > 0 else float("nan")
        if report.damaged:
            logger.warning(
                "%s is damaged: used the %d frames decoded before the error (%s)",
                self.video,
                report.frames_decoded,
                report.error,
            )
        if counts.faces_found == 0:
            logger.warning(
                "%s: no face found in %d frames; it contributes no faces",
                self.video,
                counts.frames_read,
            )
        logger.info(
            "%s: %d frames in %.1f s (%.1f frames/s), %d faces found, %d passed quality, %d"
            " described, rejected %s",
            self.video,
            counts.frames_read,
            elapsed,
            fps,
            counts.faces_found,
            counts.faces_passed,
            counts.descriptors,
            dict(counts.rejected) or "none",
        )


class _VideoJob:
    """One video to extract: calling it gives the face chunks that the face-table folder writes.

    It pickles (the detector is built where it runs), so it can run on a Dask worker.

    Args:
        cpu_threads: threads OpenCV may use there (its own pool, beside onnxruntime's); ``None``:
            all.
    """

    def __init__(
        self,
        file: str,
        path: Path,
        row: pd.Series,
        params: FaceExtractionParams,
        models: _Models,
        *,
        distributed: bool,
        cpu_threads: int | None,
    ):
        self.file, self.path, self.row, self.params, self.models = file, path, row, params, models
        self.distributed, self.cpu_threads = distributed, cpu_threads
        self.label = f"video {file}"

    def __call__(self) -> _VideoFaceChunks:
        if self.cpu_threads:
            import cv2

            cv2.setNumThreads(self.cpu_threads)
        return _VideoFaceChunks(
            Path(self.file).stem,
            self.path,
            self.row,
            self.params,
            self.models,
            progress_bar=not self.distributed,
        )


class _Models:
    """The detector, built on first use and shared by the videos of one run (or worker); the
    parameters are the extraction engine's settings (``FaceExtractionParams`` extends them)."""

    def __init__(self, params: FaceExtractionParams):
        self.params = params
        self._detector = None

    def __getstate__(self) -> dict[str, Any]:
        # An onnxruntime session does not pickle: a Dask worker builds its own on first use.
        return {**self.__dict__, "_detector": None}

    def detector(self, det_size: int | None = None):
        """The run's detector; with `det_size`, a one-off detector of that size (reference
        photos)."""
        detector_params = self.params.detector
        if det_size is not None:
            return detector_params.build(det_size=det_size, batch_size=1)
        if self._detector is None:
            self._detector = detector_params.build()
            logger.info(
                "RetinaFace at %d px, batches of %d, on %s",
                detector_params.det_size,
                detector_params.batch_size,
                ", ".join(self._detector.providers),
            )
        return self._detector


def _plan_videos(
    raw_videos: dict[str, Path],
    video_metadata: pd.DataFrame,
    extracted_before: dict[str, Any],
    params: FaceExtractionParams,
) -> tuple[pd.DataFrame, dict[str, tuple[str, pd.Series]]]:
    """The plan (one row a video, ``PLAN_COLUMNS``) and ``{key: (file, metadata row)}`` of the
    videos whose table is not on disk yet."""
    settings_hash = fingerprint_hash(params.extraction_fingerprint())
    to_extract: dict[str, tuple[str, pd.Series]] = {}
    plan_rows = []
    for _, row in video_metadata.iterrows():
        file = str(row["file"])
        if file not in raw_videos:
            raise ValueError(
                f"video {file} is in the video metadata but not in the raw video folder; "
                "run the ingestion pipeline again"
            )
        path = raw_videos[file]
        key = _video_key(row, settings_hash, _picture_facts(row, path), _window_origin_s(row, path))
        reused = key in extracted_before
        if not reused:
            to_extract[key] = (file, row)
        plan_rows.append(
            {
                "person": row.get("person", ""),
                "video": Path(file).stem,
                "file": file,
                "key": key,
                "sha256": row["sha256"],
                "start_s": row["start_s"],
                "end_s": row["end_s"],
                "sample_fps": row["sample_fps"],
                "reused": reused,
            }
        )
    plan = pd.DataFrame(plan_rows, columns=PLAN_COLUMNS)
    duplicated = plan["video"].duplicated()
    if duplicated.any():
        stems = ", ".join(plan.loc[duplicated, "video"])
        raise ValueError(
            f"two sources give videos with the same file stem ({stems}); "
            "their face ids would collide: rename one"
        )
    return plan, to_extract


def extract_video_faces(
    raw_videos: dict[str, Path],
    video_metadata: pd.DataFrame,
    extracted_before: dict[str, Any],
    face_extraction: dict[str, Any],
) -> tuple[FanOutJobs, pd.DataFrame]:
    """Plan the per-video extraction: one lazy job per video not yet extracted with these settings.

    Args:
        raw_videos: ``{file name: path}`` of the person's videos.
        video_metadata: ingestion's table (``file, sha256, start_s, end_s, sample_fps, person,
            ...``).
        extracted_before: the per-video face tables already on disk, by key (read-only view).
        face_extraction: the ``face_extraction`` parameters.

    Returns:
        ``{key: callable}`` for the videos to extract (saved lazily by the face-table folder; with
        ``workers`` > 1 or a ``dask_scheduler``, on Dask workers), and the plan: one row per video
        with its key and whether an earlier result is reused.

    Raises:
        ValueError: bad parameters, or a video in the metadata that is missing from ``raw_videos``.
    """
    params = parse_params(face_extraction)
    plan, to_extract = _plan_videos(raw_videos, video_metadata, extracted_before, params)
    logger.info(
        "%s: %d video%s, %d already extracted with these settings, %d to extract",
        plan["person"].iloc[0] if len(plan) else "face extraction",
        len(plan),
        "" if len(plan) == 1 else "s",
        int(plan["reused"].sum()),
        len(to_extract),
    )
    fan_out = params.fan_out()
    cpu_threads = fan_out.cpu_threads_per_job(len(to_extract))
    if cpu_threads and not params.detector.intra_op_threads:
        # N workers each running onnxruntime on every core would fight over them.
        params = params.model_copy(
            update={
                "detector": params.detector.model_copy(update={"intra_op_threads": cpu_threads})
            }
        )
    models = _Models(params)
    jobs = {
        key: _VideoJob(
            file,
            Path(raw_videos[file]),
            row,
            params,
            models,
            distributed=fan_out.distributed,
            cpu_threads=cpu_threads,
        )
        for key, (file, row) in to_extract.items()
    }
    return FanOutJobs(jobs, fan_out), plan


def _reference_descriptors(
    reference_photos: dict[str, Callable[[], np.ndarray]], models: _Models
) -> np.ndarray:
    from faceswap_pipeline.faces.extraction import describe_largest_face

    detector = (
        models.detector(det_size=models.params.detector.reference_det_size)
        if reference_photos
        else None
    )
    descriptors = []
    for name, load in sorted(reference_photos.items()):
        descriptor, faces = describe_largest_face(load(), detector)
        if descriptor is None:
            raise BadInputError(
                f"reference photo {name} has no face the detector can find; use a photo where the"
                " person's face is clearly visible"
            )
        if faces > 1:
            logger.warning("reference photo %s shows %d faces; using the largest", name, faces)
        descriptors.append(descriptor)
    return np.asarray(descriptors, dtype=np.float32).reshape(-1, 128)


def _track_distances(
    faces: pd.DataFrame, references: np.ndarray | None, threshold: float
) -> pd.Series:
    """Per (video, track): the median distance of its sampled descriptors to the person."""
    from faceswap_pipeline.faces.identity import descriptor_distances, dominant_identity

    described = faces[faces["descriptor"].notna()]
    if described.empty:
        return pd.Series(dtype=float)
    groups = {
        key: np.stack(group["descriptor"].map(np.asarray).to_list())
        for key, group in described.groupby(["video", "track"])
    }
    if references is None or len(references) == 0:
        passed = faces[faces["reject_reason"].isna()].groupby(["video", "track"]).size()
        keys = list(groups)
        cluster = dominant_identity(
            [groups[k] for k in keys], [float(passed.get(k, 1)) for k in keys], threshold
        )
        # Distances to the cluster's centre: measured against all its members, a track would match
        # itself.
        references = cluster.mean(axis=0, keepdims=True)
    return pd.Series(
        {key: float(np.median(descriptor_distances(d, references))) for key, d in groups.items()},
        dtype=float,
    )


def select_person_faces(
    plan: pd.DataFrame,
    extracted_faces: dict[str, Any],
    reference_photos: dict[str, Callable[[], np.ndarray]],
    face_extraction: dict[str, Any],
) -> tuple[dict[str, Callable[[], bytes]], pd.DataFrame, pd.DataFrame, Any, dict[str, Any]]:
    """Keep the person's faces across their videos: identity per track, then the outputs.

    With reference photos a track is kept when the median distance of its sampled descriptors to the
    nearest photo is within ``identity.threshold``; without, the identity that fills most of the
    footage (across all the person's videos) is the person. With ``identity.keep: everyone`` (the
    pretraining's many people) every track passing the quality checks is kept; its distance to the
    dominant identity is still recorded.

    Args:
        plan: ``extract_video_faces``'s plan (which per-video table belongs to this run).
        extracted_faces: the per-video face tables, by key.
        reference_photos: ``{name: loader of RGB uint8 (H, W, 3)}`` (may be empty).
        face_extraction: the ``face_extraction`` parameters.

    Returns:
        ``aligned_faces`` (``{face id: loader of the crop's PNG bytes}``, RGB crops),
        ``face_alignments`` (one row a face), ``identity`` (sampled descriptors of kept tracks), the
        contact sheet (a PIL image) and ``face_extraction_metrics`` (the totals for MLflow,
        ``{"face_extraction.<person>.<total>": {"value": v, "step": 0}}``).

    Raises:
        ValueError: a reference photo without a face, or a planned video whose table is missing.
    """
    params = parse_params(face_extraction)
    person = str(plan["person"].iloc[0]) if len(plan) else "person"
    faces, metadata = _read_face_tables(plan, extracted_faces)
    references = _reference_descriptors(reference_photos, _Models(params))
    _decide_identity(faces, references, params)
    where = zip(faces["face_id"], faces["table_key"], faces["table_row"], strict=True)
    aligned_faces = {
        face_id: _crop_png(extracted_faces[key], row)
        for face_id, key, row in where
        if isinstance(face_id, str)
    }
    summary = _summary(faces, metadata)
    _log_summary(person, summary, _identity_rule(params, bool(len(references))))
    sheet = _contact_sheet(person, faces, extracted_faces, summary, params)
    face_alignments = faces[ALIGNMENT_COLUMNS].reset_index(drop=True)
    metrics = _summary_metrics(person, summary)
    return aligned_faces, face_alignments, _identity_table(faces), sheet, metrics


def _read_face_tables(
    plan: pd.DataFrame, extracted_faces: dict[str, Any]
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Every planned video's faces in one table (without the crops; ``table_key`` and ``table_row``
    say where each crop is) and each table's metadata (frames read, damage)."""
    missing = [key for key in plan["key"] if key not in extracted_faces]
    if missing:
        raise ValueError(
            f"face tables missing for {', '.join(missing)}; run the face_extraction pipeline again"
        )
    detail_columns = [name for name in _face_table_schema().names if name != "crop_png"]
    tables, metadata = [], []
    for video, key in zip(plan["video"], plan["key"], strict=True):
        table = extracted_faces[key].read(columns=detail_columns)
        table["table_key"], table["table_row"] = key, np.arange(len(table))
        tables.append(table)
        metadata.append(extracted_faces[key].metadata())
        logger.debug("%s: %d faces from %s", video, len(table), key)
    if not tables:
        return pd.DataFrame(columns=[*detail_columns, "table_key", "table_row"]), metadata
    return pd.concat(tables, ignore_index=True), metadata


def _decide_identity(
    faces: pd.DataFrame, references: np.ndarray, params: FaceExtractionParams
) -> None:
    """Adds ``identity_distance``, ``kept`` and ``face_id`` to ``faces`` (in place): with
    ``identity.keep: person``, a track farther than ``identity.threshold`` is another person."""
    threshold = params.identity.threshold
    distances = _track_distances(faces, references if len(references) else None, threshold)
    track_keys = list(zip(faces["video"], faces["track"], strict=True))
    faces["identity_distance"] = [distances.get(key, np.nan) for key in track_keys]
    if params.identity.keep == "person":
        passed = faces["reject_reason"].isna()
        wrong_person = passed & ~(faces["identity_distance"] <= threshold)
        faces.loc[wrong_person, "reject_reason"] = REJECT_OTHER_IDENTITY
    faces["kept"] = faces["reject_reason"].isna()
    faces["face_id"] = [
        f"{video}/{frame:06d}_t{track:03d}" if kept else None
        for video, frame, track, kept in zip(
            faces["video"], faces["frame_index"], faces["track"], faces["kept"], strict=True
        )
    ]


def _identity_table(faces: pd.DataFrame) -> pd.DataFrame:
    """The sampled descriptors of the kept tracks (``IDENTITY_COLUMNS``)."""
    kept_tracks = set(
        faces.loc[faces["kept"], ["video", "track"]].itertuples(index=False, name=None)
    )
    described = faces[faces["descriptor"].notna()]
    return pd.DataFrame(
        [
            {
                "video": r.video,
                "track": r.track,
                "frame_index": r.frame_index,
                "descriptor": np.asarray(r.descriptor, np.float32).tolist(),
            }
            for r in described.itertuples(index=False)
            if (r.video, r.track) in kept_tracks
        ],
        columns=IDENTITY_COLUMNS,
    )


def _crop_png(table: Any, row: int) -> Callable[[], bytes]:
    """A loader of one stored crop's PNG bytes (the image folder writes them without
    re-encoding)."""
    return lambda: table.cell("crop_png", int(row))


def _decode_png(encoded: bytes) -> np.ndarray:
    import cv2

    bgr = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _summary(faces: pd.DataFrame, metadata: list[dict[str, str]]) -> dict[str, Any]:
    rejected = Counter(faces["reject_reason"].dropna())
    return {
        "videos": len(metadata),
        "damaged_videos": sum(m.get("damaged") == "True" for m in metadata),
        "frames_read": sum(int(m.get("frames_read", 0)) for m in metadata),
        "faces_found": len(faces),
        "faces_kept": int(faces["kept"].sum()),
        "frames_with_kept_face": int(
            faces.loc[faces["kept"], ["video", "frame_index"]].drop_duplicates().shape[0]
        ),
        "tracks": int(faces[["video", "track"]].drop_duplicates().shape[0]),
        "rejected": {reason: int(count) for reason, count in sorted(rejected.items())},
    }


# What to change when every face was rejected for one reason.
_REJECT_HINTS = {
    "too_small": (
        "the faces are smaller than face_extraction.min_face_size; use closer or sharper videos, or"
        " lower it"
    ),
    "low_score": (
        "the detector is unsure of every face; use clearer videos, or lower"
        " face_extraction.min_score"
    ),
    "blurred": "every face is blurred; use sharper videos, or lower face_extraction.min_sharpness",
    REJECT_OTHER_IDENTITY: (
        "no face matches the person; check the reference photos, or raise"
        " face_extraction.identity.threshold"
    ),
}


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in counts.items())


def _identity_rule(params: FaceExtractionParams, with_references: bool) -> str:
    """How tracks were kept, in words, for the log."""
    if params.identity.keep == "everyone":
        return "every identity"
    return "matched to reference photos" if with_references else "dominant identity"


def _log_summary(person: str, summary: dict[str, Any], identity_rule: str) -> None:
    logger.info(
        "%s: %d video%s, %d frames read, %d faces found in %d track%s, %d kept (%s), rejected: %s",
        person,
        summary["videos"],
        "" if summary["videos"] == 1 else "s",
        summary["frames_read"],
        summary["faces_found"],
        summary["tracks"],
        "" if summary["tracks"] == 1 else "s",
        summary["faces_kept"],
        identity_rule,
        _describe_counts(summary["rejected"]) or "none",
    )
    if summary["faces_kept"] == 0:
        rejected = summary["rejected"]
        hints = [
            _REJECT_HINTS[reason] for reason in sorted(rejected, key=rejected.get, reverse=True)
        ]
        logger.warning(
            "%s: no face kept (%d found%s); training needs this person's faces: %s",
            person,
            summary["faces_found"],
            f", rejected {_describe_counts(rejected)}" if rejected else "",
            "; ".join(hints) or "check that the person is in the videos",
        )


def _summary_metrics(person: str, summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The person's totals as ``face_extraction_metrics`` (kedro-mlflow's metrics dataset logs
    them): ``{"face_extraction.<person>.<total>": {"value": v, "step": 0}}``, one per rejection
    reason too."""
    prefix = f"face_extraction.{safe_stem(person, fallback='person')}"
    metrics = {
        f"{prefix}.{name}": float(value) for name, value in summary.items() if name != "rejected"
    }
    rejected = summary["rejected"].items()
    metrics |= {f"{prefix}.rejected_{reason}": float(count) for reason, count in rejected}
    return {name: {"value": value, "step": 0} for name, value in metrics.items()}


def _contact_sheet(
    person: str,
    faces: pd.DataFrame,
    extracted_faces: dict[str, Any],
    summary: dict[str, Any],
    params: FaceExtractionParams,
) -> Any:
    from PIL import Image

    from faceswap_pipeline.faces.contact_sheet import contact_sheet

    sheet_params = params.contact_sheet

    def sample(selection: pd.DataFrame, count: int) -> tuple[list[np.ndarray], list[str]]:
        if selection.empty:
            return [], []
        chosen = selection.iloc[
            np.unique(
                np.linspace(0, len(selection) - 1, min(count, len(selection))).round().astype(int)
            )
        ]
        crops = [
            _decode_png(extracted_faces[r.table_key].cell("crop_png", r.table_row))
            for r in chosen.itertuples()
        ]
        captions = [f"{r.frame_index} d{r.identity_distance:.2f}" for r in chosen.itertuples()]
        return crops, captions

    kept = sample(faces[faces["kept"]], sheet_params.max_faces)
    other = sample(faces[faces["reject_reason"] == REJECT_OTHER_IDENTITY], sheet_params.columns)
    rejected = (
        ", ".join(f"{reason} {count}" for reason, count in summary["rejected"].items()) or "none"
    )
    header = [
        (
            f"{person}: {summary['videos']} video{'' if summary['videos'] == 1 else 's'},"
            f" {summary['frames_read']} frames read, {summary['faces_found']} faces found in"
            f" {summary['tracks']} track{'' if summary['tracks'] == 1 else 's'}"
        ),
        (
            f"kept {summary['faces_kept']} faces ({summary['frames_with_kept_face']} frames);"
            f" rejected: {rejected}"
        ),
        (
            f"crop {params.crop_size}px margin {params.margin}, det {params.detector.det_size}px,"
            f" identity threshold {params.identity.threshold}"
        ),
    ]
    image = contact_sheet(
        [
            (f"kept (a sample of {len(kept[0])}; caption: frame, identity distance)", *kept),
            (f"rejected as another person (a sample of {len(other[0])})", *other),
        ],
        header,
        columns=sheet_params.columns,
        thumbnail_size=sheet_params.thumbnail_size,
    )
    return Image.fromarray(image)
