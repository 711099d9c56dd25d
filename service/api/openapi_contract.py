"""The OpenAPI document as a contract: the error body and the statuses the server really answers
with, and the API key declared as service.api.guards checks it.

Routes declare the statuses of their own logic with `errors(...)`. What every operation inherits
from the middleware and the framework is written here, once, for every operation (those the data
plane answers included): 401 from the key gate, 408 and 413 from the body guard, 422 from request
validation (in our error body, replacing FastAPI's `{"detail": [...]}`, which is never sent), 503
when the registry is down, and 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from service.api.guards import OPEN_PATHS
from service.api.schemas import ErrorBody

REF = "#/components/schemas/{model}"
V1_ERROR = {"$ref": REF.format(model=ErrorBody.__name__)}
V2_ERROR = {"$ref": REF.format(model="V2Error")}  # the Open Inference Protocol's {"error": "..."}
BEARER = "bearer"
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
# Operations that never read the registry, so never answer 503 for it.
REGISTRY_FREE = {"/healthz", "/metrics", "/v2", "/v2/health/live"}

WHY: dict[int, str] = {
    304: "not modified: the file's sha256 matches the ETag sent in If-None-Match",
    400: "refused: the message names the field, id or file at fault; nothing was changed",
    401: "MODA_API_KEY is set and `Authorization: Bearer <key>` is missing or wrong",
    404: "no such resource: the message names the id",
    408: "the request body stalled mid-way for MODA_BODY_TIMEOUT_S",
    409: "in conflict with what the registry holds: the message says what",
    413: "the body is over MODA_MAX_UPLOAD_MB",
    422: "a parameter or the body does not validate: the message names every field at fault",
    429: "MODA_MAX_INFLIGHT inferences are running in this process: retry after `Retry-After` seconds",
    500: "the server failed (a bug, or a stored file damaged: CORRUPT_ARTIFACT); its log has the details",
    503: "the registry is unavailable; nothing was changed",
    507: "the server's storage is full; nothing was stored",
}
NOT_MODIFIED: dict[Any, dict[str, Any]] = {304: {"description": WHY[304]}}
ONNX_DOWNLOAD: dict[Any, dict[str, Any]] = {
    200: {
        "description": "the ONNX file (raw pixels in, normalisation inside the graph); ETag is its sha256",
        "content": {"application/onnx": {"schema": {"type": "string", "format": "binary"}}},
    }
}
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "MODA_API_KEY, sent as `Authorization: Bearer <key>`. Without MODA_API_KEY nothing is "
    "checked. With it, the operations that require it always need it (MODA_AUTH=mutations); with "
    "MODA_AUTH=all every operation but the probes and the docs does (those marked optional).",
}


def errors(*statuses: int, why: Mapping[int, str] | None = None) -> dict[Any, dict[str, Any]]:
    """`responses=` for a /v1 route: each status with the error body and why it is sent."""
    reasons = {**WHY, **(why or {})}
    return {status: {"model": ErrorBody, "description": reasons[status]} for status in statuses}


def make_honest(spec: dict[str, Any], protected: Iterable[tuple[str, str]]) -> None:
    """Complete `spec` in place: the error body, the security scheme and the inherited statuses.
    `protected`: (method, path template) of the operations that need the key whenever it is set."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    error_schema = ErrorBody.model_json_schema(ref_template=REF)
    schemas.update(error_schema.pop("$defs", {}))
    schemas[ErrorBody.__name__] = error_schema
    components.setdefault("securitySchemes", {})[BEARER] = SECURITY_SCHEME
    needing_key = {(method.lower(), path) for method, path in protected}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            _complete(path, operation, (method, path) in needing_key)


def _complete(path: str, operation: dict[str, Any], protected: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    error = V2_ERROR if path == "/v2" or path.startswith("/v2/") else V1_ERROR

    def add(status: int, why: str | None = None) -> None:
        content = {"application/json": {"schema": error}}
        responses.setdefault(str(status), {"description": why or WHY[status], "content": content})

    for status, response in responses.items():
        # FastAPI files a route's error models under the route's own media type (text/event-stream
        # for a stream), but errors are always answered as JSON.
        content = response.get("content") or {}
        if status[0] in "45" and content and "application/json" not in content:
            response["content"] = {"application/json": next(iter(content.values()))}
    if _is_fastapi_default(responses.get("422")):
        del responses["422"]
        if _validates(operation):
            add(422)
    if "requestBody" in operation:
        add(413)
        add(408)
    if protected:
        operation["security"] = [{BEARER: []}]
        add(401)
    elif path.startswith(OPEN_PATHS):
        operation["security"] = []
    else:
        operation["security"] = [{}, {BEARER: []}]
        add(401, "MODA_AUTH=all, MODA_API_KEY is set and `Authorization: Bearer <key>` is missing or wrong")
    if path not in REGISTRY_FREE:
        add(503)
    add(500)


def _is_fastapi_default(response: dict[str, Any] | None) -> bool:
    schema = ((response or {}).get("content") or {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")


def _validates(operation: dict[str, Any]) -> bool:
    """Whether request validation can refuse a call: it has a body, or a query parameter that is not
    any string (path segments are strings, always valid)."""
    return "requestBody" in operation or any(
        p.get("in") == "query" and not _any_string(p.get("schema", {})) for p in operation.get("parameters", [])
    )


def _any_string(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    constraints = {"minLength", "maxLength", "pattern", "enum", "const", "format"}
    return all(o.get("type") in ("string", "null") and not constraints & set(o) for o in options)
