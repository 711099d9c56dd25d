"""/v1/modules: one module per class of a model, each an ONNX classifier of one logit."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.deps import ArtifactsDep, StoreDep
from service.api.downloads import artifact_response
from service.api.openapi_contract import NOT_MODIFIED, ONNX_DOWNLOAD, errors
from service.api.schemas import ModulePublic

router = APIRouter(prefix="/v1/modules", tags=["modules"])


@router.get("/{module_id}", response_model=ModulePublic, responses=errors(404))
def get_module(module_id: str, store: StoreDep) -> ModulePublic:
    return ModulePublic.of(store.get_module(module_id))


@router.get(
    "/{module_id}/onnx", response_class=Response, responses=ONNX_DOWNLOAD | NOT_MODIFIED | errors(404)
)
def download_module(module_id: str, request: Request, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    module = store.get_module(module_id)
    return artifact_response(
        request, artifacts, module.onnx_sha256, f"module-{module.label}-{module.id}.onnx"
    )
