"""/v1/models: registered models, their modules, and uploads of models trained elsewhere."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from service.api.deps import (
    ArtifactsDep,
    Authorized,
    Cascade,
    CompositionsDep,
    DeleterDep,
    ExecutorDep,
    Offset,
    SettingsDep,
    StoreDep,
)
from service.api.downloads import artifact_response
from service.api.openapi_contract import NOT_MODIFIED, ONNX_DOWNLOAD, errors
from service.api.schemas import JobPublic, ModelPublic, ModuleOverlapPublic, ModulePublic, PagePublic, page_of
from service.app.uploads import Upload, ingest_upload
from service.errors import ErrorCode, HubError
from service.jobs.inspection import ModuleOverlap, module_overlap
from service.moda.decompose import DEFAULT_TAU

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=PagePublic[ModelPublic])
def list_models(
    store: StoreDep,
    name: str | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict:
    return page_of(store.list_models(offset=offset, limit=limit, name=name), ModelPublic.of)


@router.get("/{model_id}", response_model=ModelPublic, responses=errors(404))
def get_model(model_id: str, store: StoreDep) -> ModelPublic:
    return ModelPublic.of(store.get_model(model_id))


@router.delete(
    "/{model_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Authorized],
    responses=errors(404, 409, why={409: "in use: by compositions (unless cascade) or by a queued or running job"}),
)
def delete_model(model_id: str, deleter: DeleterDep, cascade: Cascade = False) -> Response:
    """Delete the model, its modules and the files no longer used. Refused (409) while compositions use
    its modules, unless `cascade`, and while a queued or running job reads it."""
    deleter.model(model_id, cascade=cascade)
    return Response(status_code=204)


@router.get("/{model_id}/onnx", response_class=Response, responses=ONNX_DOWNLOAD | NOT_MODIFIED | errors(404))
def download_model(model_id: str, request: Request, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """The whole model as ONNX (raw pixels in, every class's logit out), as its modules are served."""
    model = store.get_model(model_id)
    sha256 = model.metrics.get("onnx_sha256")
    if not isinstance(sha256, str):
        raise HubError(ErrorCode.NOT_FOUND, f"model {model_id} has no ONNX file on record")
    filename = f"model-{model.name}-v{model.version}.onnx"
    return artifact_response(request, artifacts, sha256, filename, partial(store.get_model, model.id))


@router.get("/{model_id}/modules", response_model=PagePublic[ModulePublic], responses=errors(404))
def list_model_modules(
    model_id: str,
    store: StoreDep,
    tau: float | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    return page_of(store.list_modules(model_id, tau=tau, offset=offset, limit=limit), ModulePublic.of)


@router.get("/{model_id}/overlap", response_model=ModuleOverlapPublic, responses=errors(400, 404))
def module_overlap_matrix(
    model_id: str, store: StoreDep, compositions: CompositionsDep, tau: float | None = None
) -> ModuleOverlap:
    """How much every pair of the model's modules at `tau` (default: its first τ) shares: the overlap matrix."""
    return module_overlap(store, compositions.builder, store.get_model(model_id), tau)


def _labels(raw: str | None) -> list[str] | None:
    """Labels as a JSON list or comma-separated."""
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = [part.strip() for part in raw.split(",")]
    if not isinstance(parsed, list) or not all(isinstance(x, str) and x for x in parsed):
        raise HubError(ErrorCode.INVALID_ARGUMENT, "labels must be a JSON list of strings or comma-separated")
    return parsed


async def one_weights_file(request: Request) -> None:
    """FastAPI would keep the last of several parts named `file`: refuse the upload instead of guessing.
    The form is the one FastAPI parsed already (Starlette caches it on the request)."""
    parts = len((await request.form()).getlist("file"))
    if parts > 1:
        raise HubError(ErrorCode.INVALID_ARGUMENT, f"the upload has {parts} parts named 'file': send one weights file")


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    dependencies=[Authorized, Depends(one_weights_file)],
    responses=errors(400, 507, why={400: "the weights do not fit the architecture, or the data is missing"}),
)
def upload_model(
    store: StoreDep,
    artifacts: ArtifactsDep,
    executor: ExecutorDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description=".safetensors, or a PyTorch state_dict (.pt, loaded weights-only)")],
    arch: Annotated[str, Form(description="mlp | lenet5 | vgg16 | resnet18 | mobilenet")],
    dataset: Annotated[str, Form(description="the data the model takes; modules are decomposed on it")],
    labels: Annotated[str | None, Form(description="class labels (JSON list or comma-separated)")] = None,
    data_dir: Annotated[str | None, Form(description="the dataset's directory below MODA_DATASETS_DIR")] = None,
    name: Annotated[str | None, Form(description="model name; default <dataset>-<arch>")] = None,
    # The ingest job's default.
    tau: Annotated[float, Form(gt=0.0, le=1.0, description="τ to modularize at")] = DEFAULT_TAU,
) -> JobPublic:
    """Ingest a trained model: the weights are checked against the architecture now (a 4xx if they do
    not fit), stored, and an `ingest` job registers and modularizes the model."""
    upload = Upload(
        weights=file.file.read(settings.max_upload_bytes + 1),  # one byte more tells a file too large
        filename=file.filename or "",
        arch=arch,
        dataset=dataset,
        labels=_labels(labels),
        data_dir=data_dir,
        name=name,
        tau=tau,
    )
    return JobPublic.of(ingest_upload(upload, store, artifacts, executor, settings))
