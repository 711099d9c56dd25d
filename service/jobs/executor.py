"""How submitted jobs reach a worker. Job state lives in SQL whichever executor runs them.

LocalExecutor   worker processes started with the server (the embedded default)
CeleryExecutor  a task per job on a Celery broker (Redis), run by `moda worker` processes
"""

from __future__ import annotations

from typing import Protocol

from modules_store import Job
from service.config import Settings


class Executor(Protocol):
    def start(self) -> None:
        """Begin accepting jobs (start workers, recover what a previous run left behind)."""

    def submit(self, job: Job) -> None:
        """Hand a queued job to the workers."""

    def stop(self) -> None:
        """Stop the workers this process started."""


def make_executor(settings: Settings) -> Executor:
    if settings.executor == "celery":
        from service.jobs.celery_executor import CeleryExecutor  # imports Celery only when used

        return CeleryExecutor(settings)
    from service.jobs.local_executor import LocalExecutor

    return LocalExecutor(settings)
