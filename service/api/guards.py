"""Checks that must run before a route reads the request body: the API key, the body's size and pace.

FastAPI parses (and spools) a route's body before it solves the route's dependencies, so a check
made only in a dependency comes too late: an unauthenticated client could make the server read a
whole upload, and get a 422 for a malformed body instead of its 401. These ASGI middlewares run
first. Routes still declare `dependencies=[Authorized]`: that declaration is what the gate reads
(`protected_routes`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import check_api_key, require_api_key
from service.api.errors import coded_response
from service.errors import ErrorCode, HubError


def protected_routes(routers: Iterable[APIRouter]) -> list[APIRoute]:
    """The routes of `routers` that declare the `Authorized` dependency (paths include the prefix)."""
    return [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and any(d.dependency is require_api_key for d in route.dependencies)
    ]


# Open whatever MODA_AUTH says: probes (orchestrators call them without credentials), the docs, and
# the web UI's page and files (the page asks for the key itself and sends it with its API calls).
OPEN_PATHS = (
    "/healthz",
    "/readyz",
    "/v2/health/live",
    "/v2/health/ready",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/static/",
)


def needs_key(auth: str, declared: bool, path: str) -> bool:
    """Whether a request needs the API key (when one is set): MODA_AUTH=mutations protects the routes
    that declare it; MODA_AUTH=all every route but OPEN_PATHS."""
    if auth == "all":
        return path != "/" and not path.startswith(OPEN_PATHS)
    return declared


class ApiKeyGate:
    """401 for requests that need the key (needs_key) when it is missing or wrong."""

    def __init__(self, app: ASGIApp, protected: list[APIRoute], api_key: str | None, auth: str) -> None:
        self.app = app
        self.protected = protected
        self.api_key = api_key
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.api_key and needs_key(self.auth, self._protected(scope), scope["path"]):
            request = Request(scope)
            try:
                check_api_key(request.headers.get("authorization", ""), self.api_key)
            except HubError as error:
                await coded_response(request, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _protected(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] == Match.FULL for route in self.protected)


class _Refused(Exception):
    """Raised into the app when BodyWatch refuses the body; the app's answer is then discarded."""


class BodyWatch:
    """A `receive` that watches the request body as it arrives: PAYLOAD_TOO_LARGE (413) at once
    when Content-Length is over `max_bytes`, or as the bytes received pass it (chunked bodies);
    REQUEST_TIMEOUT (408) when the client sends nothing for `idle_s` while its body is incomplete,
    so that a client stalling mid-body cannot hold its request (and its admission slot) forever.
    Once the body is complete, receive is passed through untimed (it then waits for a disconnect)."""

    def __init__(self, scope: Scope, receive: Receive, max_bytes: int, max_mb: float, idle_s: float) -> None:
        self._receive = receive
        self.max_bytes, self.max_mb, self.idle_s = max_bytes, max_mb, idle_s
        self.received = 0
        self.done = False
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise too_large(f"request body of {int(length)} bytes", max_mb)

    async def __call__(self) -> Message:
        if self.done:
            return await self._receive()
        try:
            # A timeout scope, not wait_for: that wraps each receive in a task of its own, which
            # costs more than the rest of a small request's receive.
            async with asyncio.timeout(self.idle_s):
                message = await self._receive()
        except TimeoutError:
            raise HubError(
                ErrorCode.REQUEST_TIMEOUT,
                f"the request body stalled: nothing arrived for {self.idle_s:g} s (MODA_BODY_TIMEOUT_S)",
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                raise too_large(f"a streamed request body of over {self.max_bytes} bytes", self.max_mb)
            self.done = not message.get("more_body", False)
        return message


class BodyGuard:
    """BodyWatch around every request to the app: its refusals are answered here, whatever the app
    made of the exception (FastAPI turns errors inside body parsing into 400s)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_mb: float, idle_s: float) -> None:
        self.app = app
        self.max_bytes, self.max_mb, self.idle_s = max_bytes, max_mb, idle_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            watch = BodyWatch(scope, receive, self.max_bytes, self.max_mb, self.idle_s)
        except HubError as early:
            await coded_response(Request(scope), early)(scope, receive, send)
            return
        refusal: HubError | None = None
        started = False

        async def watched_receive() -> Message:
            nonlocal refusal
            try:
                return await watch()
            except HubError as error:
                refusal = error
                raise _Refused() from error

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None:
                return  # whatever the app answers to a body cut short, the answer is the refusal
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, watched_receive, guarded_send)
        except Exception:
            if refusal is None:
                raise
        if refusal is not None and not started:
            await coded_response(Request(scope), refusal)(scope, receive, send)


def too_large(what: str, max_mb: float) -> HubError:
    return HubError(ErrorCode.PAYLOAD_TOO_LARGE, f"{what} exceeds MODA_MAX_UPLOAD_MB={max_mb:g}")
