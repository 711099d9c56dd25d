"""The predict endpoints' one step off the event loop: everything after the body is read.

Each route reads its body on the event loop (that is only moving bytes), then makes one call in
the thread pool that parses, checks, runs and encodes. A request thus costs one thread hand-off,
and no decoding of a large body ever blocks other requests.
"""

from __future__ import annotations

from typing import IO

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from modules_store import composition_id
from service.api.deps import Services
from service.api.schemas import ComposePredictRequest
from service.errors import ErrorCode, HubError
from service.jobs.composer import PRUNE
from service.serving.inputs import decode_tensor, parse_json

JSON = "application/json"
MULTIPART = "multipart/form-data"


async def predict_body(request: Request, services: Services, composition_id: str) -> bytes:
    """The /v1 predict response for a JSON body `{"inputs": [...]}` or image files in the field `files`."""
    content_type = request.headers.get("content-type", "")
    predictor = services.predictor
    if content_type.startswith(MULTIPART):
        async with request.form(max_files=services.settings.max_batch) as form:
            files = [(f.filename or "upload", f.file) for f in form.getlist("files") if hasattr(f, "file")]
            if not files:
                raise HubError(
                    ErrorCode.INVALID_ARGUMENT, "multipart predict requests carry images in the field 'files'"
                )
            return await run_in_threadpool(_predict_files, services, composition_id, files)
    if content_type.startswith(JSON) or not content_type:
        return await run_in_threadpool(predictor.predict_json, composition_id, await request.body())
    raise HubError(
        ErrorCode.INVALID_ARGUMENT,
        f"unsupported content type {content_type!r}: send JSON or multipart images",
    )


def _predict_files(services: Services, composition_id: str, files: list[tuple[str, IO[bytes]]]) -> bytes:
    # Read here, not on the event loop: a large upload is spooled to disk.
    return services.predictor.predict_images(composition_id, [(name, file.read()) for name, file in files])


def predict_with_modules(services: Services, body: bytes) -> bytes:
    """/v1/predict: compose the modules (or find their composition) and predict, in one call."""
    document = parse_json(body)
    try:
        request = ComposePredictRequest.model_validate(document)
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None
    served = services.predictor.compositions.cached(composition_id(request.modules, PRUNE))
    if served is None:
        composition, _ = services.composer.compose(request.modules)
        served = services.predictor.compositions.remember(composition)
    batch = decode_tensor(request.inputs, served.spec, services.settings.max_batch)
    return services.predictor.predictions(served, batch)
