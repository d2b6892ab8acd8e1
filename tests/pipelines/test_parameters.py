"""A stage's parameters are checked by its Pydantic model; one error names every wrong value."""

from __future__ import annotations

import copy

import pytest
from pydantic import Field

from faceswap_pipeline.errors import BadInputError
from faceswap_pipeline.pipelines.parameters import InvalidParametersError, validate_parameters
from faceswap_pipeline.strict_model import StrictModel


class _Inner(StrictModel):
    rate: float = Field(1.0, gt=0)


class _Stage(StrictModel):
    name: str
    inner: _Inner = _Inner()


def test_every_wrong_value_is_named_by_its_dotted_key_with_the_file_to_fix():
    with pytest.raises(InvalidParametersError) as raised:
        validate_parameters(
            _Stage, {"inner": {"rate": 0}, "extra": 1}, prefix="stage", file="conf/base/p.yml"
        )
    error = raised.value
    assert isinstance(error, BadInputError)
    assert error.file == "conf/base/p.yml"
    assert error.problems == [
        ("stage.name", "Field required"),
        ("stage.inner.rate", "Input should be greater than 0"),
        ("stage.extra", "Extra inputs are not permitted"),
    ]
    assert str(error) == (
        "invalid parameters in conf/base/p.yml: stage.name: Field required; stage.inner.rate:"
        " Input should be greater than 0; stage.extra: Extra inputs are not permitted"
    )
    # It travels whole to and from Dask workers (pickling's reduce; deepcopy uses the same).
    copied = copy.deepcopy(error)
    assert (copied.file, copied.problems, str(copied)) == (error.file, error.problems, str(error))


def test_valid_values_and_none_give_the_model():
    assert validate_parameters(_Stage, {"name": "a"}, prefix="s", file="f").inner.rate == 1.0
    with pytest.raises(InvalidParametersError, match=r"s.name: Field required"):
        validate_parameters(_Stage, None, prefix="s", file="f")
