"""The face-extraction pipeline through a SequentialRunner on the project's own catalog entries,
pointed at a temporary folder, for one person and one real clip."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from faceswap_pipeline.pipelines.face_extraction.pipeline import create_pipeline
from faceswap_pipeline.video.probe import probe_video
from tests.helpers import PROJECT_ROOT

FACE_EXTRACTION_PARAMS = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_face_extraction.yml").read_text()
)["face_extraction"]


def video_metadata(person: str, video: Path, *, sample_fps: float = math.nan) -> pd.DataFrame:
    """`{person}.video_metadata` as ingestion writes it, for one local clip."""
    info = probe_video(video)
    return pd.DataFrame(
        [
            {
                "person": person,
                "source": str(video),
                "title": video.stem,
                "file": video.name,
                "start_s": math.nan,
                "end_s": math.nan,
                "sample_fps": sample_fps,
                "duration_s": info.duration_s,
                "frame_count": info.frame_count,
                "sha256": hashlib.sha256(video.read_bytes()).hexdigest(),
            }
        ]
    )


def face_extraction_catalog(
    root: Path, person: str, video: Path, metadata: pd.DataFrame
) -> DataCatalog:
    """The project's face-extraction catalog with every path moved under ``root``; inputs in
    memory."""
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_face_extraction.yml").read_text())
    for entry in config.values():
        for key in ("path", "filepath"):
            if key in entry:
                entry[key] = str(root / entry[key])
    config["{person}.reference_photos"] = {
        "type": "faceswap_pipeline.datasets.ImageFolderDataset",
        "path": str(root / "data/01_raw/photos/{person}"),
    }
    catalog = DataCatalog.from_config(config)
    # No MLflow run here (kedro-mlflow starts one in `kedro run`): the metrics stay in memory.
    catalog[f"{person}.face_extraction_metrics"] = MemoryDataset()
    catalog[f"{person}_raw_videos"] = {video.name: video}
    catalog[f"{person}.video_metadata"] = metadata
    catalog["params:face_extraction"] = FACE_EXTRACTION_PARAMS
    return catalog


def run_face_extraction(catalog: DataCatalog, person: str) -> None:
    """Run the person's namespace of the face-extraction pipeline on ``catalog``."""
    SequentialRunner().run(create_pipeline().only_nodes_with_namespaces([person]), catalog)
