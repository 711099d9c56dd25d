"""A job's failure is recorded with its code: the ML core's refusals get the code of their class,
anything else is an internal error (a bug), so a client can tell what it can fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules_store import Job, JobStatus, RegistryStore, open_artifact_store, open_store
from service.config import Settings
from service.jobs import train as train_job
from service.jobs.runner import run_job
from service.moda.errors import InvalidInput

TRAIN = {"dataset": "digits", "arch": "mlp", "epochs": 1}


def run_failing_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception) -> Job:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(train_job, "train", fail)
    store: RegistryStore = open_store(f"sqlite:///{tmp_path / 'registry.db'}")
    job = store.create_job("train", TRAIN)
    claimed = store.claim_job("local:host:0:w", job_id=job.id)
    assert claimed is not None
    run_job(store, open_artifact_store(str(tmp_path / "artifacts")), Settings(home=tmp_path), claimed, "local:host:0:w")
    return store.get_job(job.id)


def test_a_refusal_of_the_ml_core_fails_the_job_with_its_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = run_failing_train(tmp_path, monkeypatch, InvalidInput("training diverged in epoch 1: try a lower lr"))
    assert job.status == JobStatus.FAILED
    assert job.error == "INVALID_ARGUMENT: training diverged in epoch 1: try a lower lr"


def test_any_other_error_fails_the_job_as_internal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = run_failing_train(tmp_path, monkeypatch, ValueError("shapes do not broadcast"))
    assert job.status == JobStatus.FAILED
    assert job.error == "internal error: ValueError: shapes do not broadcast"
