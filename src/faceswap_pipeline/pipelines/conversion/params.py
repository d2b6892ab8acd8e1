"""Typed conversion parameters (`conf/base/parameters_conversion.yml`), checked before any work.

The swapping engine's settings (`swapping.settings.SwapSettings`: device, detection, identity,
smoothing, compositing, output) are parsed straight from the YAML; this stage adds what to convert.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from faceswap_pipeline.pipelines.parameters import validate_parameters
from faceswap_pipeline.sources import Seconds
from faceswap_pipeline.strict_model import StrictModel
from faceswap_pipeline.swapping.settings import (
    DEFAULT_DIRECTION,
    DIRECTIONS,
    Direction,
    SwapSettings,
)


class GifParams(StrictModel):
    fps: float = Field(8.0, gt=0, le=50)
    max_width: int = Field(256, ge=16, le=2048)
    max_seconds: float = Field(6.0, gt=0, description="the GIF covers at most this much video")


class ConversionParams(SwapSettings):
    """Everything the conversion reads from its parameters: the engine's settings, what to convert.

    `video` is a local path or an http(s) URL; None converts the source person's first raw video.
    `photos` is a folder of photos to convert instead (swapped_photos).
    """

    video: str | None = None
    photos: str | None = None
    direction: Direction = DEFAULT_DIRECTION
    # Seconds, or a time as a player shows it ("1:23.5", "1:02:03").
    start_s: Seconds | None = Field(None, ge=0)
    duration_s: Seconds | None = Field(None, gt=0)
    gif: GifParams = GifParams()

    @property
    def source_person(self) -> str:
        """The namespace of the person whose face is replaced."""
        return DIRECTIONS[self.direction][0]

    @property
    def target(self) -> Literal["a", "b"]:
        """The decoder to swap into."""
        return DIRECTIONS[self.direction][1]

    @property
    def end_s(self) -> float | None:
        if self.duration_s is None:
            return None
        return (self.start_s or 0.0) + self.duration_s


def parse_params(value: Any) -> ConversionParams:
    """Validate the `conversion` parameters.

    Raises:
        ValueError: naming each wrong parameter (`conversion.<name>`) and the file to fix.
    """
    return validate_parameters(
        ConversionParams, value, prefix="conversion", file="conf/base/parameters_conversion.yml"
    )
