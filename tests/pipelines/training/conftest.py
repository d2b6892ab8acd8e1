"""The real aligned faces of the model tests, shared with the pipeline tests."""

from tests.model.conftest import clip_faces  # noqa: F401 - a fixture, registered by being imported here
