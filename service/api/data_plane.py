"""The inference endpoints as plain ASGI, in front of FastAPI: the data plane.

    POST /v1/compositions/{composition_id}/predict     JSON {"inputs": [...]} or image files
    POST /v1/predict                                   compose (or find) and predict in one call
    POST /v2/models/{name}[/versions/{version}]/infer  Open Inference Protocol, JSON or binary

FastAPI's per-request machinery (route search, dependency solving, exit stacks, five middleware
layers) costs about 0.4 ms of CPU per request on a 2-core server, eight times what the HTTP server
itself costs and ten times a LeNet inference. Everything else (registry, jobs, docs) is the control
plane and stays in FastAPI; these three answer here, with the same rules: the API key where the
route is protected, MODA_MAX_UPLOAD_MB, admission (429), the one error table, the request metrics.

A request reads its body on the event loop. Then its work (parse, check, run, encode) is one call
on an inference thread; or, while its composition is in memory and its decoding and encoding are
known to be quick, it runs on the loop and its batch is merged with the others waiting for the same
composition (service/serving/batching.py). The handlers here translate: a stored composition's
predictions are serving's (`Predictor`), a selection of modules' and V2 inference are the
application layer's (service/app/predictions.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import Services, check_api_key
from service.api.errors import response_for
from service.api.guards import BodyWatch, needs_key
from service.api.schemas import ComposePredictRequest
from service.api.telemetry import Telemetry
from service.app import predictions
from service.errors import ErrorCode, HubError
from service.serving.inputs import parse_json
from service.serving.predictor import MODEL_VERSION, Steps
from service.serving.v2 import HEADER_LENGTH

T = TypeVar("T")

JSON = "application/json"
MULTIPART = "multipart/form-data"


@dataclass(frozen=True)
class Reply:
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


class _ClientGone(Exception):
    """The client disconnected before its body arrived: there is nobody to answer."""


@dataclass(frozen=True)
class Call:
    """One request to a data-plane route: what its handler reads."""

    scope: Scope
    receive: Receive
    params: dict[str, str]
    services: Services

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    async def body(self) -> bytes:
        """The whole body (413 past MODA_MAX_UPLOAD_MB, 408 when it stalls: see BodyWatch)."""
        receive, chunks = self.watched_receive(), []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def watched_receive(self) -> Receive:
        """`receive` under BodyWatch, for code that reads the body itself (the multipart parser)."""
        settings = self.services.settings
        return BodyWatch(
            self.scope, self.receive, settings.max_upload_bytes, settings.max_upload_mb, settings.body_timeout_s
        )


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class DataRoute:
    template: str  # as OpenAPI and the request metrics name it
    handler: Handler
    protected: bool = False  # needs the API key whenever MODA_API_KEY is set

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template) + "$")


async def _serving_run(services: Services, composition_id: str, body: bytes, steps: Steps[T]) -> T:
    """The answer of `steps`, the serving of `body` by `composition_id`. On the event loop, its batch
    merged with others waiting (serving.batching), when its composition needs nothing but memory and
    its decoding and encoding are known to be quick; else all of it on an inference thread, timed."""
    predictor, inference, size = services.predictor, services.inference, len(body)
    if not predictor.in_memory(composition_id):
        return await inference.run(predictor.complete, steps)
    if inference.cheap(composition_id, size):
        return await services.batcher.run(composition_id, size, steps)
    return await inference.run_timed(composition_id, size, predictor.complete, steps)


async def predict(call: Call) -> Reply:
    """POST /v1/compositions/{composition_id}/predict"""
    services, cid = call.services, call.params["composition_id"]
    content_type = call.header(b"content-type") or ""
    if content_type.startswith(MULTIPART):
        request = Request(call.scope, call.watched_receive())
        async with request.form(max_files=services.settings.max_batch) as form:
            files: list[tuple[str, IO[bytes]]] = [
                (f.filename or "upload", f.file) for f in form.getlist("files") if isinstance(f, UploadFile)
            ]
            if not files:
                raise HubError(
                    ErrorCode.INVALID_ARGUMENT, "multipart predict requests carry images in the field 'files'"
                )
            return Reply(await services.inference.run(_predict_files, services, cid, files))
    if content_type.startswith(JSON) or not content_type:
        body = await call.body()
        return Reply(await _serving_run(services, cid, body, services.predictor.predict_json(cid, body)))
    raise HubError(
        ErrorCode.INVALID_ARGUMENT, f"unsupported content type {content_type!r}: send JSON or multipart images"
    )


def _predict_files(services: Services, cid: str, files: list[tuple[str, IO[bytes]]]) -> bytes:
    # Read on the inference thread, not on the event loop: a large upload is spooled to disk.
    return services.predictor.predict_images(cid, [(name, file.read()) for name, file in files])


async def predict_with_modules(call: Call) -> Reply:
    """POST /v1/predict"""
    body = await call.body()
    return Reply(await call.services.inference.run(_compose_and_predict, call.services, body))


def _compose_and_predict(services: Services, body: bytes) -> bytes:
    try:
        request = ComposePredictRequest.model_validate(parse_json(body))
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None
    return predictions.predict_with_modules(services.predictor, services.compositions, request.modules, request.inputs)


async def infer(call: Call) -> Reply:
    """POST /v2/models/{name}/infer (and /versions/{version}/infer)"""
    body = await call.body()
    services, version = call.services, call.params.get("version", MODEL_VERSION)
    header_length = call.header(HEADER_LENGTH.lower().encode())
    name = call.params["name"]
    steps = predictions.infer(services.predictor, name, version, body, header_length)
    payload, headers = await _serving_run(services, name, body, steps)
    content_type = headers.pop("Content-Type")
    return Reply(payload, content_type, tuple(headers.items()))


ROUTES = (
    DataRoute("/v1/compositions/{composition_id}/predict", predict),
    DataRoute("/v1/predict", predict_with_modules, protected=True),
    DataRoute("/v2/models/{name}/infer", infer),
    DataRoute("/v2/models/{name}/versions/{version}/infer", infer),
)


class DataPlane:
    """ASGI: the data-plane routes answered here, every other request passed to `app` (FastAPI)."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI, telemetry: Telemetry) -> None:
        self.app = app
        self.fastapi = fastapi  # whose state holds the services once its lifespan has opened them
        self.telemetry = telemetry
        self.routes = [(route, route.pattern) for route in ROUTES]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route, pattern in self.routes:
                match = pattern.match(scope["path"])
                if match is not None:
                    await self._serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, route: DataRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        services: Services = self.fastapi.state.services
        scope["app"] = self.fastapi  # as FastAPI would set it: Starlette's form parser then raises 400s, not 500s
        call = Call(scope, receive, params, services)
        try:
            if scope["method"] != "POST":
                raise StarletteHTTPException(405, headers={"Allow": "POST"})
            settings = services.settings
            if settings.api_key and needs_key(settings.auth, route.protected, scope["path"]):
                check_api_key(call.header(b"authorization") or "", settings.api_key)
            with services.admission.slot():
                reply = await route.handler(call)
        except _ClientGone:
            return
        except Exception as error:  # every error is answered as FastAPI's handlers answer it
            response = response_for(Request(scope), error)
            await response(scope, receive, send)
            self.telemetry.observe(scope["method"], route.template, started, response.status_code)
            return
        headers = [(b"content-type", reply.content_type.encode()), (b"content-length", str(len(reply.body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        self.telemetry.observe(scope["method"], route.template, started, 200)
