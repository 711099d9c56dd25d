"""Finding the job already under way for the same work: queued or running jobs only, on any page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules_store import MAX_PAGE_LIMIT, JobStatus, open_store
from service.jobs.submit import job_in_flight


def wanted(params: dict[str, Any]) -> bool:
    return params.get("wanted", False)


def test_only_a_queued_or_running_job_is_in_flight(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    for status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.SUCCEEDED):
        job = store.create_job("calibrate", {"wanted": True})
        if status is JobStatus.CANCELLED:
            store.request_cancel(job.id)
        else:
            store.claim_job("w", job_id=job.id)
            store.finish_job(job.id, status)
    store.create_job("replace", {"wanted": True})  # another kind
    store.create_job("calibrate", {"wanted": False})
    assert job_in_flight(store, "calibrate", wanted) is None

    queued = store.create_job("calibrate", {"wanted": True})
    assert job_in_flight(store, "calibrate", wanted) == queued
    running = store.claim_job("w", job_id=queued.id)
    assert running is not None and job_in_flight(store, "calibrate", wanted) == running
    # Still running until its worker notices, but it will make nothing: not in flight.
    assert store.request_cancel(running.id).status is JobStatus.RUNNING
    assert job_in_flight(store, "calibrate", wanted) is None


def test_a_job_in_flight_is_found_beyond_the_first_page(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    oldest = store.create_job("calibrate", {"wanted": True})
    for _ in range(MAX_PAGE_LIMIT):  # newer jobs first: the oldest is on the second page
        store.create_job("calibrate", {"wanted": False})
    assert job_in_flight(store, "calibrate", wanted) == oldest
