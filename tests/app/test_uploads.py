"""Ingesting an upload: checked whole before anything is stored, then stored under its digest."""

from __future__ import annotations

import hashlib

import pytest

from modules_store import Job, JobStatus, NotFound
from service.app.uploads import Upload, ingest_upload
from service.errors import ErrorCode, HubError
from tests.api.helpers import state_dict_bytes
from tests.app.conftest import Hub


def ingest(hub: Hub, upload: Upload) -> Job:
    return ingest_upload(upload, hub.store, hub.artifacts, hub.executor, hub.settings)


def test_weights_that_fit_are_stored_and_queued_for_the_ingest_job(hub: Hub) -> None:
    weights = state_dict_bytes(seed=3)
    job = ingest(hub, Upload(weights, "digits.pt", "mlp", "digits", tau=0.5))
    sha256 = hashlib.sha256(weights).hexdigest()
    assert (job.kind, job.status) == ("ingest", JobStatus.QUEUED)
    assert job.params["weights_sha256"] == sha256 and job.params["tau"] == 0.5
    assert hub.artifacts.get_bytes(sha256) == weights


@pytest.mark.parametrize(
    ("upload", "code", "message"),
    [
        (Upload(b"", "e.pt", "mlp", "digits"), ErrorCode.INVALID_WEIGHTS, "the uploaded file is empty"),
        (Upload(state_dict_bytes(num_classes=3), "x.pt", "mlp", "digits"), ErrorCode.INVALID_WEIGHTS, "wrong shapes"),
        (Upload(state_dict_bytes(), "x.pt", "no-such-arch", "digits"), ErrorCode.INVALID_ARGUMENT, "arch"),
        (Upload(state_dict_bytes(), "x.pt", "mlp", "digits", labels=["a"]), ErrorCode.INVALID_ARGUMENT, "1 labels"),
    ],
    ids=["empty", "other-classes", "unknown-arch", "too-few-labels"],
)
def test_a_refused_upload_stores_nothing(hub: Hub, upload: Upload, code: ErrorCode, message: str) -> None:
    queued = hub.store.list_jobs().total
    with pytest.raises(HubError) as refused:
        ingest(hub, upload)
    assert refused.value.code == code and message in refused.value.message
    with pytest.raises(NotFound):
        hub.artifacts.get_bytes(hashlib.sha256(upload.weights).hexdigest())
    assert hub.store.list_jobs().total == queued


def test_an_upload_over_the_limit_is_refused(hub: Hub) -> None:
    small = hub.settings.model_copy(update={"max_upload_mb": 0.01})
    with pytest.raises(HubError) as refused:
        ingest_upload(
            Upload(state_dict_bytes(), "x.pt", "mlp", "digits"), hub.store, hub.artifacts, hub.executor, small
        )
    assert refused.value.code == ErrorCode.PAYLOAD_TOO_LARGE
