"""Running a stored composition on a decoded batch: the step /v1 predict and /v2 infer share."""

from __future__ import annotations

import numpy as np
from fastapi import Request

from modules_store import Composition
from service.api.deps import Services
from service.errors import ErrorCode, HubError
from service.moda.spec import InputSpec
from service.serving.inputs import decode_images, decode_tensor

JSON = "application/json"
MULTIPART = "multipart/form-data"


def spec_of(composition: Composition) -> InputSpec:
    return InputSpec.from_dict(composition.input_spec)


def logits_of(services: Services, composition: Composition, batch: np.ndarray) -> np.ndarray:
    return services.sessions.run(composition.onnx_sha256, batch)  # (N, K)


async def decode_request_inputs(request: Request, services: Services, spec: InputSpec) -> np.ndarray:
    """A JSON body `{"inputs": [...]}` or multipart image files (field `files`) -> (N, C, H, W)."""
    content_type = request.headers.get("content-type", "")
    limit = services.settings.max_batch
    if content_type.startswith(MULTIPART):
        form = await request.form(max_files=limit)
        files = [(f.filename or "upload", await f.read()) for f in form.getlist("files") if hasattr(f, "read")]
        if not files:
            raise HubError(ErrorCode.INVALID_ARGUMENT, "multipart predict requests carry images in the field 'files'")
        return decode_images(files, spec, limit)
    if content_type.startswith(JSON) or not content_type:
        try:
            body = await request.json()
        except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than json can parse
            raise HubError(ErrorCode.INVALID_ARGUMENT, f"the body is not valid JSON: {error}") from error
        if not isinstance(body, dict) or "inputs" not in body:
            raise HubError(ErrorCode.INVALID_ARGUMENT, 'the JSON body must be {"inputs": [sample, ...]}')
        return decode_tensor(body["inputs"], spec, limit)
    raise HubError(
        ErrorCode.INVALID_ARGUMENT,
        f"unsupported content type {content_type!r}: send JSON or multipart images",
    )
