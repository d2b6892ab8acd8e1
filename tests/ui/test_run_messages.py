"""The tiny run's console: each long step says what it made and where (the output-summary hook)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import TinyRun

pytestmark = pytest.mark.slow

# pipeline -> the start of the line its main step logs when done (`<node> made <dataset> (<where>)`).
STEP_SUMMARIES = {
    "ingestion": "person_a.fetch_videos made person_a.raw_videos (data/01_raw/videos/person_a)",
    "face_extraction": "person_b.select_person_faces made person_b.aligned_faces (data/03_primary/faces/person_b)",
    "training": "train_swap_model made swap_model (data/06_models/swap_model + MLflow run)",
    "conversion": "convert_video made swapped_video (data/07_model_output/swapped.mp4)",
    "pretraining": "pretraining.pretrain_base_model made base_model (data/06_models/base_model + MLflow run)",
}


def test_each_step_says_what_it_made_and_where(tiny_run: TinyRun):
    missing = [
        line for pipeline, line in STEP_SUMMARIES.items() if pipeline in tiny_run.pipelines and line not in tiny_run.log
    ]
    assert missing == [], tiny_run.log[-4000:]


def test_long_steps_show_progress(tiny_run: TinyRun):
    # Per-video face extraction and conversion show progress bars (tqdm, on stderr) named by video.
    if "face_extraction" in tiny_run.pipelines:
        assert "single_d18-" in tiny_run.log and "frame/s]" in tiny_run.log
    if "conversion" in tiny_run.pipelines:
        assert "converting single_d18-" in tiny_run.log
