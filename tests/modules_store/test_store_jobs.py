"""The job state machine: claim, heartbeat, finish, cancel, recover."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from modules_store import Job, JobStatus, SqlStore, StoreError


def _claim(store: SqlStore, worker_id: str, *, job_id: str | None = None, kinds: Collection[str] | None = None) -> Job:
    job = store.claim_job(worker_id, job_id=job_id, kinds=kinds)
    assert job is not None, "expected a job to claim"
    return job


def _later(store: SqlStore, job_id: str, seconds: float) -> datetime:
    """A moment `seconds` after the job's last heartbeat."""
    heartbeat = store.get_job(job_id).heartbeat_at
    assert heartbeat is not None
    return heartbeat + timedelta(seconds=seconds)


def test_new_job_is_queued(store: SqlStore) -> None:
    job = store.create_job("train", {"dataset": "digits", "epochs": 3})
    assert job.status is JobStatus.QUEUED
    assert (job.attempts, job.max_attempts, job.cancel_requested) == (0, 2, False)
    assert (job.worker_id, job.started_at, job.heartbeat_at, job.finished_at, job.error) == (None,) * 5
    assert (job.progress, job.result) == ({}, {})
    assert store.get_job(job.id) == job
    with pytest.raises(StoreError) as error:
        store.create_job("train", max_attempts=0)
    assert error.value.code == "INVALID_ARGUMENT"


def test_claim_takes_the_oldest_queued_job(store: SqlStore) -> None:
    first, second = store.create_job("train"), store.create_job("ingest")
    claimed = _claim(store, "w1")
    assert claimed.id == first.id
    assert claimed.status is JobStatus.RUNNING
    assert (claimed.worker_id, claimed.attempts) == ("w1", 1)
    assert claimed.started_at is not None and claimed.heartbeat_at == claimed.started_at
    assert store.get_job(first.id) == claimed
    assert _claim(store, "w2").id == second.id
    assert store.claim_job("w3") is None


def test_claim_a_given_job_or_kinds(store: SqlStore) -> None:
    train, ingest, replace = (
        store.create_job("train"),
        store.create_job("ingest"),
        store.create_job("replace"),
    )
    assert _claim(store, "w", job_id=replace.id).id == replace.id
    assert store.claim_job("w", job_id=replace.id) is None  # not queued any more
    assert store.claim_job("w", job_id="missing") is None
    assert _claim(store, "w", kinds={"ingest", "modularize"}).id == ingest.id
    assert store.claim_job("w", kinds=["ingest"]) is None
    assert _claim(store, "w").id == train.id


def test_heartbeat_is_for_the_owning_worker(store: SqlStore) -> None:
    job = store.create_job("train")
    with pytest.raises(StoreError) as error:
        store.heartbeat(job.id, "w1")  # queued: nobody owns it
    assert error.value.code == "CONFLICT"
    claimed = _claim(store, "w1")
    assert store.heartbeat(job.id, "w1", {"epoch": 2, "of": 10}) is False
    beaten = store.get_job(job.id)
    assert beaten.progress == {"epoch": 2, "of": 10}
    assert beaten.heartbeat_at is not None and claimed.heartbeat_at is not None
    assert beaten.heartbeat_at >= claimed.heartbeat_at
    store.heartbeat(job.id, "w1")  # no progress given: the last one stays
    assert store.get_job(job.id).progress == {"epoch": 2, "of": 10}
    with pytest.raises(StoreError) as error:
        store.heartbeat(job.id, "w2")
    assert error.value.code == "CONFLICT"
    with pytest.raises(StoreError) as error:
        store.heartbeat("missing", "w1")
    assert error.value.code == "NOT_FOUND"


def test_finish_job_from_running_only(store: SqlStore) -> None:
    job = store.create_job("train")
    with pytest.raises(StoreError) as error:
        store.finish_job(job.id, JobStatus.SUCCEEDED)
    assert error.value.code == "CONFLICT"
    _claim(store, "w1")
    for status in ("running", "queued", "exploded"):
        with pytest.raises(StoreError) as error:
            store.finish_job(job.id, status)
        assert error.value.code == "INVALID_ARGUMENT"
    with pytest.raises(StoreError) as error:
        store.finish_job(job.id, "succeeded", worker_id="w2")
    assert error.value.code == "CONFLICT"
    done = store.finish_job(job.id, "succeeded", result={"model_id": "m1"}, worker_id="w1")
    assert done.status is JobStatus.SUCCEEDED
    assert (done.result, done.error) == ({"model_id": "m1"}, None)
    assert done.finished_at is not None
    assert store.get_job(job.id) == done
    for status in JobStatus:
        if status.is_terminal:  # terminal states are final
            with pytest.raises(StoreError) as error:
                store.finish_job(job.id, status)
            assert error.value.code == "CONFLICT"


def test_failed_job_records_its_error(store: SqlStore) -> None:
    job = store.create_job("ingest")
    _claim(store, "w1")
    failed = store.finish_job(job.id, JobStatus.FAILED, error="INVALID_WEIGHTS: shape mismatch")
    assert (failed.status, failed.error) == (JobStatus.FAILED, "INVALID_WEIGHTS: shape mismatch")


def test_cancel_a_queued_job_at_once(store: SqlStore) -> None:
    job = store.create_job("train")
    cancelled = store.request_cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.finished_at is not None
    assert store.claim_job("w1") is None  # a cancelled job is never claimed
    with pytest.raises(StoreError) as error:
        store.request_cancel(job.id)
    assert error.value.code == "CONFLICT"


def test_cancel_a_running_job_through_its_heartbeat(store: SqlStore) -> None:
    job = store.create_job("train")
    _claim(store, "w1")
    assert store.heartbeat(job.id, "w1") is False
    flagged = store.request_cancel(job.id)
    assert (flagged.status, flagged.cancel_requested) == (JobStatus.RUNNING, True)
    assert store.request_cancel(job.id) == flagged  # asking twice changes nothing
    assert store.heartbeat(job.id, "w1") is True
    finished = store.finish_job(job.id, "cancelled", worker_id="w1")
    assert finished.status is JobStatus.CANCELLED
    with pytest.raises(StoreError) as error:
        store.request_cancel(job.id)
    assert error.value.code == "CONFLICT"
    with pytest.raises(StoreError) as error:
        store.request_cancel("missing")
    assert error.value.code == "NOT_FOUND"


def test_recover_stale_jobs_requeues_or_fails_by_attempts(store: SqlStore) -> None:
    retry = store.create_job("train")  # 2 attempts
    last_try = store.create_job("train", max_attempts=1)
    cancelling = store.create_job("train")
    alive = store.create_job("train")
    for worker in ("w-retry", "w-last", "w-cancelling"):
        _claim(store, worker)
    store.request_cancel(cancelling.id)
    cutoff = datetime.now(UTC)
    time.sleep(0.005)
    _claim(store, "w-alive")  # heartbeats after the cutoff

    recovered = {job.id: job for job in store.recover_stale_jobs(timedelta(0), now=cutoff)}
    assert set(recovered) == {retry.id, last_try.id, cancelling.id}
    assert store.get_job(alive.id).status is JobStatus.RUNNING
    requeued = recovered[retry.id]
    assert requeued.status is JobStatus.QUEUED
    assert (requeued.worker_id, requeued.started_at, requeued.heartbeat_at) == (None, None, None)
    assert (requeued.attempts, requeued.progress) == (1, {})
    failed = recovered[last_try.id]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and "stopped heartbeating" in failed.error and "w-last" in failed.error
    assert recovered[cancelling.id].status is JobStatus.CANCELLED
    assert [store.get_job(job_id) for job_id in recovered] == list(recovered.values())
    assert store.recover_stale_jobs(timedelta(0), now=cutoff) == []  # nothing left to recover


def test_recover_spares_jobs_with_a_recent_heartbeat(store: SqlStore) -> None:
    job = store.create_job("train")
    _claim(store, "w1")
    assert store.recover_stale_jobs(timedelta(minutes=5)) == []
    assert store.get_job(job.id).status is JobStatus.RUNNING
    with pytest.raises(StoreError) as error:
        store.recover_stale_jobs(timedelta(seconds=-1))
    assert error.value.code == "INVALID_ARGUMENT"


def test_a_requeued_job_runs_again_then_gives_up(store: SqlStore) -> None:
    job = store.create_job("train", max_attempts=2)
    _claim(store, "w1")
    (first,) = store.recover_stale_jobs(timedelta(0), now=_later(store, job.id, 1))
    assert first.status is JobStatus.QUEUED
    second_try = _claim(store, "w2")
    assert (second_try.id, second_try.attempts) == (job.id, 2)
    # The first worker comes back from a pause: it no longer owns the job, and it must not finish it.
    with pytest.raises(StoreError) as error:
        store.heartbeat(job.id, "w1")
    assert error.value.code == "CONFLICT"
    with pytest.raises(StoreError) as error:
        store.finish_job(job.id, "succeeded", worker_id="w1")
    assert error.value.code == "CONFLICT"
    (final,) = store.recover_stale_jobs(timedelta(0), now=_later(store, job.id, 1))
    assert final.status is JobStatus.FAILED
    assert final.error is not None and "2 of 2 attempts" in final.error


def test_recover_worker_jobs_by_prefix(store: SqlStore) -> None:
    jobs = [store.create_job("train") for _ in range(4)]
    for worker in ("host1:10:0", "host1:10:1", "host10:7:0", "host%:1:0"):
        _claim(store, worker)
    recovered = store.recover_worker_jobs("host1:")
    assert sorted(job.id for job in recovered) == sorted(job.id for job in jobs[:2])
    assert all(job.status is JobStatus.QUEUED for job in recovered)
    assert store.get_job(jobs[2].id).status is JobStatus.RUNNING  # "host10:" is another host
    assert store.recover_worker_jobs("host_") == []  # LIKE wildcards are matched literally
    assert [job.id for job in store.recover_worker_jobs("host%")] == [jobs[3].id]
    with pytest.raises(StoreError) as error:
        store.recover_worker_jobs("")
    assert error.value.code == "INVALID_ARGUMENT"


def test_list_jobs_newest_first_with_filters(store: SqlStore) -> None:
    jobs = [store.create_job(kind) for kind in ("train", "ingest", "train", "replace", "train")]
    _claim(store, "w1")  # the oldest: jobs[0]
    page = store.list_jobs(limit=2)
    assert page.total == 5
    assert [job.id for job in page.items] == [jobs[4].id, jobs[3].id]
    trains = store.list_jobs(kind="train")
    assert [job.id for job in trains.items] == [jobs[4].id, jobs[2].id, jobs[0].id]
    queued_trains = store.list_jobs(kind="train", status=JobStatus.QUEUED, offset=1)
    assert (queued_trains.total, [job.id for job in queued_trains.items]) == (2, [jobs[2].id])
    assert store.list_jobs(status="running").items == [store.get_job(jobs[0].id)]
    with pytest.raises(StoreError) as error:
        store.list_jobs(status="paused")
    assert error.value.code == "INVALID_ARGUMENT"


def test_a_dedupe_key_finds_only_the_job_in_flight(store: SqlStore) -> None:
    job, created = store.find_or_create_job("modularize", {"tau": 0.5}, dedupe_key="split-a")
    assert created and job.status is JobStatus.QUEUED and job.params == {"tau": 0.5}
    assert store.find_or_create_job("modularize", {"tau": 0.5}, dedupe_key="split-a") == (job, False)
    other, created = store.find_or_create_job("modularize", {"tau": 0.5}, dedupe_key="split-b")
    assert created and other.id != job.id  # another key: another job

    running = _claim(store, "w", job_id=job.id)
    assert store.find_or_create_job("modularize", dedupe_key="split-a") == (running, False)
    # Still running until its worker notices, but it will make nothing: no longer in flight.
    assert store.request_cancel(job.id).status is JobStatus.RUNNING
    again, created = store.find_or_create_job("modularize", dedupe_key="split-a")
    assert created and again.id != job.id

    _claim(store, "w", job_id=again.id)
    assert store.finish_job(again.id, JobStatus.FAILED).status is JobStatus.FAILED
    third, created = store.find_or_create_job("modularize", dedupe_key="split-a")  # finished: a new one
    assert created and third.id not in (job.id, again.id)
    assert store.create_job("modularize").id != third.id  # no key: never deduplicated


def test_a_dedupe_key_must_be_text(store: SqlStore) -> None:
    with pytest.raises(StoreError) as error:
        store.find_or_create_job("modularize", dedupe_key=" ")
    assert error.value.code == "INVALID_ARGUMENT"
