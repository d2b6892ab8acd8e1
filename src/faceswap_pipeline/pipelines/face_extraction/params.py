"""Typed face-extraction parameters (``conf/base/parameters_face_extraction.yml``), checked before
work starts.

The extraction engine's settings (``faces.extraction_settings.ExtractionSettings``) are parsed
straight from the YAML; this stage adds where videos are extracted, how crops are stored and what
is kept across videos.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field

from faceswap_pipeline.faces.detection import DetectorSettings
from faceswap_pipeline.faces.extraction_settings import DescriptorSampling, ExtractionSettings
from faceswap_pipeline.fan_out import FanOut
from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.strict_model import StrictModel

# Bump when the per-video table's layout or meaning changes: old per-video results are then redone.
EXTRACTION_FORMAT_VERSION = 2


class DetectorParams(DetectorSettings):
    """RetinaFace settings, and the size it runs at on the reference photos."""

    reference_det_size: int = Field(
        640, ge=64, le=4096, description="detector size for reference photos"
    )


class IdentityParams(DescriptorSampling):
    """Which faces get descriptors (the engine's), and which tracks are kept (across videos)."""

    keep: Literal["person", "everyone"] = Field(
        "person",
        description="person: the tracks of the person; everyone: every track (pretraining)",
    )
    threshold: float = Field(
        0.6, gt=0.0, le=2.0, description="dlib descriptor distance: same person below"
    )


class ContactSheetParams(StrictModel):
    max_faces: int = Field(60, ge=1)
    columns: int = Field(10, ge=1)
    thumbnail_size: int = Field(96, ge=16, le=512)


class FaceExtractionParams(ExtractionSettings):
    """Everything face extraction reads from its parameters: the engine's settings
    (``faces.extraction_settings.ExtractionSettings``: sizes, thresholds, detector, tracking,
    descriptor sampling), where the videos are extracted, how crops are stored, and what is kept
    across videos."""

    workers: int = Field(
        1,
        ge=1,
        le=1024,
        description=(
            "videos extracted at once, each in a Dask worker process; 1: one by one, no Dask"
        ),
    )
    dask_scheduler: str | None = Field(
        None,
        min_length=1,
        pattern=r"^([a-z][a-z0-9+]*://)?[^\s/]+$",
        description=(
            "address of a running Dask scheduler (tcp://host:8786) whose workers extract the videos"
        ),
    )
    dask_worker_memory: str = Field(
        "auto",
        min_length=1,
        description=(
            "memory limit per LocalCluster worker (e.g. 4GiB); auto: the machine's / workers"
        ),
    )
    png_compression: int = Field(1, ge=0, le=9)
    detector: DetectorParams = DetectorParams()
    identity: IdentityParams = IdentityParams()
    contact_sheet: ContactSheetParams = ContactSheetParams()

    def fan_out(self) -> FanOut:
        """Where the videos are extracted (``workers``, ``dask_scheduler``,
        ``dask_worker_memory``)."""
        return FanOut(
            workers=self.workers,
            scheduler=self.dask_scheduler,
            memory_limit=self.dask_worker_memory,
        )

    def extraction_fingerprint(self) -> dict[str, Any]:
        """The settings that change a video's per-video result (not speed-only ones like batch size
        or workers)."""
        return {
            "version": EXTRACTION_FORMAT_VERSION,
            "crop_size": self.crop_size,
            "margin": self.margin,
            "min_face_size": self.min_face_size,
            "min_score": self.min_score,
            "min_sharpness": self.min_sharpness,
            "detector": self.detector.model_dump(
                include={"det_size", "score_threshold", "nms_threshold"}
            ),
            "tracking": self.tracking.model_dump(),
            "descriptors": self.identity.model_dump(
                include={"descriptor_every", "max_descriptors_per_track"}
            ),
        }


def parse_params(value: Any) -> FaceExtractionParams:
    """Validate the ``face_extraction`` parameters.

    Raises:
        ValueError: naming each wrong parameter (``face_extraction.<name>``) and why.
    """
    return validate_parameters(
        FaceExtractionParams,
        value,
        prefix="face_extraction",
        file="conf/base/parameters_face_extraction.yml",
    )


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able dict (sorted keys)."""
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
