"""The Open Inference Protocol (KServe / Triton V2) REST endpoints; every composition is a model.

Requests are JSON, or JSON followed by raw tensor bytes (Triton's binary tensor data extension),
so standard V2 clients work unchanged. Errors are `{"error": "..."}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.app_info import NAME, VERSION
from service.api.deps import ServicesDep
from service.api.routes.health import readiness
from service.serving.predictor import MODEL_VERSION
from service.serving.v2 import model_metadata
from service.serving.v2_models import ModelMetadata, V2Error

ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": V2Error}, 404: {"model": V2Error}}

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"], responses=ERRORS)


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
    served = services.predictor.model(name, version)
    return model_metadata(served.id, MODEL_VERSION, served.spec, len(served.composition.classes))


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready", include_in_schema=False)
def model_ready(name: str, services: ServicesDep, version: str = MODEL_VERSION) -> dict:
    services.predictor.model(name, version)  # 404 for an unknown model or version
    return {"name": name, "ready": True}
