"""Submitting a job: validate its parameters, queue it in SQL, hand it to the executor; or finding the
job already under way for the same work (atomically: see RegistryStore.find_or_create_job)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from pydantic import BaseModel

from modules_store import Job, RegistryStore
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.calibrate import check_calibration, plan_replacement, replacement_data
from service.jobs.datasets import open_dataset, resolve_data_dir
from service.jobs.executor import Executor
from service.jobs.params import CalibrateParams, ModularizeParams, ReplaceParams, TrainParams, parse_params
from service.jobs.planner import Planner
from service.jobs.train import training_data

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
    and data that a job could not use (NOT_FOUND, INVALID_ARGUMENT...).

    A job submitted with the `dedupe_key` of a job in flight (queued or running, not cancelling) is
    that job, also for requests at the same instant. A modularize job is keyed by its parameters:
    the same split asked for again while it runs is that job, not a second one doing it again."""
    parsed = parse_params(kind, params)
    store.ping()  # UNAVAILABLE (503) when the registry is gone: a job queued there would be lost
    dataset = getattr(parsed, "dataset", None)
    if dataset is not None:
        # A data_dir outside MODA_DATASETS_DIR is refused now, not by a failed job later.
        resolve_data_dir(settings.resolved_datasets_dir, dataset, getattr(parsed, "data_dir", None))
    if isinstance(parsed, TrainParams):
        # Its files (DATASET_UNAVAILABLE names the missing ones), classes and fractions, now.
        training_data(open_dataset(settings.resolved_datasets_dir, parsed.dataset, parsed.data_dir), parsed)
    elif isinstance(parsed, ModularizeParams):
        _check_modularize(store, parsed)
        dedupe_key = dedupe_key or params_key(kind, parsed)
    elif isinstance(parsed, CalibrateParams):
        check_calibration(Planner(store, settings), parsed)
    elif isinstance(parsed, ReplaceParams):
        # The job's own checks, run now: a request it would refuse gets its message as a 4xx here.
        # The job checks again, for jobs queued by other means and registries changed meanwhile.
        planner = Planner(store, settings)
        replacement_data(planner, plan_replacement(planner, parsed), parsed)
    job_params = parsed.model_dump(mode="json")
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


def params_key(kind: str, parsed: BaseModel) -> str:
    """A dedupe key for jobs of `kind` with exactly these parameters (their canonical JSON's digest)."""
    canonical = json.dumps(parsed.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return f"{kind}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _check_modularize(store: RegistryStore, p: ModularizeParams) -> None:
    store.get_model(p.model_id)  # NOT_FOUND now rather than a failed job later
    if store.list_modules(p.model_id, tau=p.tau, limit=1).total:
        raise HubError(ErrorCode.ALREADY_EXISTS, f"model {p.model_id} already has modules at tau={p.tau}")
