"""A running job's heartbeat: progress with NaN (a diverging run) is stored, the job is not lost."""

from __future__ import annotations

from pathlib import Path

from modules_store import open_artifact_store, open_store
from service.config import Settings
from service.jobs.context import JobContext


def test_non_finite_progress_is_reported_as_null_and_the_job_keeps_running(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.create_job("train", {})
    job = store.claim_job("local:host:1:w")
    assert job is not None
    ctx = JobContext(store, open_artifact_store(str(tmp_path / "a")), Settings(home=tmp_path), job, job.worker_id or "")
    ctx.report(stage="training", epoch=1, loss=float("nan"), ce=float("inf"), test_accuracy=10.0)
    ctx.beat_now()
    assert not ctx.lost.is_set() and not ctx.cancelled.is_set()
    stored = store.get_job(job.id).progress
    assert stored == {"stage": "training", "epoch": 1, "loss": None, "ce": None, "test_accuracy": 10.0}


def test_a_job_taken_from_the_worker_is_abandoned(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.create_job("train", {})
    job = store.claim_job("local:host:1:w")
    assert job is not None
    store.recover_worker_jobs("local:host:1:")  # looked dead: re-queued
    ctx = JobContext(store, open_artifact_store(str(tmp_path / "a")), Settings(home=tmp_path), job, "local:host:1:w")
    ctx.beat_now()
    assert ctx.lost.is_set() and ctx.cancelled.is_set()
