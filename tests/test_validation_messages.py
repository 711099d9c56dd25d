"""pydantic's errors said readably: a union's alternatives instead of its internal member names."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from service.errors import HubError
from service.jobs.kinds import parse_params
from service.validation_messages import describe_validation_errors


def _errors_of(annotation: object, value: object) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as error:
        TypeAdapter(annotation).validate_python(value)
    return error.value.errors()  # type: ignore[return-value]


class _Params(BaseModel):
    epochs: int = Field(default=1, ge=1)
    fraction: Annotated[float, Field(gt=0, le=1)] | dict[int, Annotated[float, Field(gt=0, le=1)]] = 1.0


def test_union_errors_say_the_alternatives_not_pydantic_member_names() -> None:
    """pydantic locates a union's errors under internal names ("fraction.constrained-float: ...;
    fraction.dict[int,constrained-float]: ..."), which mean nothing to a client."""
    assert describe_validation_errors(_errors_of(_Params, {"fraction": 0, "epochs": 0})) == (
        "epochs: Input should be greater than or equal to 1; "
        "fraction: either input should be greater than 0, or input should be a valid dictionary"
    )
    assert describe_validation_errors(_errors_of(_Params, {"fraction": {"a": 2}})) == (
        "fraction: either input should be a valid number, or a[key]: input should be a valid integer, "
        "unable to parse string as an integer; a: input should be less than or equal to 1"
    )
    # Unions inside containers, and dict keys that look like member names, keep their places.
    assert describe_validation_errors(_errors_of(list[int | str], [1, []])) == (
        "1: either input should be a valid integer, or input should be a valid string"
    )
    assert describe_validation_errors(_errors_of(dict[str, int], {"k-1": "x", "constrained-x": "y"})) == (
        "k-1: Input should be a valid integer, unable to parse string as an integer; "
        "constrained-x: Input should be a valid integer, unable to parse string as an integer"
    )


def test_job_params_are_said_the_same_way() -> None:
    with pytest.raises(HubError) as union:
        parse_params("train", {"train_fraction": 0})
    assert union.value.message == (
        "invalid train params: train_fraction: either input should be greater than 0, "
        "or input should be a valid dictionary"
    )
    with pytest.raises(HubError) as whole:  # a model validator's error is about the params as a whole
        parse_params("calibrate", {"module_ids": ["a", "b"], "data_dir": "mnist"})
    assert whole.value.message.startswith("invalid calibrate params: params: ")
