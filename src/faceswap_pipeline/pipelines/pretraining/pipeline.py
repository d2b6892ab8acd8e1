"""Pretraining wiring: ingestion's fetch, face extraction's template (every identity kept) and the
base model.

Everything sits in the `pretraining` namespace, so its datasets come from the same `{person}.*` and
`{person}_*` catalog patterns as person A's and B's (`data/01_raw/videos/pretraining/`,
`data/03_primary/faces/pretraining/`).
Registered as its own pipeline, not in `__default__`: a user pretrains deliberately, once, and pairs
start from the result (`training.init_from: base_model`).
"""

from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.pipelines.face_extraction.pipeline import (
    create_template as face_extraction_template,
)
from faceswap_pipeline.pipelines.pretraining.nodes import (
    build_pretraining_face_bank,
    fetch_pretraining_videos,
    keep_every_identity,
    pretrain_base_model,
)

NAMESPACE = "pretraining"
# Produced here under these names, outside the namespace: the names users and training refer to.
OUTPUTS = ("base_model", "pretraining_preview", "pretraining_summary")
# A person's datasets that other stages read have undotted names (`person_a_identity`, ingestion's
# and face extraction's public outputs); the pretraining's get the same, so the same catalog entries
# hold them.
PERSON_DATASETS = ("raw_videos", "aligned_faces", "face_alignments", "identity")


def create_pipeline(**kwargs) -> Pipeline:
    template = Pipeline(
        [
            Node(
                fetch_pretraining_videos,
                inputs=[
                    "existing_raw_videos",
                    "params:pretraining",
                    "params:download",
                    "fetch_staging",
                ],
                outputs=["raw_videos", "video_metadata"],
                name="fetch_pretraining_videos",
            ),
            Node(
                keep_every_identity,
                inputs="params:face_extraction",
                outputs="face_extraction_settings",
                name="keep_every_identity",
            ),
            face_extraction_template(settings="face_extraction_settings"),
            Node(
                build_pretraining_face_bank,
                inputs=[
                    "aligned_faces",
                    "face_alignments",
                    "params:training",
                    "params:pretraining",
                    "face_banks_before",
                ],
                outputs="face_banks",
                name="build_pretraining_face_bank",
            ),
            Node(
                pretrain_base_model,
                inputs=[
                    "aligned_faces",
                    "face_alignments",
                    "params:training",
                    "params:pretraining",
                    "mlflow_run_id",
                    "face_banks",
                ],
                outputs=list(OUTPUTS),
                name="pretrain_base_model",
            ),
        ]
    )
    return Pipeline(
        template,
        namespace=NAMESPACE,
        parameters={
            name: name
            for name in (
                "params:pretraining",
                "params:download",
                "params:face_extraction",
                "params:training",
            )
        },
        outputs={
            **{name: name for name in OUTPUTS},
            **{name: f"{NAMESPACE}_{name}" for name in PERSON_DATASETS},
        },
    )
