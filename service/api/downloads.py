"""Serving stored artifacts over HTTP: verified bytes, ETag = sha256, conditional GETs."""

from __future__ import annotations

from fastapi import Request, Response

from modules_store import ArtifactStore

ONNX_MEDIA_TYPE = "application/onnx"


def artifact_response(request: Request, artifacts: ArtifactStore, sha256: str, filename: str) -> Response:
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    data = artifacts.get_bytes(sha256)  # verified: a corrupted file raises, it is never served
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(data, media_type=ONNX_MEDIA_TYPE, headers=headers)
