"""Errors as JSON with a stable code; the one place that maps codes to HTTP statuses.

/v1/...  {"error": {"code": "NOT_FOUND", "message": "..."}}
/v2/...  {"error": "..."}          (the Open Inference Protocol's error shape)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import CORE_ERRORS, CodedError, ErrorCode, coded
from service.serving.admission import RETRY_AFTER_S
from service.validation_messages import describe_validation_errors

log = logging.getLogger(__name__)

STATUS: dict[str, int] = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.INVALID_WEIGHTS: 400,
    ErrorCode.INVALID_IMAGE: 400,
    ErrorCode.INCOMPATIBLE_MODULES: 400,
    ErrorCode.DATASET_UNAVAILABLE: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.OVERLOADED: 429,
    ErrorCode.CORRUPT_ARTIFACT: 500,  # our fault, but named: the file is refused, never served
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INSUFFICIENT_STORAGE: 507,
}
# Framework-raised HTTP errors (unknown route, wrong method) get a code too.
HTTP_CODES = {
    400: ErrorCode.INVALID_ARGUMENT,
    401: ErrorCode.UNAUTHENTICATED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_ARGUMENT,
    408: ErrorCode.REQUEST_TIMEOUT,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.OVERLOADED,
}
# Headers a status always carries: how to authenticate, when to come back.
STATUS_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 429: {"Retry-After": str(RETRY_AFTER_S)}}


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    headers = STATUS_HEADERS.get(status)
    if request.url.path.startswith("/v2"):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return JSONResponse({"error": {"code": str(code), "message": message}}, status_code=status, headers=headers)


# What a caller reads of a server-side failure; the message itself (paths, hosts) goes to the log.
SERVER_SIDE = {
    ErrorCode.INSUFFICIENT_STORAGE: "the server's storage is full; nothing was stored; retry once space is freed",
    ErrorCode.UNAVAILABLE: "the registry is unavailable; nothing was changed; the server log says why",
    ErrorCode.CORRUPT_ARTIFACT: "a stored file is damaged or missing and was not served; the server log says which",
    ErrorCode.INTERNAL: "the server failed; its log has the details",
}


def coded_response(request: Request, error: CodedError) -> JSONResponse:
    """The answer to a coded error (HubError, StoreError): its code's status (STATUS) and its
    message, or for a failure of the server's own (5xx) a message that names no path or host of it."""
    code = error.code
    status = STATUS.get(code, 500)
    message = error.message
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, error)
        message = SERVER_SIDE.get(code, SERVER_SIDE[ErrorCode.INTERNAL])
    return error_response(request, status, code, message)


def _json_invalid(error: RequestValidationError) -> str | None:
    """FastAPI's report of a body that does not parse ("49: JSON decode error") said like the
    endpoints that parse their own bodies say it: with the decoder's reason, line and column."""
    for e in error.errors():
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "json_invalid" and len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int):
            reason = str((e.get("ctx") or {}).get("error", "JSON decode error"))
            if isinstance(error.body, str):
                return f"the body is not valid JSON: {json.JSONDecodeError(reason, error.body, loc[1])}"
            return f"the body is not valid JSON at character {loc[1]}: {reason}"
    return None


def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
    message = _json_invalid(error) or describe_validation_errors(error.errors())
    return error_response(request, 422, ErrorCode.INVALID_ARGUMENT, message)


def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(error.status_code, ErrorCode.INVALID_ARGUMENT)
    response = error_response(request, error.status_code, code, str(error.detail))
    response.headers.update(error.headers or {})  # e.g. Allow on a 405
    return response


def _core(request: Request, error: Exception) -> JSONResponse:
    """The ML core's refusals (service/moda/errors.py) answered by the code of their class."""
    return coded_response(request, coded(error))


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # exc_info=error, not log.exception: this sync handler runs in a worker thread, outside the
    # `except` block that caught the error, where log.exception would log no traceback at all.
    log.error("%s %s crashed", request.method, request.url.path, exc_info=error)
    return error_response(request, 500, ErrorCode.INTERNAL, f"internal error: {type(error).__name__}")


HANDLERS: list[tuple[type[Exception], Callable[[Request, Any], JSONResponse]]] = [
    (CodedError, coded_response),
    *((kind, _core) for kind in CORE_ERRORS),
    (RequestValidationError, _validation),
    (StarletteHTTPException, _http),
    (Exception, _unexpected),
]


def install_error_handlers(app: FastAPI) -> None:
    for kind, handler in HANDLERS:
        app.add_exception_handler(kind, handler)


def response_for(request: Request, error: Exception) -> JSONResponse:
    """The answer FastAPI's handlers give to `error`, for code that runs outside FastAPI."""
    return next(handler(request, error) for kind, handler in HANDLERS if isinstance(error, kind))
