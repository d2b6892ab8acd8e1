"""Ingestion wiring: one template pipeline, instantiated for person A and person B by namespace."""

from kedro.pipeline import Node, Pipeline

from faceswap_pipeline.pipelines.ingestion.nodes import collect_reference_photos, fetch_videos

PEOPLE = ("person_a", "person_b")


def create_pipeline(**kwargs) -> Pipeline:
    template = Pipeline(
        [
            Node(
                fetch_videos,
                inputs=["existing_raw_videos", "params:person", "params:download", "fetch_staging"],
                outputs=["raw_videos", "video_metadata"],
                name="fetch_videos",
            ),
            Node(
                collect_reference_photos,
                inputs="params:person",
                outputs="reference_photos",
                name="collect_reference_photos",
            ),
        ]
    )
    return sum(
        (
            Pipeline(
                template,
                namespace=person,
                parameters={
                    "params:person": f"params:{person}",
                    "params:download": "params:download",
                },
                # Read by the conversion and evaluation too (outside the namespace): a name of its
                # own.
                outputs={"raw_videos": f"{person}_raw_videos"},
            )
            for person in PEOPLE
        ),
        Pipeline([]),
    )
