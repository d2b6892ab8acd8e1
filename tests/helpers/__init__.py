"""What the tests share besides fixtures (those are in the conftest.py files): where the project and
the real test media are, and helpers for a throw-away project, local servers, faces and clips."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Real media: ../shared/data next to the project (never copied into it).
SHARED_DATA = Path(os.environ.get("FACESWAP_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
