"""Conversion wiring: a video (or photos) and the swap model in; the swapped video, its GIF, report
and metrics out."""

from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.pipelines.conversion.nodes import (
    convert_photos,
    convert_video,
    fetch_conversion_video,
    make_preview_gif,
    summarise_conversion,
)


def create_pipeline(**kwargs) -> Pipeline:
    return _fetch_pipeline() + Pipeline(
        [
            Node(
                convert_video,
                inputs=[
                    "swap_model",
                    "person_a_identity",
                    "person_b_identity",
                    "person_a_raw_videos",
                    "person_b_raw_videos",
                    "params:conversion",
                    "params:face_extraction.margin",
                    "conversion_staging",
                    "conversion_mlflow_run_id",
                    "conversion_raw_videos",
                ],
                outputs=["swapped_video", "conversion_report"],
                name="convert_video",
            ),
            Node(
                summarise_conversion,
                inputs="conversion_report",
                outputs="conversion_metrics",
                name="summarise_conversion",
            ),
            Node(
                make_preview_gif,
                inputs=["swapped_video", "params:conversion", "conversion_staging"],
                outputs="swapped_gif",
                name="make_preview_gif",
            ),
            Node(
                convert_photos,
                inputs=[
                    "swap_model",
                    "person_a_identity",
                    "person_b_identity",
                    "params:conversion",
                    "params:face_extraction.margin",
                ],
                outputs="swapped_photos",
                name="convert_photos",
            ),
        ]
    )


def _fetch_pipeline() -> Pipeline:
    """A `conversion.video` URL fetched once, as ingestion fetches a person's videos: in the
    `conversion` namespace, its datasets come from the same `{person}` catalog patterns
    (`data/01_raw/videos/conversion/`), and `conversion_raw_videos` is what the stages read."""
    template = Pipeline(
        [
            Node(
                fetch_conversion_video,
                inputs=[
                    "existing_raw_videos",
                    "params:conversion",
                    "params:download",
                    "fetch_staging",
                ],
                outputs="raw_videos",
                name="fetch_conversion_video",
            )
        ]
    )
    return Pipeline(
        template,
        namespace="conversion",
        parameters={"params:conversion": "params:conversion", "params:download": "params:download"},
        outputs={"raw_videos": "conversion_raw_videos"},
    )
