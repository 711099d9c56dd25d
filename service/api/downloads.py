"""Serving stored artifacts over HTTP: verified bytes, ETag = sha256, conditional GETs."""

from __future__ import annotations

from fastapi import Request, Response

from modules_store import ArtifactStore

ONNX_MEDIA_TYPE = "application/onnx"


def artifact_response(request: Request, artifacts: ArtifactStore, sha256: str, filename: str) -> Response:
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    data = artifacts.get_bytes(sha256)  # verified: a corrupted file raises, it is never served
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(data, media_type=ONNX_MEDIA_TYPE, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of entity tags compared weakly (a `W/` prefix is ignored)."""
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)
