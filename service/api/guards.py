"""Checks that must run before a route reads the request body: the API key and the body size.

FastAPI parses (and spools) a route's body before it solves the route's dependencies, so a check
made only in a dependency comes too late: an unauthenticated client could make the server read a
whole upload, and get a 422 for a malformed body instead of its 401. These ASGI middlewares run
first. Routes still declare `dependencies=[Authorized]`: that declaration is what the gate reads
(`protected_routes`).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.routing import APIRoute
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


class ApiKeyGate:
    """401 for requests to `protected` routes when the key is missing or wrong."""

    def __init__(self, app: ASGIApp, protected: list[APIRoute], api_key: str | None) -> None:
        self.app = app
        self.protected = protected
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.api_key and self._protected(scope):
            request = Request(scope)
            try:
                check_api_key(request.headers.get("authorization", ""), self.api_key)
            except HubError as error:
                await coded_response(request, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _protected(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] == Match.FULL for route in self.protected)


class _TooLarge(Exception):
    """Raised into the app when a streamed body passes the limit; the app's answer is discarded."""


class BodySizeLimit:
    """413 for request bodies over `max_bytes`: at once when Content-Length says so, and also for
    bodies without one (chunked transfer encoding) as soon as the bytes received pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_mb: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_mb = max_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(request, f"request body of {int(length)} bytes", receive, send)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app answers to a body cut short, the answer is 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            what = f"a streamed request body of over {self.max_bytes} bytes"
            await self._refuse(request, what, receive, send)

    async def _refuse(self, request: Request, what: str, receive: Receive, send: Send) -> None:
        await coded_response(request, too_large(what, self.max_mb))(request.scope, receive, send)


def too_large(what: str, max_mb: float) -> HubError:
    return HubError(ErrorCode.PAYLOAD_TOO_LARGE, f"{what} exceeds MODA_MAX_UPLOAD_MB={max_mb:g}")
