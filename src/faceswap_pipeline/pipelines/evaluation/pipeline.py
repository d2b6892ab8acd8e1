"""Evaluation wiring: the swapped video, its source, the model and both people's faces in; figures
out (files, and MLflow metrics and tags through the catalog)."""

from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.pipelines.evaluation.nodes import (
    evaluate_reconstruction,
    evaluate_swapped_video,
    plot_flicker_over_time,
    plot_identity_over_time,
    render_evaluation_report,
    summarise_evaluation,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(_measurement_nodes() + _report_nodes())


def _measurement_nodes() -> list[Node]:
    """The swapped video and the model measured, the figures summed up and judged."""
    return [
        Node(
            evaluate_swapped_video,
            inputs=[
                "swapped_video",
                "conversion_report",
                "person_a_identity",
                "person_b_identity",
                "person_a_raw_videos",
                "person_b_raw_videos",
                "params:conversion",
                "params:evaluation",
                "evaluation_staging",
                "params:download",
                "conversion_raw_videos",
            ],
            outputs=["evaluation_frames", "evaluation_report_frames"],
            name="evaluate_swapped_video",
        ),
        Node(
            evaluate_reconstruction,
            inputs=[
                "swap_model",
                "person_a_aligned_faces",
                "person_b_aligned_faces",
                "training_faces",
                "params:evaluation",
            ],
            outputs="reconstruction_metrics",
            name="evaluate_reconstruction",
        ),
        Node(
            summarise_evaluation,
            inputs=[
                "evaluation_frames",
                "reconstruction_metrics",
                "swapped_video",
                "person_a_identity",
                "person_b_identity",
                "params:conversion",
                "params:evaluation",
                "evaluation_mlflow_run_id",
            ],
            outputs=[
                "evaluation_summary",
                "evaluation_metrics",
                "evaluation_mlflow_metrics",
                "evaluation_mlflow_tags",
            ],
            name="summarise_evaluation",
        ),
    ]


def _report_nodes() -> list[Node]:
    """The figures drawn and the HTML report."""
    return [
        Node(
            plot_identity_over_time,
            inputs=["evaluation_frames", "params:evaluation"],
            outputs="evaluation_identity_plot",
            name="plot_identity_over_time",
        ),
        Node(
            plot_flicker_over_time,
            inputs="evaluation_frames",
            outputs="evaluation_flicker_plot",
            name="plot_flicker_over_time",
        ),
        Node(
            render_evaluation_report,
            inputs=[
                "evaluation_summary",
                "evaluation_metrics",
                "evaluation_report_frames",
                "evaluation_frames",
            ],
            outputs="evaluation_report",
            name="render_evaluation_report",
        ),
    ]
