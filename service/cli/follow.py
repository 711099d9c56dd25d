"""Following a job until it ends: its server-sent events, or polling when the stream is unavailable.

for job in follow_job(client, job_id):   # JobPublic dicts, the last one terminal
    ...
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from service.cli.http import HubClient

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def is_terminal(job: dict[str, Any]) -> bool:
    return job.get("status") in TERMINAL


def parse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Server-sent events as (event, data); `data` lines of one event are joined by newlines."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue  # a comment (keep-alive)
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _events(client: HubClient, job_id: str) -> Iterator[dict[str, Any]]:
    """Job snapshots from GET /v1/jobs/{id}/events; stops quietly if the stream breaks."""
    with client.stream(f"/v1/jobs/{job_id}/events") as response:
        try:
            for _event, data in parse_events(response.iter_lines()):
                try:
                    yield json.loads(data)
                except ValueError:
                    continue
        except httpx.TransportError:
            return  # a stalled or dropped stream: the caller polls from here


def follow_job(client: HubClient, job_id: str, poll_s: float = 0.5) -> Iterator[dict[str, Any]]:
    """Every observed state of the job, ending with its terminal state."""
    for job in _events(client, job_id):
        yield job
        if is_terminal(job):
            return
    while True:  # the stream ended early (a proxy, a restart): poll
        job = client.get(f"/v1/jobs/{job_id}")
        yield job
        if is_terminal(job):
            return
        time.sleep(poll_s)
