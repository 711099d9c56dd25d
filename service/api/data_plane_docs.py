"""The data plane's routes in the OpenAPI document, beside the ones FastAPI describes from its routes;
then the whole document made honest (service.api.openapi_contract).

The data plane (service.api.data_plane) answers outside FastAPI, so FastAPI cannot see it; its
request and response bodies are the same pydantic models, written into `components.schemas` here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.api.data_plane import ROUTES
from service.api.openapi_contract import V1_ERROR, make_honest
from service.api.schemas import ComposePredictRequest, PredictRequest, PredictResponse
from service.serving.v2_models import InferRequestBody, InferResponseBody, V2Error

REF = "#/components/schemas/{model}"
MODELS: list[type[BaseModel]] = [
    PredictRequest,
    ComposePredictRequest,
    PredictResponse,
    InferRequestBody,
    InferResponseBody,
    V2Error,
]
V1_ERRORS = {
    "400": "the inputs are not a batch this composition takes (the message says which sample and why)",
    "404": "no such composition or module",
    "429": "MODA_MAX_INFLIGHT inferences are running in this process: retry after `Retry-After` seconds",
}
V2_ERRORS = {
    "400": "the request is not a valid inference request for this model",
    "404": "no such model (composition id) or version",
    "429": "MODA_MAX_INFLIGHT inferences are running in this process: retry after `Retry-After` seconds",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(described: dict[str, str], schema: dict[str, Any]) -> dict[str, Any]:
    return {status: {"description": why, "content": _json(schema)} for status, why in described.items()}


def _operation(
    tag: str,
    operation_id: str,
    summary: str,
    description: str,
    body: dict[str, Any],
    responses: dict[str, Any],
    parameters: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "post": {
            "tags": [tag],
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "parameters": list(parameters),
            "requestBody": {"required": True, "content": body},
            "responses": responses,
        }
    }


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def _paths() -> dict[str, Any]:
    files = {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}
    images = {"multipart/form-data": {"schema": {"type": "object", "properties": files, "required": ["files"]}}}
    predicted = {"200": {"description": "one prediction per sample", "content": _json(_ref(PredictResponse))}}
    not_a_request = {"description": "the body is not a compose-and-predict request", "content": _json(V1_ERROR)}
    outputs = {"200": {"description": "the requested outputs", "content": _json(_ref(InferResponseBody))}}
    return {
        "/v1/compositions/{composition_id}/predict": _operation(
            "compositions",
            "predict",
            "Predict",
            'Classify a batch: JSON `{"inputs": [...]}` of raw pixels, or image files in the field `files`.',
            _json(_ref(PredictRequest)) | images,
            predicted | _errors(V1_ERRORS, V1_ERROR),
            [_path_parameter("composition_id", "the composition's id")],
        ),
        "/v1/predict": _operation(
            "compositions",
            "compose_and_predict",
            "Compose And Predict",
            "Compose the modules (cached by their ids) and classify `inputs` in one call.",
            _json(_ref(ComposePredictRequest)),
            predicted | {"422": not_a_request} | _errors(V1_ERRORS, V1_ERROR),
        ),
        "/v2/models/{name}/infer": _operation(
            "open inference protocol (v2)",
            "infer",
            "Infer",
            "Input `input` FP32 (N, C, H, W) or (N, C·H·W) raw pixels; outputs `logits`, `probabilities`. "
            "With the binary tensor extension the JSON is followed by raw tensor bytes and "
            "`Inference-Header-Content-Length` gives the JSON's length.",
            _json(_ref(InferRequestBody)),
            outputs | _errors(V2_ERRORS, _ref(V2Error)),
            [_path_parameter("name", "a composition id")],
        ),
    }


def documented(app: FastAPI, protected: list[APIRoute]) -> dict[str, Any]:
    """The app's OpenAPI document, the data plane included (built once, then kept). `protected`:
    the routes that declare the API key (service.api.guards.protected_routes)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _, definitions = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
        schema["paths"].update(_paths())
        needing_key = [(method, route.path) for route in protected for method in route.methods or ()]
        needing_key += [("POST", route.template) for route in ROUTES if route.protected]
        make_honest(schema, needing_key)
        app.openapi_schema = schema
    return app.openapi_schema
