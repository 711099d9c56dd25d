"""`moda serve` with two API processes: a composition deleted through one answers 404 from the other
within a second, though both had it cached (no SQL per request: each polls the deletion log)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import SERVERS, assert_error, digits, succeeded
from tests.api.test_serve import spawned
from tests.live_server import LiveServer, wait_for


def server_process(client_port: int, server_port: int, candidates: list[int]) -> int | None:
    """The process among `candidates` that holds the server side of our connection from `client_port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(f.split(":")[1], 16) for f in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inodes.add(fields[9])
    for pid in candidates:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in {f"socket:[{inode}]" for inode in inodes}:
                    return pid
            except OSError:  # closed meanwhile
                continue
    return None


def owner(client: httpx.Client, server: LiveServer, processes: list[int]) -> int | None:
    """The API process at the other end of the client's (kept-alive) connection."""
    port = client.get("/healthz").extensions["network_stream"].get_extra_info("client_addr")[1]
    return server_process(port, server.port, processes)


def connection_to_each_process(server: LiveServer, processes: list[int]) -> list[httpx.Client]:
    """A kept-alive client connected to each of two API processes: new connections land on either,
    so open them until each process holds one."""
    clients: dict[int, httpx.Client] = {}
    for _ in range(200):
        client = server.client()
        pid = owner(client, server, processes)
        if pid is None or pid in clients:
            client.close()
        else:
            clients[pid] = client
        if len(clients) == 2:
            return list(clients.values())
    raise AssertionError(f"200 connections did not reach two API processes: {list(clients)}")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds which process answers from /proc (Linux)")
def test_a_deleted_composition_answers_404_from_every_process_within_a_second(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "hub", {"MODA_API_PROCESSES": "2", "MODA_WORKERS": "1", "MODA_API_KEY": None})
    SERVERS.append(server)  # watched for 5xx answers (tests/api/conftest.py)
    try:
        server.start(timeout=180)  # three processes import torch at once: slow on a busy machine
        assert server.process is not None
        supervisor = server.process.pid
        processes = wait_for(
            lambda: len(spawned(supervisor)) == 3 and spawned(supervisor),
            timeout=30,
            what="two API processes and one job worker",
        )
        with server.client() as setup:
            job = setup.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1}}).json()
            model_id = succeeded(setup, job["id"])["result"]["model_id"]
            modules = setup.get(f"/v1/models/{model_id}/modules").json()["items"]
            cid = setup.post("/v1/compositions", json={"modules": [m["id"] for m in modules[:2]]}).json()["id"]
        x, _ = digits().of_classes((0, 1))
        body = {"inputs": x[:1].tolist()}
        # Connected now, not before training: an idle connection is closed after a few seconds.
        one, other = connection_to_each_process(server, processes)
        for client in (one, other):  # each process caches the composition and its session
            assert client.post(f"/v1/compositions/{cid}/predict", json=body).status_code == 200
            assert client.get(f"/v2/models/{cid}").status_code == 200

        assert one.delete(f"/v1/compositions/{cid}").status_code == 204
        deleted_at = time.monotonic()
        assert_error(one.post(f"/v1/compositions/{cid}/predict", json=body), 404, "NOT_FOUND", cid)  # at once
        time.sleep(max(0.0, deleted_at + 1.0 - time.monotonic()))
        while time.monotonic() < deleted_at + 2.0:  # every request from the second on
            for client in (one, other):
                assert_error(client.post(f"/v1/compositions/{cid}/predict", json=body), 404, "NOT_FOUND", cid)
                assert client.get(f"/v2/models/{cid}").status_code == 404
        # Still the two processes: no connection was made anew to the one that deleted it.
        assert owner(one, server, processes) != owner(other, server, processes)
        one.close()
        other.close()
    finally:
        server.stop()
