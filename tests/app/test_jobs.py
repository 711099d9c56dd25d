"""Submitting a job by its kind's name: queued once its checks pass, refused whole otherwise (nothing
queued), and the kinds another request makes refused with the way to make them. The replacement of
a weak class by another model's module is submitted this way."""

from __future__ import annotations

from typing import Any

import pytest

from modules_store import JobStatus, Module
from service.app.jobs import submit
from service.errors import CodedError, ErrorCode
from service.jobs.kinds import JOB_KINDS
from tests.app.conftest import Hub


def test_a_replacement_that_fits_is_queued(hub: Hub, first_modules: list[Module], second_modules: list[Module]) -> None:
    weak = first_modules[0].model_id
    params = {"model_id": weak, "target_class": 3, "module_id": second_modules[3].id, "classes": [1, 3, 5]}
    job = submit(hub.store, hub.executor, hub.settings, "replace", params)
    assert (job.kind, job.status) == ("replace", JobStatus.QUEUED)
    assert job.params == {**params, "dataset": None, "data_dir": None}
    assert hub.store.get_job(job.id) == job


def _replace(first: list[Module], second: list[Module], **changes: Any) -> dict[str, Any]:
    return {"model_id": first[0].model_id, "target_class": 3, "module_id": second[3].id} | changes


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"target_class": 4}, ErrorCode.INVALID_ARGUMENT, "is of class '3'; the weak model's class 4 is '4'"),
        ({"target_class": 10}, ErrorCode.INVALID_ARGUMENT, "target_class 10 is not a class of the weak model"),
        ({"classes": [1, 5]}, ErrorCode.INVALID_ARGUMENT, "include target_class"),
        ({"module_id": "no-such-module"}, ErrorCode.NOT_FOUND, "no-such-module"),
        ({"dataset": "mnist", "data_dir": "nowhere"}, ErrorCode.DATASET_UNAVAILABLE, "mnist"),
        ({"tau": 0.5}, ErrorCode.INVALID_ARGUMENT, "invalid replace params"),
    ],
    ids=[
        "module-of-another-class",
        "no-such-class",
        "kept-classes-without-target",
        "no-such-module",
        "no-data",
        "unknown-field",
    ],
)
def test_a_replacement_the_job_would_refuse_is_refused_now_and_nothing_is_queued(
    hub: Hub,
    first_modules: list[Module],
    second_modules: list[Module],
    changes: dict[str, Any],
    code: ErrorCode,
    message: str,
) -> None:
    queued = hub.store.list_jobs().total
    with pytest.raises(CodedError) as refused:
        submit(hub.store, hub.executor, hub.settings, "replace", _replace(first_modules, second_modules, **changes))
    assert refused.value.code == code
    assert message in refused.value.message
    assert hub.store.list_jobs().total == queued


def test_a_kind_another_request_makes_is_refused_naming_that_request(hub: Hub) -> None:
    queued = hub.store.list_jobs().total
    params = {"dataset": "digits", "arch": "mlp", "weights_sha256": "0" * 64}
    with pytest.raises(CodedError) as refused:
        submit(hub.store, hub.executor, hub.settings, "ingest", params)
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert refused.value.message == f"ingest jobs are created by {JOB_KINDS['ingest'].submitted_at}"
    assert hub.store.list_jobs().total == queued


def test_an_unknown_kind_is_refused_naming_the_kinds(hub: Hub) -> None:
    with pytest.raises(CodedError) as refused:
        submit(hub.store, hub.executor, hub.settings, "bogus", {})
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert all(kind in refused.value.message for kind in JOB_KINDS)
