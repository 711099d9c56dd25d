"""Scale-out on Celery, for real: the api (`python -m service serve`, MODA_EXECUTOR=celery, no local
workers) and `python -m service worker` processes on a real Redis broker and a real PostgreSQL registry,
sharing only the database, the broker and an artifacts directory.

MODA_TEST_POSTGRES_URL names a PostgreSQL server (any database on it: the module creates and drops its
own `moda_celery_<random>`); MODA_TEST_REDIS_URL names a Redis database that is FLUSHED at the start
and end of the module, so give it a scratch one (e.g. redis://127.0.0.1:6379/15). Unset, the module
skips, unless MODA_TEST_REQUIRE_SERVERS=1, which makes it fail; set but unreachable, it fails.

What the design produces when a worker is SIGKILLed mid-job: its heartbeats stop, and within
MODA_STALE_AFTER_S (+ one reaper period) the api's reaper puts the job back to `queued` (it has
attempts left: MODA_MAX_ATTEMPTS defaults to 2) and submits a new Celery task; the next worker to
start runs it from the beginning, as attempt 2.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modules_store import RegistryStore, open_store
from tests.live_server import REPO, LiveServer, wait_for
from tests.servers import POSTGRES_URL_ENV, REDIS_URL_ENV, scratch_database, server_url

STALE_AFTER_S = 4.0
HEARTBEAT_S = 0.5
REAPER_PERIOD_S = max(STALE_AFTER_S / 3, 0.5)  # service/jobs/reaper.py
TERMINAL = {"succeeded", "failed", "cancelled"}

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _server_url(env: str, example: str) -> str:
    return server_url(env, "the Celery scale-out tests", example)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    import redis

    url = _server_url(REDIS_URL_ENV, "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.flushdb()  # no queued tasks or unacknowledged messages of an earlier run
    except redis.exceptions.ConnectionError as error:
        client.close()
        pytest.fail(f"{REDIS_URL_ENV} is set but Redis is unreachable: {error}", pytrace=False)
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A URL to a fresh database, dropped after the module."""
    raw_url = _server_url(POSTGRES_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with scratch_database(raw_url, "moda_celery") as url:
        yield url.render_as_string(hide_password=False)


class Worker:
    """One `python -m service worker` process (a Celery worker, solo pool: it runs the job itself)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "worker"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the job dies with it, no handler runs, as when a container is killed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


class Cluster:
    """The api and the workers of one deployment, sharing PostgreSQL, Redis and an artifacts dir."""

    def __init__(self, root: Path, postgres_url: str, redis_url: str) -> None:
        self.root = root
        artifacts = root / "artifacts"
        artifacts.mkdir(parents=True)
        self.env = {
            "MODA_EXECUTOR": "celery",
            "MODA_WORKERS": "0",
            "MODA_DATABASE_URL": postgres_url,
            "MODA_BROKER_URL": redis_url,
            "MODA_ARTIFACTS_URL": artifacts.as_uri(),
            "MODA_STALE_AFTER_S": str(STALE_AFTER_S),
            "MODA_HEARTBEAT_S": str(HEARTBEAT_S),
            "MODA_API_KEY": None,  # unset, whatever the calling shell has
            "OMP_NUM_THREADS": "1",  # tiny models, shared cores: threads would only contend
        }
        self.api = LiveServer(root / "api", self.env)
        self.workers: list[Worker] = []

    def start_worker(self) -> Worker:
        """A worker with the api's settings but its own MODA_HOME: only the shared URLs connect them."""
        n = len(self.workers)
        home = self.root / f"worker{n}"
        home.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODA_")}
        env = {k: v for k, v in {**base, **self.env, "MODA_HOME": str(home)}.items() if v is not None}
        worker = Worker(env, self.root / f"worker{n}.log")
        self.workers.append(worker)
        return worker

    def only_worker(self) -> Worker:
        """Exactly one live worker (started if needed), so a test knows which one takes its job."""
        live = [w for w in self.workers if w.alive()]
        for extra in live[1:]:
            extra.stop()
        return live[0] if live else self.start_worker()

    def logs(self) -> str:
        parts = [f"--- api\n{self.api.log.read_text(errors='replace')[-3000:]}"]
        parts += [f"--- worker {w.pid}\n{w.tail()}" for w in self.workers]
        return "\n".join(parts)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.api.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("celery"), postgres_url, redis_url)
    try:
        cluster.api.start()
        cluster.start_worker()  # starts while the api is checked; jobs wait on the broker meanwhile
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[httpx.Client]:
    with cluster.api.client() as client:
        yield client


@pytest.fixture(scope="module")
def store(cluster: Cluster, postgres_url: str) -> Iterator[RegistryStore]:
    """The registry itself, for what the api does not publish (which worker holds a job)."""
    store = open_store(postgres_url)
    try:
        yield store
    finally:
        store.close()


def submit_train(client: httpx.Client, epochs: int, **params: Any) -> dict[str, Any]:
    body = {"kind": "train", "params": {"dataset": "digits", "arch": "mlp", "epochs": epochs, **params}}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def get_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_job(client: httpx.Client, cluster: Cluster, job_id: str, until: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_job(client, job_id)
        if job["status"] in until:
            return job
        time.sleep(0.2)
    raise AssertionError(
        f"job {job_id} still {job['status']} after {timeout}s (progress {job['progress']}), "
        f"waiting for {sorted(until)}\n{cluster.logs()}"
    )


def running_epoch(client: httpx.Client, job_id: str, at_least: int) -> dict[str, Any] | None:
    job = get_job(client, job_id)
    assert job["status"] not in TERMINAL, f"job ended early: {job}"
    ok = job["status"] == "running" and job["progress"].get("epoch", 0) >= at_least
    return job if ok else None


def test_train_job_runs_on_a_celery_worker_and_its_modules_compose(
    cluster: Cluster, client: httpx.Client, store: RegistryStore
) -> None:
    from sklearn.datasets import load_digits

    worker = cluster.only_worker()
    job = submit_train(client, epochs=4, name="celery-digits")
    assert job["status"] == "queued"

    job = wait_job(client, cluster, job["id"], TERMINAL, timeout=120)
    assert job["status"] == "succeeded", f"{job}\n{cluster.logs()}"
    owner = store.get_job(job["id"]).worker_id or ""
    assert owner.startswith("celery:") and f":{worker.pid}:" in owner, owner
    assert job["attempts"] == 1
    assert job["progress"]["stage"] == "modularizing", job["progress"]  # its last report
    assert job["progress"]["module"] == job["progress"]["modules"] == 10, job["progress"]

    model_id, module_ids = job["result"]["model_id"], job["result"]["module_ids"]
    assert len(module_ids) == 10
    modules = client.get(f"/v1/models/{model_id}/modules", params={"limit": 100}).json()
    assert modules["total"] == 10
    by_class = {m["class_index"]: m for m in modules["items"]}
    assert sorted(by_class) == list(range(10))
    onnx = client.get(f"/v1/modules/{by_class[3]['id']}/onnx")
    assert onnx.status_code == 200 and len(onnx.content) > 0, "the api reads what the worker wrote"

    classes = [1, 4, 7]
    created = client.post("/v1/compositions", json={"modules": [by_class[c]["id"] for c in classes]})
    assert created.status_code == 201, created.text
    composition = created.json()
    assert [c["class_index"] for c in composition["classes"]] == classes

    digits = load_digits()
    chosen = [i for i, y in enumerate(digits.target) if y in classes][:150]
    inputs = digits.images[chosen].tolist()  # raw 8x8 pixels, 0..16
    truth = digits.target[chosen].tolist()
    response = client.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    predicted = [p["class_index"] for p in response.json()["predictions"]]
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
    assert accuracy >= 0.85, f"composed accuracy {accuracy:.3f} on classes {classes}"

    one_call = client.post("/v1/predict", json={"modules": composition["module_ids"], "inputs": inputs[:5]})
    assert one_call.status_code == 200, one_call.text
    assert one_call.json()["composition_id"] == composition["id"]
    assert [p["class_index"] for p in one_call.json()["predictions"]] == predicted[:5]
    assert worker.alive()


def test_progress_advances_while_running_and_cancel_stops_the_job(cluster: Cluster, client: httpx.Client) -> None:
    worker = cluster.only_worker()
    job = submit_train(client, epochs=500)  # far longer than the test waits

    first = wait_for(lambda: running_epoch(client, job["id"], 1), timeout=90, what="the first epoch")
    later = wait_for(
        lambda: running_epoch(client, job["id"], first["progress"]["epoch"] + 2),
        timeout=30,
        what="two more epochs",
    )
    assert later["progress"]["stage"] == "training"
    assert later["progress"]["epochs"] == 500
    assert later["heartbeat_at"] > first["heartbeat_at"]

    cancelled_at = time.monotonic()
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["cancel_requested"] is True
    done = wait_job(client, cluster, job["id"], TERMINAL, timeout=10)
    assert done["status"] == "cancelled", done
    assert time.monotonic() - cancelled_at < 10
    assert done["progress"]["epoch"] < 500
    assert done["result"] == {}
    assert worker.alive(), "a cancelled job must not take its worker down"


def test_a_killed_worker_job_is_requeued_and_completes_on_another_worker(
    cluster: Cluster, client: httpx.Client, store: RegistryStore
) -> None:
    victim = cluster.only_worker()
    # Long enough to be killed mid-run (it is, about 1 s in): a digits MLP epoch takes 50-150 ms.
    job = submit_train(client, epochs=60, name="celery-rescued")
    wait_for(lambda: running_epoch(client, job["id"], 1), timeout=90, what="the job to be training")
    owner = store.get_job(job["id"]).worker_id or ""
    assert f":{victim.pid}:" in owner, f"{owner} is not the only live worker {victim.pid}"

    victim.kill()
    killed_at = time.monotonic()

    # No worker is left, so the re-queued job stays visible as `queued` until we start one.
    requeued = wait_job(client, cluster, job["id"], {"queued", *TERMINAL}, timeout=STALE_AFTER_S + 8)
    waited = time.monotonic() - killed_at
    assert requeued["status"] == "queued", requeued
    assert waited <= STALE_AFTER_S + REAPER_PERIOD_S + 3, f"re-queued only after {waited:.1f}s"
    assert requeued["attempts"] == 1 and requeued["max_attempts"] == 2
    assert requeued["progress"] == {} and requeued["error"] is None
    assert store.get_job(job["id"]).worker_id is None

    rescuer = cluster.start_worker()
    done = wait_job(client, cluster, job["id"], TERMINAL, timeout=120)
    assert done["status"] == "succeeded", f"{done}\n{cluster.logs()}"
    assert done["attempts"] == 2
    owner = store.get_job(job["id"]).worker_id or ""
    assert owner.startswith("celery:") and f":{rescuer.pid}:" in owner, owner
    assert len(done["result"]["module_ids"]) == 10
    models = client.get("/v1/models", params={"limit": 100}).json()["items"]
    assert [m["name"] for m in models].count("celery-rescued") == 1, "the killed attempt registered nothing"
