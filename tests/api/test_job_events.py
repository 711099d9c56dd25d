"""GET /v1/jobs/{id}/events on a quiet job: FastAPI's EventSourceResponse keeps the stream open with
`: ping` comments. In-process, since FastAPI's 15 s ping interval is shortened for the test."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest

from service.api.app import create_app
from service.config import Settings

PING_S = 0.2


async def queued_job(app: Any) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        response = await client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1}})
    assert response.status_code == 202, response.text
    return response.json()


async def stream_for(app: Any, path: str, seconds: float) -> tuple[dict[str, Any], bytes]:
    """The response start and the body bytes a client reading `path` for `seconds` receives."""
    start: dict[str, Any] = {}
    body = bytearray()
    disconnected = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            body.extend(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"hub")],
        "client": ("127.0.0.1", 1),
        "server": ("hub", 80),
    }
    call = asyncio.create_task(app(scope, receive, send))
    await asyncio.sleep(seconds)
    disconnected.set()
    await asyncio.wait_for(call, timeout=5)  # a client that leaves ends the stream
    return start, bytes(body)


def test_a_quiet_stream_is_kept_alive_with_comments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", PING_S)
    app = create_app(Settings(home=tmp_path, workers=0))  # no worker: the job stays queued, nothing to say

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], bytes]:
        async with app.router.lifespan_context(app):  # the registry and the executor, as when served
            job = await queued_job(app)
            start, body = await stream_for(app, f"/v1/jobs/{job['id']}/events", seconds=8 * PING_S)
        return job, start, body

    job, start, body = asyncio.run(scenario())
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache"
    frames = body.decode().split("\n\n")
    first, *rest = frames
    event, data = first.split("\n")
    assert event == "event: progress" and json.loads(data.removeprefix("data: ")) == job
    pings = [frame for frame in rest if frame == ": ping"]
    assert len(pings) >= 3, f"expected a keep-alive comment every {PING_S}s, got {frames}"
    assert not [f for f in rest if f and f != ": ping"], "a queued job that does not change sends no news"
