"""The statuses the OpenAPI document promises, compared with the statuses the test-suite sees.

`StatusRecorder` wraps httpx's clients for a whole session and notes (method, route template, status)
of every response; `undocumented` lists those the document does not name for their operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@dataclass(frozen=True)
class Seen:
    method: str  # lower case, as OpenAPI spells it
    path: str  # the request's path
    status: int
    test: str  # the test that made the request


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], set[int]]:
    """(method, path template) -> the statuses documented for it."""
    return {
        (method, path): {int(status) for status in operation.get("responses", {}) if status.isdigit()}
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")


def template_of(path: str, templates: list[str]) -> str | None:
    """The documented path template `path` falls under (a literal one before one with parameters)."""
    matching = [t for t in templates if _pattern(t).match(path)]
    return min(matching, key=lambda t: t.count("{"), default=None)


def undocumented(seen: list[Seen], spec: dict[str, Any]) -> list[str]:
    """Each (method, template, status) seen but not documented, with the first test that saw it.
    Requests to paths or methods the document does not describe at all (an unknown route, a wrong
    method) are no operation's, and left out."""
    documented = operations(spec)
    templates = sorted({path for _, path in documented})
    missing: dict[tuple[str, str, int], str] = {}
    for s in seen:
        template = template_of(s.path, templates)
        statuses = documented.get((s.method, template)) if template else None
        if statuses is not None and s.status not in statuses:
            missing.setdefault((s.method, template, s.status), s.test)  # type: ignore[arg-type]
    return [f"{m.upper()} {t} answered {status} (first in {test})" for (m, t, status), test in sorted(missing.items())]


@dataclass
class StatusRecorder:
    """Notes every response made through httpx (sync and async clients, and httpx.get & co.)."""

    seen: list[Seen] = field(default_factory=list)
    test: str = ""
    paused: bool = False  # during expected failures: they document known bugs, not the contract

    def note(self, request: httpx.Request, response: httpx.Response) -> None:
        if not self.paused:
            self.seen.append(Seen(request.method.lower(), request.url.path, response.status_code, self.test))

    @contextmanager
    def installed(self) -> Iterator[StatusRecorder]:
        send, send_async = httpx.Client.send, httpx.AsyncClient.send
        recorder = self

        def recorded_send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            response = send(client, request, **kwargs)
            recorder.note(request, response)
            return response

        async def recorded_send_async(
            client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
        ) -> httpx.Response:
            response = await send_async(client, request, **kwargs)
            recorder.note(request, response)
            return response

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(httpx.Client, "send", recorded_send)
            patch.setattr(httpx.AsyncClient, "send", recorded_send_async)
            yield self
