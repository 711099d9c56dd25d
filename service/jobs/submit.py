"""Submitting a job: validate its parameters, run its kind's checks, queue it in SQL, hand it to the
executor; or answer with the job already under way for the same work."""

from __future__ import annotations

import logging
from typing import Any

from modules_store import Job, RegistryStore
from service.config import Settings
from service.jobs.executor import Executor
from service.jobs.in_flight import job_in_flight as job_in_flight  # routes find calibrate jobs with it
from service.jobs.kinds import job_kind, parse_params
from service.moda.data.sandbox import resolve_data_dir

log = logging.getLogger(__name__)


def submit_job(store: RegistryStore, executor: Executor, settings: Settings, kind: str, params: dict[str, Any]) -> Job:
    """Bad parameters raise INVALID_ARGUMENT here, before anything is queued; so do models, modules
    and data that a job could not use (NOT_FOUND, INVALID_ARGUMENT...), by the kind's own check.
    A job its check finds already doing the same work is that job."""
    parsed = parse_params(kind, params)
    store.ping()  # UNAVAILABLE (503) when the registry is gone: a job queued there would be lost
    dataset = getattr(parsed, "dataset", None)
    if dataset is not None:
        # A data_dir outside MODA_DATASETS_DIR is refused now, not by a failed job later.
        resolve_data_dir(settings.resolved_datasets_dir, dataset, getattr(parsed, "data_dir", None))
    check = job_kind(kind).check
    if check is not None and (same := check(store, settings, parsed)) is not None:
        return same
    job = store.create_job(kind, parsed.model_dump(mode="json"), max_attempts=settings.max_attempts)
    try:
        executor.submit(job)
    except Exception:  # the broker is down: the job is queued in SQL and the reaper sends it again
        log.exception("job %s is queued but could not be handed to the executor yet", job.id)
    return job
