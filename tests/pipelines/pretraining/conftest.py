"""The real aligned faces of the model tests, for the pair that starts from a base model."""

from tests.model.conftest import clip_faces  # noqa: F401 - a fixture, registered by being imported here
