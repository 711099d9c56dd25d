"""The JobKind table: every kind whole, and the one place the submit path and the runner read."""

from __future__ import annotations

import pytest

from service.errors import ErrorCode, HubError
from service.jobs.kinds import JOB_KINDS, ComposedResult, RegisteredResult, job_kind, parse_params
from service.jobs.params import JobParams


def test_every_kind_is_whole() -> None:
    assert set(JOB_KINDS) == {"train", "ingest", "modularize", "calibrate", "replace"}
    for name, kind in JOB_KINDS.items():
        assert kind.name == name
        assert issubclass(kind.params, JobParams) and kind.params.model_config.get("extra") == "forbid"
        assert kind.result in (RegisteredResult, ComposedResult)
        assert callable(kind.run) and kind.summary, name
    # Every kind but ingest (which needs uploaded weights) is checked before it is queued.
    assert [name for name, kind in JOB_KINDS.items() if kind.check is None] == ["ingest"]
    assert [name for name, kind in JOB_KINDS.items() if kind.submitted_at is not None] == ["ingest"]


def test_an_unknown_kind_is_refused_naming_the_kinds_there_are() -> None:
    with pytest.raises(HubError) as refused:
        job_kind("bake")
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert all(name in refused.value.message for name in JOB_KINDS)


def test_params_are_parsed_by_their_kinds_model() -> None:
    parsed = parse_params("modularize", {"model_id": "m", "tau": 0.5})
    assert type(parsed) is JOB_KINDS["modularize"].params and parsed.tau == 0.5
    with pytest.raises(HubError, match=r"invalid calibrate params: .*module_ids"):
        parse_params("calibrate", {"module_ids": ["only-one"]})
