"""/v1/modules: one module per class of a model, each an ONNX classifier of one logit."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response

from service.api.deps import ArtifactsDep, Authorized, Cascade, DeleterDep, StoreDep
from service.api.downloads import artifact_response
from service.api.openapi_contract import NOT_MODIFIED, ONNX_DOWNLOAD, errors
from service.api.schemas import ModulePublic

router = APIRouter(prefix="/v1/modules", tags=["modules"])


@router.get("/{module_id}", response_model=ModulePublic, responses=errors(404))
def get_module(module_id: str, store: StoreDep) -> ModulePublic:
    return ModulePublic.of(store.get_module(module_id))


@router.delete(
    "/{module_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Authorized],
    responses=errors(404, 409, why={409: "in use: by compositions (unless cascade) or by a queued or running job"}),
)
def delete_module(module_id: str, deleter: DeleterDep, cascade: Cascade = False) -> Response:
    """Delete one module (e.g. one τ of a model's) and its files. Refused (409) while compositions use it,
    unless `cascade`, and while a queued or running job reads it."""
    deleter.module(module_id, cascade=cascade)
    return Response(status_code=204)


@router.get("/{module_id}/onnx", response_class=Response, responses=ONNX_DOWNLOAD | NOT_MODIFIED | errors(404))
def download_module(module_id: str, request: Request, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    module = store.get_module(module_id)
    filename = f"module-{module.label}-{module.id}.onnx"
    return artifact_response(request, artifacts, module.onnx_sha256, filename, partial(store.get_module, module.id))
