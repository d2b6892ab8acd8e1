"""Validate a stage's parameters with its Pydantic model; a bad value fails naming
`<stage>.<key>`."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from faceswap_pipeline.errors import BadInputError

Model = TypeVar("Model", bound=BaseModel)


def validate_parameters(model: type[Model], value: Any, *, prefix: str, file: str) -> Model:
    """``model.model_validate(value)``, with one error naming every wrong parameter and the file to
    fix.

    Args:
        model: the stage's parameter model.
        value: the ``params:`` input (``None`` = all defaults).
        prefix: the parameters' key in the configuration (``conversion``, ``person_a``...).
        file: the parameter file to fix, e.g. ``conf/base/parameters_conversion.yml``.

    Raises:
        ValueError: ``invalid parameters in <file>: <prefix>.<key>: <why>; ...``.
    """
    try:
        return model.model_validate(value if value is not None else {})
    except ValidationError as error:
        problems = "; ".join(
            f"{prefix}{''.join(f'.{part}' for part in e['loc'])}: {e['msg']}"
            for e in error.errors()
        )
        raise BadInputError(f"invalid parameters in {file}: {problems}") from error
