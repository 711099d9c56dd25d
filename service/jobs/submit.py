"""Submitting a job: validate its parameters, run its kind's checks, queue it in SQL, hand it to the
executor; or answer with the job already under way for the same work (atomically: see
RegistryStore.find_or_create_job)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from modules_store import Job, RegistryStore
from service.config import Settings
from service.jobs.datasets import resolve_data_dir
from service.jobs.executor import Executor
from service.jobs.kinds import job_kind, parse_params

log = logging.getLogger(__name__)


def submit_job(
    store: RegistryStore,
    executor: Executor,
    settings: Settings,
    kind: str,
    params: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> Job:
    """Bad parameters raise INVALID_ARGUMENT here, before anything is queued; so do models, modules
    and data that a job could not use (NOT_FOUND, INVALID_ARGUMENT...), by the kind's own check.

    A job submitted with the `dedupe_key` of a job in flight (queued or running, not cancelling) is
    that job, also for requests at the same instant. A kind deduplicated by its parameters (modularize)
    is keyed by them: the same work asked for again while it runs is that job, not a second one."""
    parsed = parse_params(kind, params)
    store.ping()  # UNAVAILABLE (503) when the registry is gone: a job queued there would be lost
    dataset = getattr(parsed, "dataset", None)
    if dataset is not None:
        # A data_dir outside MODA_DATASETS_DIR is refused now, not by a failed job later.
        resolve_data_dir(settings.resolved_datasets_dir, dataset, getattr(parsed, "data_dir", None))
    entry = job_kind(kind)
    if entry.check is not None:
        entry.check(store, settings, parsed)
    job_params = parsed.model_dump(mode="json")
    if entry.dedupe_by_params:
        dedupe_key = dedupe_key or params_key(kind, job_params)
    if dedupe_key is None:
        job, created = store.create_job(kind, job_params, max_attempts=settings.max_attempts), True
    else:
        job, created = store.find_or_create_job(
            kind, job_params, dedupe_key=dedupe_key, max_attempts=settings.max_attempts
        )
    if created:
        try:
            executor.submit(job)
        except Exception:  # the broker is down: the job is queued in SQL and the reaper sends it again
            log.exception("job %s is queued but could not be handed to the executor yet", job.id)
    return job


def params_key(kind: str, job_params: dict[str, Any]) -> str:
    """A dedupe key for jobs of `kind` with exactly these parameters (as parsed and dumped to JSON):
    their canonical JSON's digest."""
    canonical = json.dumps(job_params, sort_keys=True, separators=(",", ":"))
    return f"{kind}:{hashlib.sha256(canonical.encode()).hexdigest()}"
