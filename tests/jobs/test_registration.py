"""A job run again after its worker died between writing its rows and finishing the job (stale-job
recovery re-queues it) must return what its first attempt registered, not register a second copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modules_store import ArtifactStore, Job, JobStatus, NewModel, RegistryStore, open_artifact_store, open_store
from service.config import Settings
from service.jobs import train as train_job
from service.jobs.context import JobContext
from service.jobs.kinds import JOB_KINDS, parse_params
from service.jobs.runner import run_job

TRAIN = {"dataset": "digits", "arch": "mlp", "epochs": 1}
DIGITS_CLASSES = 10


@dataclass(frozen=True)
class Hub:
    store: RegistryStore
    artifacts: ArtifactStore
    settings: Settings


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(
        open_store(f"sqlite:///{tmp_path / 'registry.db'}"),
        open_artifact_store(str(tmp_path / "artifacts")),
        Settings(home=tmp_path),
    )


def claim(hub: Hub, job_id: str, worker_id: str) -> Job:
    job = hub.store.claim_job(worker_id, job_id=job_id)
    assert job is not None
    return job


def run_to_the_end(hub: Hub, kind: str, params: dict[str, Any]) -> Job:
    job = hub.store.create_job(kind, params)
    run_job(hub.store, hub.artifacts, hub.settings, claim(hub, job.id, "local:host:0:w"), "local:host:0:w")
    finished = hub.store.get_job(job.id)
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    return finished


def run_twice(hub: Hub, kind: str, params: dict[str, Any]) -> tuple[dict[str, Any], Job]:
    """Attempt 1 writes its rows and its worker dies before finishing the job; the job is recovered
    and attempt 2 runs it to the end. Returns attempt 1's result and the finished job."""
    job = hub.store.create_job(kind, params, max_attempts=2)
    first = claim(hub, job.id, "local:host:1:w")
    ctx = JobContext(hub.store, hub.artifacts, hub.settings, first, "local:host:1:w")
    first_result = JOB_KINDS[kind].run(ctx, parse_params(kind, params))
    assert [j.status for j in hub.store.recover_worker_jobs("local:host:1:")] == [JobStatus.QUEUED]
    run_job(hub.store, hub.artifacts, hub.settings, claim(hub, job.id, "local:host:2:w"), "local:host:2:w")
    return first_result, hub.store.get_job(job.id)


def test_a_rerun_train_job_returns_the_model_its_first_attempt_registered(hub: Hub) -> None:
    first, job = run_twice(hub, "train", TRAIN)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.attempts, job.result) == (2, first)
    assert [model.id for model in hub.store.list_models().items] == [first["model_id"]]
    modules = hub.store.list_modules(first["model_id"]).items
    assert [module.id for module in modules] == first["module_ids"]
    assert len(modules) == DIGITS_CLASSES


def test_a_rerun_train_job_whose_model_is_registered_does_not_train_again(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = hub.store.create_job("train", TRAIN, max_attempts=2)
    ctx = JobContext(hub.store, hub.artifacts, hub.settings, claim(hub, job.id, "local:host:1:w"), "local:host:1:w")
    first = JOB_KINDS["train"].run(ctx, parse_params("train", TRAIN))
    hub.store.recover_worker_jobs("local:host:1:")

    def train_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the re-run trained the model again")

    monkeypatch.setattr(train_job, "train", train_again)
    run_job(hub.store, hub.artifacts, hub.settings, claim(hub, job.id, "local:host:2:w"), "local:host:2:w")
    rerun = hub.store.get_job(job.id)
    assert (rerun.status, rerun.result) == (JobStatus.SUCCEEDED, first), rerun.error


def test_a_rerun_modularize_job_returns_the_modules_its_first_attempt_added(hub: Hub) -> None:
    model_id = run_to_the_end(hub, "train", TRAIN).result["model_id"]
    first, job = run_twice(hub, "modularize", {"model_id": model_id, "tau": 0.5})
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.attempts, job.result) == (2, first)
    at_half = hub.store.list_modules(model_id, tau=0.5).items
    assert [module.id for module in at_half] == first["module_ids"]
    assert len(at_half) == DIGITS_CLASSES


def test_a_rerun_refuses_a_model_an_older_registry_left_without_modules(hub: Hub) -> None:
    # Before a model and its modules were written in one transaction, a crash between the two
    # could leave the model alone; modules of a re-trained network would not match its weights.
    job = hub.store.create_job("train", TRAIN)
    lone = hub.store.create_model(
        NewModel(
            name="lone",
            arch="mlp",
            arch_config={},
            input_spec={},
            labels=["a", "b"],
            alpha=1.0,
            beta=1.0,
            gamma=0.3,
            weights_sha256="0" * 64,
            metrics={},
            job_id=job.id,
        )
    )
    run_job(hub.store, hub.artifacts, hub.settings, claim(hub, job.id, "local:host:0:w"), "local:host:0:w")
    failed = hub.store.get_job(job.id)
    assert failed.status == JobStatus.FAILED
    assert failed.error is not None and lone.id in failed.error and "modularize" in failed.error
    assert [model.id for model in hub.store.list_models().items] == [lone.id]
