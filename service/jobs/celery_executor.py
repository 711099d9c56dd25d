"""Scale-out executor: one Celery task per job on a Redis broker, run by `moda worker` processes.

The task carries only the job id: the job's parameters, progress, cancellation and outcome stay in
SQL, so the API behaves the same whichever executor runs the job. A worker that dies mid-job
stops heartbeating; the API's reaper then re-queues the job (and submits it again) or fails it.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery, Task

from modules_store import ArtifactStore, Job, RegistryStore
from service.config import Settings
from service.jobs.runner import run_job
from service.jobs.worker import open_backends, worker_id

log = logging.getLogger(__name__)
TASK = "moda.run_job"
CLAIM_RETRY_S = 5.0  # how long a task waits to try again when the registry cannot be reached


@lru_cache(maxsize=1)
def _backends(settings_json: str) -> tuple[Settings, RegistryStore, ArtifactStore]:
    """Opened once per worker process, on its first task."""
    settings = Settings.model_validate_json(settings_json)
    return (settings, *open_backends(settings))


def make_celery(settings: Settings) -> Celery:
    app = Celery("moda", broker=settings.broker_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # outcomes live in the job table
        task_acks_late=True,
        worker_prefetch_multiplier=1,  # jobs are long: never hoard them in one worker
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    settings_json = settings.model_dump_json()

    # shared=False: a shared task would be added to every later app too, and as the name is taken
    # there, the later app's own task (with its own settings) would be dropped for this one.
    @app.task(name=TASK, bind=True, max_retries=None, shared=False)
    def run_job_task(self: Task, job_id: str) -> None:
        me = worker_id("celery")
        try:
            settings, store, artifacts = _backends(settings_json)
            job = store.claim_job(me, job_id=job_id)
        except Exception as error:
            # Nothing ran and the job is still queued, which no reaper looks at: consuming this
            # message now would strand the job for good. Keep it, as a retry, until the database is back.
            log.warning("job %s not claimed (%s); retrying in %ss", job_id, error, CLAIM_RETRY_S)
            raise self.retry(exc=error, countdown=CLAIM_RETRY_S) from error
        if job is None:  # cancelled while queued, or already taken by another delivery
            log.info("job %s is no longer queued; nothing to do", job_id)
            return
        run_job(store, artifacts, settings, job, me)

    return app


class CeleryExecutor:
    def __init__(self, settings: Settings) -> None:
        self.app = make_celery(settings)

    def start(self) -> None:
        """Workers are separate processes (`moda worker`); the API's reaper recovers their jobs."""

    def submit(self, job: Job) -> None:
        self.app.send_task(TASK, args=[job.id])

    def stop(self) -> None:
        self.app.close()


def run_worker(settings: Settings, concurrency: int = 1) -> int:
    """Run a Celery worker in this process with the same settings as the API."""
    app = make_celery(settings)
    pool = "solo" if concurrency == 1 else "prefork"  # solo: the job runs in this very process
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0
