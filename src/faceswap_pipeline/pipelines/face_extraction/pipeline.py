"""Face-extraction wiring: one template pipeline, instantiated for person A and person B by
namespace."""

from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.pipelines.face_extraction.nodes import (
    extract_video_faces,
    select_person_faces,
)

PEOPLE = ("person_a", "person_b")
# What training, conversion and evaluation read of each person's face extraction.
PUBLIC_OUTPUTS = ("aligned_faces", "face_alignments", "identity")


def create_template(settings: str = "params:face_extraction") -> Pipeline:
    """The per-person pipeline before namespacing (dataset names without the ``<person>.`` prefix).

    Args:
        settings: the input holding the face-extraction settings (the pretraining passes its own
            copy with ``identity.keep: everyone``).
    """
    return Pipeline(
        [
            Node(
                extract_video_faces,
                inputs=["raw_videos", "video_metadata", "extracted_faces_before", settings],
                outputs=["extracted_faces", "face_extraction_plan"],
                name="extract_video_faces",
            ),
            Node(
                select_person_faces,
                inputs=["face_extraction_plan", "extracted_faces", "reference_photos", settings],
                outputs=[
                    "aligned_faces",
                    "face_alignments",
                    "identity",
                    "face_contact_sheet",
                    "face_extraction_metrics",
                ],
                name="select_person_faces",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    template = create_template()
    return sum(
        (
            Pipeline(
                template,
                namespace=person,
                parameters={"params:face_extraction": "params:face_extraction"},
                # The person's datasets that other stages read keep names of their own
                # (`person_a_identity`): Kedro reserves `person_a.` for the namespace's inner
                # datasets.
                inputs={"raw_videos": f"{person}_raw_videos"},
                outputs={name: f"{person}_{name}" for name in PUBLIC_OUTPUTS},
            )
            for person in PEOPLE
        ),
        Pipeline([]),
    )
