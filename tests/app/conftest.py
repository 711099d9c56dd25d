"""A real registry (SQLite), artifacts on disk and two trained digits models, shared by the app tests.

The executor is the local one, never started: submitted jobs stay queued, where the tests read them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modules_store import ArtifactStore, JobStatus, Module, RegistryStore, open_artifact_store, open_store
from service.config import Settings
from service.jobs.local_executor import LocalExecutor
from service.jobs.runner import run_job


@dataclass(frozen=True)
class Hub:
    store: RegistryStore
    artifacts: ArtifactStore
    settings: Settings
    executor: LocalExecutor


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Hub:
    home = tmp_path_factory.mktemp("hub")
    settings = Settings(home=home)
    return Hub(
        open_store(f"sqlite:///{home / 'registry.db'}"),
        open_artifact_store(str(home / "artifacts")),
        settings,
        LocalExecutor(settings),
    )


def train(hub: Hub, seed: int) -> list[Module]:
    """A digits MLP trained for one epoch and split into its modules (one per class)."""
    job = hub.store.create_job("train", {"dataset": "digits", "arch": "mlp", "epochs": 1, "seed": seed})
    claimed = hub.store.claim_job("test:w", job_id=job.id)
    assert claimed is not None
    run_job(hub.store, hub.artifacts, hub.settings, claimed, "test:w")
    finished = hub.store.get_job(job.id)
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    return hub.store.list_modules(finished.result["model_id"]).items


@pytest.fixture(scope="module")
def first_modules(hub: Hub) -> list[Module]:
    return train(hub, seed=0)


@pytest.fixture(scope="module")
def second_modules(hub: Hub) -> list[Module]:
    return train(hub, seed=1)
