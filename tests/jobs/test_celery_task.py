"""The Celery task itself, run eagerly (no broker, no database): what it does with one job id.

A failure before the job is claimed (the registry unreachable) must not consume the task's message:
the job is still `queued`, which the reaper never looks at, so a dropped message would strand it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from service.config import Settings
from service.jobs import celery_executor
from service.jobs.celery_executor import TASK, make_celery


@dataclass
class FakeStore:
    """claim_job fails `failures` times (the database is away), then returns `job`."""

    job: Any = None
    failures: int = 0
    claims: list[tuple[str, str]] = field(default_factory=list)

    def claim_job(self, worker_id: str, *, job_id: str) -> Any:
        self.claims.append((worker_id, job_id))
        if len(self.claims) <= self.failures:
            raise OperationalError("SELECT", {}, ConnectionRefusedError("database is away"))
        return self.job


@pytest.fixture
def settings() -> Settings:
    return Settings(executor="celery", broker_url="memory://", database_url="sqlite:////nonexistent/x.db")


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(celery_executor, "run_job", lambda *args: calls.append(args))
    return calls


def use_backends(monkeypatch: pytest.MonkeyPatch, store: FakeStore, failures: int = 0) -> list[str]:
    """Replace the worker's backends; the first `failures` openings raise."""
    opened: list[str] = []

    def backends(settings_json: str) -> tuple[Settings, FakeStore, str]:
        opened.append(settings_json)
        if len(opened) <= failures:
            raise OperationalError("connect", {}, ConnectionRefusedError("database is starting"))
        return Settings.model_validate_json(settings_json), store, "artifacts"

    monkeypatch.setattr(celery_executor, "_backends", backends)
    return opened


def run_task(settings: Settings, job_id: str = "job-1") -> Any:
    task = make_celery(settings).tasks[TASK]
    assert task.max_retries is None, "retry until the registry is back, however long that takes"
    return task.apply(args=[job_id])


def test_a_claimed_job_runs_under_a_celery_worker_id(
    settings: Settings, ran: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(job="the claimed job")
    use_backends(monkeypatch, store)
    assert run_task(settings).successful()
    ((worker_id, job_id),) = store.claims
    assert job_id == "job-1" and worker_id.startswith("celery:")
    ((run_store, artifacts, run_settings, job, run_worker_id),) = ran
    assert (run_store, artifacts, job, run_worker_id) == (store, "artifacts", "the claimed job", worker_id)
    assert run_settings == settings


def test_a_job_no_longer_queued_is_skipped(
    settings: Settings, ran: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(job=None)  # cancelled while queued, or claimed through another delivery
    use_backends(monkeypatch, store)
    assert run_task(settings).successful()
    assert len(store.claims) == 1 and ran == []


def test_an_unreachable_registry_is_retried_not_dropped(
    settings: Settings, ran: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(job="the claimed job")
    opened = use_backends(monkeypatch, store, failures=2)
    result = run_task(settings)
    assert result.successful()
    assert len(opened) == 3, "two failed openings, each retried"
    assert len(store.claims) == 1 and len(ran) == 1


def test_a_failed_claim_is_retried(
    settings: Settings, ran: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(job="the claimed job", failures=1)
    use_backends(monkeypatch, store)
    assert run_task(settings).successful()
    assert len(store.claims) == 2 and len(ran) == 1


def test_each_app_runs_its_task_with_its_own_settings(
    settings: Settings, ran: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two apps in one process (two api instances in a test run) must not share one task."""
    use_backends(monkeypatch, FakeStore(job="the claimed job"))
    first = settings.model_copy(update={"database_url": "sqlite:////first.db"})
    second = settings.model_copy(update={"database_url": "sqlite:////second.db"})
    assert run_task(first).successful()
    assert run_task(second).successful()
    assert [call[2].database_url for call in ran] == ["sqlite:////first.db", "sqlite:////second.db"]
