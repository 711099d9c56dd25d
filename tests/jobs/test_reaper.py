"""The reaper: dead workers' jobs come back to the queue and reach the executor again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from modules_store import Job, JobStatus, open_store
from service.config import Settings
from service.jobs.reaper import Reaper


class RecordingExecutor:
    def __init__(self) -> None:
        self.submitted: list[str] = []

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def submit(self, job: Job) -> None:
        self.submitted.append(job.id)


def test_a_silent_worker_loses_its_job_and_the_job_is_submitted_again(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    settings = Settings(home=tmp_path, stale_after_s=5)
    executor = RecordingExecutor()
    job = store.create_job("train", {}, max_attempts=2)
    store.claim_job("celery:host:1:w")
    # The worker's last heartbeat is now; a reaper looking a minute ahead sees it silent.
    recovered = store.recover_stale_jobs(timedelta(seconds=5), now=datetime.now(UTC) + timedelta(minutes=1))
    assert [j.status for j in recovered] == [JobStatus.QUEUED]
    reaper = Reaper(settings, store, executor)
    reaper.resubmit_waiting(timedelta(0))
    assert executor.submitted == [job.id]


def test_waiting_jobs_are_resent_rarely(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    executor = RecordingExecutor()
    reaper = Reaper(Settings(home=tmp_path), store, executor)
    young = store.create_job("train", {})
    reaper.resubmit_waiting(timedelta(hours=1))
    assert executor.submitted == []  # submitted moments ago: its message is surely on the broker
    reaper.resubmit_waiting(timedelta(0))
    reaper.resubmit_waiting(timedelta(seconds=30))  # resent just now: not again within 4 × 30 s
    assert executor.submitted == [young.id]
