"""Running one claimed job to its end, whatever happens inside it."""

from __future__ import annotations

import logging
from typing import Any

from modules_store import ArtifactStore, CodedError, Job, JobStatus, RegistryStore, StoreError
from service.config import Settings
from service.errors import CORE_ERRORS, coded
from service.jobs.context import JobCancelled, JobContext
from service.jobs.kinds import job_kind, parse_params
from service.jobs.params import JobParams

log = logging.getLogger(__name__)


def run_job(store: RegistryStore, artifacts: ArtifactStore, settings: Settings, job: Job, worker_id: str) -> None:
    """Run a job this worker has claimed and record its outcome (unless it was taken from us)."""
    log.info("job %s (%s) started by %s", job.id, job.kind, worker_id)
    # What the job stores stays until it ends: its rows name it by then (a deletion meanwhile of a
    # row naming the same bytes leaves the file to it).
    with artifacts.writing() as held, JobContext(store, held, settings, job, worker_id) as ctx:
        try:
            params: JobParams = parse_params(job.kind, job.params)
            result = job_kind(job.kind).run(ctx, params)
        except JobCancelled:
            outcome: tuple[JobStatus, dict[str, Any] | None, str | None] = (JobStatus.CANCELLED, None, None)
        except CodedError as error:
            outcome = (JobStatus.FAILED, None, str(error))
        except CORE_ERRORS as error:  # the ML core's refusals (diverged training, bad data) carry no code
            outcome = (JobStatus.FAILED, None, str(coded(error)))
        except Exception as error:  # a bug or an outage: record it, keep the worker alive
            log.exception("job %s crashed", job.id)
            outcome = (JobStatus.FAILED, None, f"internal error: {type(error).__name__}: {error}")
        else:
            outcome = (JobStatus.SUCCEEDED, result, None)
        ctx.beat_now()  # the last progress report, so a finished job shows where it ended
    if ctx.lost.is_set():
        log.warning("job %s was recovered from %s; its outcome is dropped", job.id, worker_id)
        return
    status, recorded, failure = outcome
    try:
        store.finish_job(job.id, status, result=recorded, error=failure, worker_id=worker_id)
    except StoreError as conflict:
        log.warning("job %s could not be finished by %s: %s", job.id, worker_id, conflict)
    log.info("job %s %s", job.id, status)
