"""The Open Inference Protocol (KServe / Triton V2) REST endpoints; every composition is a model.

Requests are JSON, or JSON followed by raw tensor bytes (Triton's binary tensor data extension),
so standard V2 clients work unchanged. Errors are `{"error": "..."}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from service.api.app_info import NAME, VERSION
from service.api.deps import ServicesDep
from service.api.routes.health import readiness
from service.serving.predictor import MODEL_VERSION
from service.serving.triton_config import model_config
from service.serving.v2 import OUTPUT_NAMES, model_metadata
from service.serving.v2_models import (
    ModelConfig,
    ModelMetadata,
    RepositoryIndexEntry,
    RepositoryIndexRequest,
    StatisticsResponse,
    V2Error,
)

# Each route documents the V2 errors it can send; health and server metadata send none.
UNKNOWN_MODEL: dict[int | str, dict[str, Any]] = {404: {"model": V2Error, "description": "no such model or version"}}
BAD_REQUEST: dict[int | str, dict[str, Any]] = {400: {"model": V2Error, "description": "the body is not valid"}}

EXTENSIONS = ["binary_tensor_data", "classification", "model_repository", "model_configuration", "statistics"]
_INDEX_PAGE = 1000

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])


@router.get("")
def server_metadata() -> dict:
    return {"name": NAME, "version": VERSION, "extensions": EXTENSIONS}


@router.get("/health/live")
async def live() -> dict:
    return {"live": True}


@router.get("/health/ready", responses={503: {"description": 'not ready: `{"ready": false}`'}})
def ready(services: ServicesDep) -> JSONResponse:
    ok, _ = readiness(services)
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


@router.post("/repository/index", response_model=list[RepositoryIndexEntry], responses=BAD_REQUEST)
def repository_index(
    services: ServicesDep, body: Annotated[RepositoryIndexRequest | None, Body()] = None
) -> list[dict]:
    """Every composition, as Triton lists its model repository: all are ready (served on demand), so
    `{"ready": true}` lists the same."""
    index: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = services.store.list_compositions(offset=offset, limit=_INDEX_PAGE)
        index += [{"name": c.id, "version": MODEL_VERSION, "state": "READY"} for c in page.items]
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return index


@router.get("/models/stats", response_model=StatisticsResponse)
def all_statistics(services: ServicesDep) -> dict:
    """Statistics of every model this API process has answered inferences for (Triton's shape)."""
    statistics = services.predictor.statistics
    return {"model_stats": [statistics.report(name, MODEL_VERSION) for name in statistics.names()]}


@router.get("/models/{name}", response_model=ModelMetadata, response_model_exclude_none=True, responses=UNKNOWN_MODEL)
@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    response_model_exclude_none=True,
    include_in_schema=False,
)
def metadata(name: str, services: ServicesDep, version: str = MODEL_VERSION) -> dict:
    served = services.predictor.model(name, version)
    return model_metadata(served.id, MODEL_VERSION, served.spec, served.labels)


@router.get(
    "/models/{name}/config", response_model=ModelConfig, response_model_exclude_none=True, responses=UNKNOWN_MODEL
)
@router.get(
    "/models/{name}/versions/{version}/config",
    response_model=ModelConfig,
    response_model_exclude_none=True,
    include_in_schema=False,
)
def config(name: str, services: ServicesDep, version: str = MODEL_VERSION) -> dict:
    """The model's Triton model configuration, as `config.pbtxt` of its Triton export says (as JSON)."""
    served = services.predictor.model(name, version)
    return model_config(served.id, served.spec, len(served.labels), OUTPUT_NAMES, services.settings.max_batch)


@router.get("/models/{name}/stats", response_model=StatisticsResponse, responses=UNKNOWN_MODEL)
@router.get("/models/{name}/versions/{version}/stats", response_model=StatisticsResponse, include_in_schema=False)
def statistics(name: str, services: ServicesDep, version: str = MODEL_VERSION) -> dict:
    """This API process's inference statistics of the model, in Triton's shape (counts, cumulative ns)."""
    served = services.predictor.model(name, version)
    return {"model_stats": [services.predictor.statistics.report(served.id, MODEL_VERSION)]}


@router.get("/models/{name}/ready", responses=UNKNOWN_MODEL)
@router.get("/models/{name}/versions/{version}/ready", include_in_schema=False)
def model_ready(name: str, services: ServicesDep, version: str = MODEL_VERSION) -> dict:
    services.predictor.model(name, version)  # 404 for an unknown model or version
    return {"name": name, "ready": True}
