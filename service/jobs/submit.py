"""Submitting a job: validate its parameters, queue it in SQL, hand it to the executor; or finding the
job already under way for the same work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from modules_store import Job, JobStatus, RegistryStore, all_items
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.calibrate import check_calibration, plan_replacement, replacement_data
from service.jobs.composer import Planner
from service.jobs.datasets import open_dataset, resolve_data_dir
from service.jobs.executor import Executor
from service.jobs.params import CalibrateParams, ModularizeParams, ReplaceParams, TrainParams, parse_params
from service.jobs.train import training_data

log = logging.getLogger(__name__)


def submit_job(store: RegistryStore, executor: Executor, settings: Settings, kind: str, params: dict[str, Any]) -> Job:
    """Bad parameters raise INVALID_ARGUMENT here, before anything is queued; so do models, modules
    and data that a job could not use (NOT_FOUND, INVALID_ARGUMENT...). A modularize job identical
    to one queued or running is that job."""
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
        # The same split asked for again while it runs: that job, not a second one doing it again.
        same = job_in_flight(store, kind, lambda params: parse_params(kind, params) == parsed)
        if same is not None:
            return same
    elif isinstance(parsed, CalibrateParams):
        check_calibration(Planner(store, settings), parsed)
    elif isinstance(parsed, ReplaceParams):
        # The job's own checks, run now: a request it would refuse gets its message as a 4xx here.
        # The job checks again, for jobs queued by other means and registries changed meanwhile.
        planner = Planner(store, settings)
        replacement_data(planner, plan_replacement(planner, parsed), parsed)
    job = store.create_job(kind, parsed.model_dump(mode="json"), max_attempts=settings.max_attempts)
    try:
        executor.submit(job)
    except Exception:  # the broker is down: the job is queued in SQL and the reaper sends it again
        log.exception("job %s is queued but could not be handed to the executor yet", job.id)
    return job


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


def _check_modularize(store: RegistryStore, p: ModularizeParams) -> None:
    store.get_model(p.model_id)  # NOT_FOUND now rather than a failed job later
    if store.list_modules(p.model_id, tau=p.tau, limit=1).total:
        raise HubError(ErrorCode.ALREADY_EXISTS, f"model {p.model_id} already has modules at tau={p.tau}")
