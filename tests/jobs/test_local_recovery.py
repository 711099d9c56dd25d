"""At start-up, the local executor recovers the running jobs of this host's dead worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules_store import MAX_PAGE_LIMIT, JobStatus, open_store
from service.jobs import local_executor
from service.jobs.local_executor import recover_dead_local_workers
from service.jobs.worker import worker_id_prefix

ALIVE, DEAD, OTHER_DEAD = 101, 202, 303


@pytest.fixture(autouse=True)
def only_alive_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_executor, "_alive", lambda pid: pid == ALIVE)


def test_only_jobs_of_dead_local_workers_of_this_host_are_recovered(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    owners = {
        "dead": worker_id_prefix("local", DEAD) + "w",
        "dead again": worker_id_prefix("local", DEAD) + "w",
        "alive": worker_id_prefix("local", ALIVE) + "w",
        "celery": worker_id_prefix("celery", DEAD) + "w",
        "elsewhere": f"local:another-host:{DEAD}:w",
    }
    jobs = {}
    for name, owner in owners.items():
        jobs[name] = store.create_job("train")
        assert store.claim_job(owner, job_id=jobs[name].id) is not None
    assert sorted(recover_dead_local_workers(store)) == sorted([jobs["dead"].id, jobs["dead again"].id])
    statuses = {name: store.get_job(job.id).status for name, job in jobs.items()}
    assert statuses == {
        "dead": JobStatus.QUEUED,
        "dead again": JobStatus.QUEUED,
        "alive": JobStatus.RUNNING,
        "celery": JobStatus.RUNNING,
        "elsewhere": JobStatus.RUNNING,
    }


def test_a_dead_worker_beyond_the_first_page_is_recovered_too(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    oldest = store.create_job("train")
    assert store.claim_job(worker_id_prefix("local", OTHER_DEAD) + "w", job_id=oldest.id) is not None
    # Newer jobs come first: a full page of another dead worker's, which leave the listing when recovered.
    for _ in range(MAX_PAGE_LIMIT):
        job = store.create_job("train")
        assert store.claim_job(worker_id_prefix("local", DEAD) + "w", job_id=job.id) is not None
    recovered = recover_dead_local_workers(store)
    assert len(recovered) == MAX_PAGE_LIMIT + 1 and oldest.id in recovered
    assert store.list_jobs(status=JobStatus.RUNNING).total == 0
