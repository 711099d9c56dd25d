"""Finding the job already under way for the same work, so that a repeated request joins it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modules_store import Job, JobStatus, RegistryStore, all_items


def job_in_flight(store: RegistryStore, kind: str, same: Callable[[dict[str, Any]], bool]) -> Job | None:
    """A queued or running job of `kind` whose params `same` accepts, or None.

    Queued jobs are listed before running ones: a job claimed between the two listings is then
    still found, as running. A running job asked to cancel is passed over: it will make nothing.
    Not atomic: two requests at the same instant may both miss each other.
    """
    in_flight = (
        job
        for status in (JobStatus.QUEUED, JobStatus.RUNNING)
        for job in all_items(store.list_jobs, status=status, kind=kind)
    )
    return next((job for job in in_flight if not job.cancel_requested and same(job.params)), None)
