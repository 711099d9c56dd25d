"""The Open Inference Protocol (KServe / Triton V2) REST endpoints; every composition is a model.

Requests are JSON, or JSON followed by raw tensor bytes (Triton's binary tensor data extension),
so standard V2 clients work unchanged. Errors are `{"error": "..."}`.
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.api.app_info import NAME, VERSION
from service.api.deps import Services, ServicesDep
from service.api.routes.health import readiness
from service.errors import ErrorCode, HubError
from service.serving.predictor import MODEL_VERSION
from service.serving.v2 import HEADER_LENGTH, model_metadata, parse_header_length
from service.serving.v2_models import InferRequestBody, InferResponseBody, ModelMetadata, V2Error

ERRORS = {400: {"model": V2Error}, 404: {"model": V2Error}}

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"], responses=ERRORS)


def _check_version(name: str, version: str) -> None:
    """A composition has exactly one version; asking for another is asking for a model that is not here."""
    if version != MODEL_VERSION:
        raise HubError(
            ErrorCode.NOT_FOUND,
            f"model {name!r} has no version {version!r}; its only version is {MODEL_VERSION!r}",
        )


@router.get("")
def server_metadata() -> dict:
    return {"name": NAME, "version": VERSION, "extensions": ["binary_tensor_data"]}


@router.get("/health/live")
async def live() -> dict:
    return {"live": True}


@router.get("/health/ready")
def ready(services: ServicesDep) -> JSONResponse:
    ok, _ = readiness(services)
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


@router.get("/models/{name}", response_model=ModelMetadata)
@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, include_in_schema=False)
def metadata(name: str, services: ServicesDep, version: str = MODEL_VERSION) -> dict:
    served = services.predictor.compositions.get(name)
    _check_version(name, version)
    return model_metadata(served.id, MODEL_VERSION, served.spec, len(served.composition.classes))


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready", include_in_schema=False)
def model_ready(name: str, services: ServicesDep, version: str = MODEL_VERSION) -> dict:
    services.predictor.compositions.get(name)  # 404 for an unknown model
    _check_version(name, version)
    return {"name": name, "ready": True}


@router.post(
    "/models/{name}/infer",
    response_model=InferResponseBody,
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": InferRequestBody.model_json_schema()}}}},
)
@router.post("/models/{name}/versions/{version}/infer", include_in_schema=False)
async def infer(
    name: str,
    request: Request,
    services: ServicesDep,
    version: str = MODEL_VERSION,
    header_length: str | None = Header(default=None, alias=HEADER_LENGTH),
) -> Response:
    """Input `input` FP32 (N, C, H, W) or (N, C·H·W) raw pixels; outputs `logits`, `probabilities`."""
    with services.admission.slot():
        body = await request.body()
        payload, headers = await run_in_threadpool(_infer, services, name, version, body, header_length)
    return Response(payload, headers=headers, media_type=headers.get("Content-Type"))


def _infer(
    services: Services, name: str, version: str, body: bytes, header_length: str | None
) -> tuple[bytes, dict[str, str]]:
    served = services.predictor.compositions.get(name)
    _check_version(name, version)
    return services.predictor.infer(served, body, parse_header_length(header_length))
