"""Submitting a job by its kind's name (`POST /v1/jobs`): every kind but those that another request
makes, checked now (see service/jobs/submit.py) and queued, or the job already doing the same work."""

from __future__ import annotations

from typing import Any

from modules_store import Job, RegistryStore
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.executor import Executor
from service.jobs.kinds import job_kind
from service.jobs.submit import submit_job


def submit(store: RegistryStore, executor: Executor, settings: Settings, kind: str, params: dict[str, Any]) -> Job:
    """The job of `kind` with `params`. A kind that another request makes (its table entry's
    `submitted_at`: `ingest`, by uploading the weights it registers) is INVALID_ARGUMENT, naming that
    request."""
    elsewhere = job_kind(kind).submitted_at
    if elsewhere is not None:
        raise HubError(ErrorCode.INVALID_ARGUMENT, f"{kind} jobs are created by {elsewhere}")
    return submit_job(store, executor, settings, kind, params)
