"""The one base of every settings type: unknown keys are errors (a typo never passes silently) and
values are frozen once parsed (an engine cannot change the settings it was given)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A Pydantic model that forbids unknown keys and is immutable; `model_copy(update=...)` derives
    one."""

    model_config = ConfigDict(extra="forbid", frozen=True)
