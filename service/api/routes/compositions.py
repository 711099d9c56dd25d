"""/v1/compositions (create idempotently, inspect, download, predict) and /v1/predict (one call)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from service.api.deps import (
    ArtifactsDep,
    Authorized,
    CompositionsDep,
    DeleterDep,
    Offset,
    SettingsDep,
    StoreDep,
)
from service.api.downloads import artifact_response, content_disposition, stored_bytes
from service.api.openapi_contract import NOT_MODIFIED, ONNX_DOWNLOAD, errors
from service.api.schemas import (
    CompositionCreate,
    CompositionPreviewPublic,
    CompositionPublic,
    JobPublic,
    PagePublic,
    page_of,
)
from service.app.compositions import Pending
from service.jobs.inspection import CompositionPreview, preview_composition
from service.serving.triton_export import FORMATS, export_composition

router = APIRouter(tags=["compositions"])


@router.post(
    "/v1/compositions",
    response_model=CompositionPublic,
    status_code=201,
    responses={
        200: {"model": CompositionPublic, "description": "the composition existed already"},
        202: {"model": JobPublic, "description": "modules of several models: a calibrate job will make it"},
    }
    | errors(400, 404, 507),
    dependencies=[Authorized],
)
def create_composition(body: CompositionCreate, compositions: CompositionsDep) -> JSONResponse:
    """Compose modules into a smaller classifier (201), or return the existing one (200).

    Modules of one model are pruned out of it at once. Modules of several models run each model's
    pruned part once; their logits are calibrated by a `calibrate` job (202, its result names the
    composition; asked again while it is queued or running, the same job) unless `calibration` is
    'none'. The calibration data is part of the composition's identity."""
    outcome = compositions.request(body.modules, body.calibration, body.dataset, body.data_dir)
    if isinstance(outcome, Pending):
        headers = {"Location": f"/v1/jobs/{outcome.job.id}"}
        return JSONResponse(JobPublic.of(outcome.job).model_dump(mode="json"), status_code=202, headers=headers)
    payload = CompositionPublic.of(outcome.composition).model_dump(mode="json")
    return JSONResponse(payload, status_code=201 if outcome.created else 200)


@router.get("/v1/compositions", response_model=PagePublic[CompositionPublic])
def list_compositions(
    store: StoreDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict:
    return page_of(store.list_compositions(offset=offset, limit=limit), CompositionPublic.of)


@router.get("/v1/compositions/preview", response_model=CompositionPreviewPublic, responses=errors(400, 404))
def preview(
    modules: Annotated[list[str], Query(min_length=1, description="module ids")], compositions: CompositionsDep
) -> CompositionPreview:
    """What composing these modules would give, before building it: classes, parameters, MACs, size
    ratio, and the composition itself when it exists. Nothing is stored."""
    return preview_composition(compositions.planner, compositions.builder, modules)


@router.get("/v1/compositions/{composition_id}", response_model=CompositionPublic, responses=errors(404))
def get_composition(composition_id: str, store: StoreDep) -> CompositionPublic:
    return CompositionPublic.of(store.get_composition(composition_id))


@router.get(
    "/v1/compositions/{composition_id}/onnx",
    response_class=Response,
    responses=ONNX_DOWNLOAD | NOT_MODIFIED | errors(404),
)
def download_composition(composition_id: str, request: Request, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    composition = store.get_composition(composition_id)
    filename = f"composition-{composition.id}.onnx"
    return artifact_response(
        request, artifacts, composition.onnx_sha256, filename, partial(store.get_composition, composition.id)
    )


@router.get(
    "/v1/compositions/{composition_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}, "description": "a model-repository archive"}}
    | errors(400, 404, why={400: "an unknown format"}),
)
def export(
    composition_id: str,
    store: StoreDep,
    artifacts: ArtifactsDep,
    settings: SettingsDep,
    export_format: Annotated[
        str, Query(alias="format", description=f"one of {', '.join(FORMATS)}: a Triton/KServe model repository")
    ] = "triton",
) -> Response:
    """The composition packed for the servers people already run: `triton` is a tar.gz model
    repository (`<id>/config.pbtxt`, `<id>/labels.txt`, `<id>/1/model.onnx`) that Triton and
    KServe's Triton runtime load as it is."""
    composition = store.get_composition(composition_id)
    read = partial(stored_bytes, artifacts, reread=partial(store.get_composition, composition.id))
    exported = export_composition(composition, read, export_format, settings.max_batch)
    headers = {"Content-Disposition": content_disposition(exported.filename)}
    return Response(exported.data, media_type=exported.media_type, headers=headers)


@router.delete(
    "/v1/compositions/{composition_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Authorized],
    responses=errors(404, 409, why={409: "a queued or running job reads it"}),
)
def delete_composition(composition_id: str, deleter: DeleterDep) -> Response:
    """Delete the composition (its modules stay) and its ONNX file; every API process answers 404 for it
    within a second."""
    deleter.composition(composition_id)
    return Response(status_code=204)
