"""`moda serve` with several API processes: all answer, jobs run once, none outlives the supervisor."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import succeeded
from tests.live_server import LiveServer, wait_for


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def spawned(pid: int) -> list[int]:
    """Processes the supervisor spawned (API processes and job workers), not helpers like the
    multiprocessing resource tracker."""
    found = []
    for child in children(pid):
        command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_several_api_processes_share_the_registry_and_jobs_run_once(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "hub", {"MODA_API_PROCESSES": "2", "MODA_WORKERS": "1"})
    with server:
        assert server.process is not None
        supervisor = server.process.pid
        processes = wait_for(
            lambda: len(spawned(supervisor)) == 3 and spawned(supervisor),
            timeout=30,
            what="two API processes and one job worker",
        )
        with server.client() as client:
            # New connections land on either API process; every one of them answers from the one registry.
            for _ in range(20):
                with httpx.Client(base_url=server.url) as fresh:
                    assert fresh.get("/readyz").status_code == 200
            job = client.post("/v1/jobs", json={"kind": "train", "params": {"dataset": "digits", "epochs": 1}}).json()
            done = succeeded(client, job["id"])
            assert done["attempts"] == 1  # claimed by one worker, never re-queued by a second reaper
            assert client.get("/v1/jobs").json()["total"] == 1
            assert client.get("/v1/models").json()["total"] == 1
        server.kill()  # SIGKILL: the supervisor cannot stop anything
        wait_for(lambda: not any(alive(p) for p in processes), timeout=15, what="API processes and workers to exit")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/healthz", timeout=2)


def test_one_api_process_per_core_by_default() -> None:
    from service.api.serve import api_processes
    from service.config import Settings

    assert api_processes(Settings(api_processes=0)) == (os.cpu_count() or 1)
    assert api_processes(Settings(api_processes=3)) == 3
