"""The training benchmarks' face cache (benchmarks/shared_faces.py) is reused only by the code that
made it: keyed by the clip's name alone, faces cached before d9 was read with square pixels would
have been trained on as they were."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

import faceswap_pipeline.faces.extraction
from tests.helpers import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from shared_faces import extract_clip  # noqa: E402


def test_cached_faces_are_reused_by_the_same_code_and_made_again_by_other_code(
    shared_videos, tmp_path, monkeypatch
):
    video = tmp_path / "clip.mp4"
    shutil.copyfile(shared_videos / "no_audio_d0.mp4", video)
    cache = tmp_path / "cache"
    # Faces an older extraction cached under the name the cache once had, and under another key.
    cache.mkdir()
    for stale in ("clip", "clip-0123456789ab"):
        np.savez(cache / f"{stale}.npz", old=np.zeros((2, 2, 3), np.uint8))
        (cache / f"{stale}.parquet").write_bytes(b"")

    crops, table = extract_clip(video, cache)

    assert len(crops) == len(table) > 50  # 78 frames of one face
    assert "old" not in crops
    # The stale ones are gone; the new ones are named by the key.
    made = sorted(path.name for path in cache.iterdir())
    assert [name.rsplit(".", 1)[1] for name in made] == ["npz", "parquet"]
    assert made[0].startswith("clip-") and made[0] != "clip-0123456789ab.npz"
    # Same clip, same code: read back without extracting.
    monkeypatch.setattr(
        faceswap_pipeline.faces.extraction,
        "extract_clip_faces",
        lambda *_, **__: pytest.fail("extracted again"),
    )
    again, again_table = extract_clip(video, cache)
    assert again.keys() == crops.keys()
    assert all(np.array_equal(again[key], crops[key]) for key in crops)
    assert list(again_table["face_id"]) == list(table["face_id"])
    # Another clip under the same name (or other code) is another key: extracted again.
    shutil.copyfile(shared_videos / "single_d18.mp4", video)
    with pytest.raises(pytest.fail.Exception, match="extracted again"):
        extract_clip(video, cache)
