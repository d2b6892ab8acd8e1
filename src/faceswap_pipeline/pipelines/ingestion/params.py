"""Typed ingestion parameters (`conf/base/parameters_ingestion.yml`): each person's sources and the
download options, checked before any work starts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.sources import DownloadOptions, VideoSource
from faceswap_pipeline.strict_model import StrictModel


class PersonSources(StrictModel):
    """One person's configuration: a display name, video sources and optional reference photos."""

    name: str
    sources: list[VideoSource]
    reference_photos: list[str] = []


def _parse(model: type[BaseModel], value: Any, where: str) -> Any:
    return validate_parameters(
        model, value, prefix=where, file="conf/base/parameters_ingestion.yml"
    )


def parse_person_sources(value: Any, where: str = "person") -> PersonSources:
    """Validate one person's ingestion parameters (`person_a` or `person_b`: `where`).

    Raises:
        ValueError: naming each wrong parameter (`<where>.<name>`) and the file to fix.
    """
    return _parse(PersonSources, value, where)


def parse_download_options(value: Any) -> DownloadOptions:
    """Validate the `download` parameters.

    Raises:
        ValueError: naming each wrong parameter (`download.<name>`) and the file to fix.
    """
    return _parse(DownloadOptions, value, "download")
