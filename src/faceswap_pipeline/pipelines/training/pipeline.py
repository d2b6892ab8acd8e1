"""Training wiring: pick the training and held-out faces, decode them once, then train the swap
model.

`base_model` (the pretraining's output) is an input: read only when `training.init_from` names it.
"""

from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.pipelines.training.nodes import (
    build_face_banks,
    select_training_faces,
    train_swap_model,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                select_training_faces,
                inputs=[
                    "person_a_aligned_faces",
                    "person_a_face_alignments",
                    "person_b_aligned_faces",
                    "person_b_face_alignments",
                    "params:training",
                ],
                outputs="training_faces",
                name="select_training_faces",
            ),
            Node(
                build_face_banks,
                inputs=[
                    "person_a_aligned_faces",
                    "person_b_aligned_faces",
                    "training_faces",
                    "params:training",
                    "training_face_banks_before",
                ],
                outputs="training_face_banks",
                name="build_face_banks",
            ),
            Node(
                train_swap_model,
                inputs=[
                    "person_a_aligned_faces",
                    "person_b_aligned_faces",
                    "training_faces",
                    "params:training",
                    "person_a_identity",
                    "person_b_identity",
                    "params:evaluation",
                    "base_model",
                    "training_face_banks",
                ],
                outputs=["swap_model", "training_preview", "training_summary"],
                name="train_swap_model",
            ),
        ]
    )
