"""A server killed (SIGKILL) in the middle of a job, and started again on the same home: the job is
re-queued while it has attempts left, failed once it has none, and never left `running` with no
worker; everything registered before the kill is still there and still serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.helpers import digits, get_job, start_server, succeeded, wait_for
from tests.live_server import LiveServer

# The local executor recovers a dead worker's job at start-up, the reaper after MODA_STALE_AFTER_S:
# either way within seconds here.
RECOVERY_S = 60.0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    """Servers a test starts; stopped (or already killed) at its end."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


def start(home: Path, servers: list[LiveServer]) -> tuple[LiveServer, httpx.Client]:
    # No MODA_API_KEY: without one, mutating endpoints need no Authorization header.
    server = start_server(home, {"MODA_WORKERS": "1", "MODA_MAX_ATTEMPTS": "2", "MODA_STALE_AFTER_S": "5"})
    servers.append(server)
    return server, server.client()


def kill_while_training(server: LiveServer, client: httpx.Client, job_id: str, attempt: int) -> None:
    wait_for(
        lambda: (job := get_job(client, job_id))["attempts"] == attempt and job["progress"].get("epoch"),
        timeout=120,
        what=f"attempt {attempt} of job {job_id} to train",
    )
    server.kill()


def recovered(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job once it is no longer `running` for the attempt the killed server was making."""
    attempts = get_job(client, job_id)["attempts"]

    def moved_on() -> dict[str, Any] | None:
        job = get_job(client, job_id)
        return job if job["status"] != "running" or job["attempts"] > attempts else None

    return wait_for(moved_on, timeout=RECOVERY_S, what=f"job {job_id} to be recovered")


def test_a_job_killed_with_its_server_is_requeued_then_failed_never_stuck(
    home: Path, servers: list[LiveServer]
) -> None:
    server, client = start(home, servers)
    first = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 2, "name": "before-kill"}})
    assert first.status_code == 202, first.text
    done = succeeded(client, first.json()["id"])
    modules = done["result"]["module_ids"]
    composition = client.post("/v1/compositions", json={"modules": modules[:2]}).json()
    onnx = client.get(f"/v1/compositions/{composition['id']}/onnx").content

    long = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1000}})
    assert long.status_code == 202, long.text
    job_id = long.json()["id"]

    # First kill: the job has an attempt left, so it goes back to the queue and runs again.
    kill_while_training(server, client, job_id, attempt=1)
    server, client = start(home, servers)
    job = get_job(client, job_id)
    if job["status"] == "running" and job["attempts"] == 1:
        job = recovered(client, job_id)
    assert job["status"] in ("queued", "running"), job
    assert job["error"] is None and job["finished_at"] is None
    again = wait_for(
        lambda: (j := get_job(client, job_id))["status"] == "running" and j["attempts"] == 2 and j,
        timeout=RECOVERY_S,
        what="the re-queued job to run again",
    )
    assert again["result"] == {}

    # Second kill: no attempts left, so the job fails, saying why.
    kill_while_training(server, client, job_id, attempt=2)
    server, client = start(home, servers)
    job = get_job(client, job_id)
    if job["status"] == "running":
        job = recovered(client, job_id)
    assert job["status"] == "failed", job
    assert job["attempts"] == 2 and "stopped heartbeating" in job["error"]
    assert job["finished_at"] is not None
    metrics = client.get("/metrics").text
    assert 'moda_jobs{status="running"} 0.0' in metrics  # nothing is left running without a worker

    # Nothing registered before the kills was lost: the model, its modules, the composition, its ONNX.
    model = client.get(f"/v1/models/{done['result']['model_id']}")
    assert model.status_code == 200 and model.json()["name"] == "before-kill"
    listed = client.get(f"/v1/models/{done['result']['model_id']}/modules").json()
    assert sorted(m["id"] for m in listed["items"]) == sorted(modules)
    assert client.get(f"/v1/compositions/{composition['id']}").json() == composition
    assert client.get(f"/v1/compositions/{composition['id']}/onnx").content == onnx
    x, _ = digits().of_classes((0, 1))
    predicted = client.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": x[:4].tolist()})
    assert predicted.status_code == 200, predicted.text
    assert np.isfinite([list(p["probabilities"].values()) for p in predicted.json()["predictions"]]).all()
    client.close()


def test_a_registry_deleted_under_the_server_is_noticed_and_never_replaced(
    home: Path, servers: list[LiveServer]
) -> None:
    server, client = start(home, servers)
    job = client.post("/v1/jobs", json={"kind": "train", "params": {"dataset": "digits", "epochs": 1}}).json()
    succeeded(client, job["id"])
    for suffix in ("", "-wal", "-shm"):
        (home / f"registry.db{suffix}").unlink(missing_ok=True)

    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "unavailable"
    refused = client.post("/v1/jobs", json={"kind": "train", "params": {"dataset": "digits", "epochs": 1}})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "UNAVAILABLE"
    assert "removed or replaced" in server.log.read_text()  # the operator reads why
    server.stop()

    with pytest.raises(RuntimeError, match="server exited"):
        start(home, servers)  # artifacts are stored: an empty registry beside them would orphan them
    assert not (home / "registry.db").exists()
    refusal = "does not exist, and this process may not create it"
    assert any(refusal in log.read_text() for log in home.glob("server-*.log"))
