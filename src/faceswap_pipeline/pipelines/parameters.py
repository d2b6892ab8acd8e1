"""Validate a stage's parameters with its Pydantic model; a bad value fails naming
`<stage>.<key>`."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from faceswap_pipeline.errors import BadInputError

Model = TypeVar("Model", bound=BaseModel)


class InvalidParametersError(BadInputError):
    """A stage's parameters that fail validation.

    Attributes:
        file: the stage's parameter file in conf/base, where each key is documented.
        problems: ``(key, why)`` per wrong value, the key dotted from the top
            (``training.optimizer.lr``, ``person_a.sources.0.url``).
    """

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(
            f"invalid parameters in {file}: " + "; ".join(f"{key}: {why}" for key, why in problems)
        )

    def __reduce__(self) -> tuple[type, tuple[str, list[tuple[str, str]]]]:
        # Pickled whole (Dask workers), not from the message alone.
        return type(self), (self.file, self.problems)


def validate_parameters(model: type[Model], value: Any, *, prefix: str, file: str) -> Model:
    """``model.model_validate(value)``, with one error naming every wrong parameter and the file to
    fix.

    Args:
        model: the stage's parameter model.
        value: the ``params:`` input (``None`` = all defaults).
        prefix: the parameters' key in the configuration (``conversion``, ``person_a``...).
        file: the parameter file to fix, e.g. ``conf/base/parameters_conversion.yml``.

    Raises:
        InvalidParametersError: ``invalid parameters in <file>: <prefix>.<key>: <why>; ...``.
    """
    try:
        return model.model_validate(value if value is not None else {})
    except ValidationError as error:
        problems = [
            (f"{prefix}{''.join(f'.{part}' for part in e['loc'])}", e["msg"])
            for e in error.errors()
        ]
        raise InvalidParametersError(file, problems) from error
