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
    return Pipeline(
        [
            Node(
                fetch_conversion_video,
                inputs=[
                    "conversion.existing_raw_videos",
                    "params:conversion",
                    "params:download",
                    "conversion.fetch_staging",
                ],
                outputs="conversion_raw_videos",
                name="fetch_conversion_video",
            ),
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
