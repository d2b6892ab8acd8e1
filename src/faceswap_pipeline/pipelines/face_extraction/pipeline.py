"""Face-extraction wiring: one template pipeline, instantiated for person A and person B by namespace."""

from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.pipelines.face_extraction.nodes import (
    extract_video_faces,
    select_person_faces,
)

PEOPLE = ("person_a", "person_b")


def create_template(settings: str = "params:face_extraction") -> Pipeline:
    """The per-person pipeline before namespacing (dataset names without the ``<person>.`` prefix).

    Args:
        settings: the input holding the face-extraction settings (the pretraining passes its own
            copy with ``identity.keep: everyone``).
    """
    return Pipeline([
        Node(
            extract_video_faces,
            inputs=["raw_videos", "video_metadata", "extracted_faces_before", settings],
            outputs=["extracted_faces", "face_extraction_plan"],
            name="extract_video_faces",
        ),
        Node(
            select_person_faces,
            inputs=["face_extraction_plan", "extracted_faces", "reference_photos", settings],
            outputs=["aligned_faces", "face_alignments", "identity", "face_contact_sheet"],
            name="select_person_faces",
        ),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    template = create_template()
    return sum(
        (
            Pipeline(template, namespace=person, parameters={"params:face_extraction": "params:face_extraction"})
            for person in PEOPLE
        ),
        Pipeline([]),
    )
