"""Serving stored artifacts over HTTP: verified bytes, ETag = sha256, conditional GETs."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from fastapi import Request, Response

from modules_store import ArtifactStore, CorruptArtifact, NotFound

ONNX_MEDIA_TYPE = "application/onnx"
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def artifact_response(
    request: Request, artifacts: ArtifactStore, sha256: str, filename: str, reread: Callable[[], object]
) -> Response:
    """The artifact `sha256` as a download; `reread` reads the row that names it again (see stored_bytes)."""
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    data = stored_bytes(artifacts, sha256, reread)  # verified: a corrupted file raises, it is never served
    headers["Content-Disposition"] = content_disposition(filename)
    return Response(data, media_type=ONNX_MEDIA_TYPE, headers=headers)


def stored_bytes(artifacts: ArtifactStore, sha256: str, reread: Callable[[], object]) -> bytes:
    """The artifact a registry row names, read since; `reread()` reads that row again, NOT_FOUND if gone.

    A deletion removes the row before the file: a file missing under a row that is gone too was
    deleted meanwhile (NOT_FOUND, as had the row been read a moment later); under a row still there,
    it is the server's loss, not a wrong id (CORRUPT_ARTIFACT).
    """
    try:
        return artifacts.get_bytes(sha256)
    except NotFound as error:
        reread()
        raise CorruptArtifact(f"artifact {sha256}, named by the registry, is missing from the store") from error


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of entity tags compared weakly (a `W/` prefix is ignored)."""
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)


def content_disposition(filename: str) -> str:
    """An attachment header safe for any name (labels are the user's text): an ASCII `filename` with
    everything else replaced, and the exact name percent-encoded in `filename*` (RFC 6266)."""
    plain = _UNSAFE_IN_FILENAME.sub("_", filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
