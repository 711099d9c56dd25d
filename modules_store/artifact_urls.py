"""Choosing an artifact backend by URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modules_store.artifacts import ArtifactStore
from modules_store.errors import InvalidArgument
from modules_store.local_artifacts import LocalArtifactStore

SUPPORTED_ARTIFACT_URLS = "file:///ABSOLUTE/PATH or a plain directory path"


def _local(url: str) -> ArtifactStore:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidArgument(f"file:// URLs name a local directory, not host {parts.netloc!r}")
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        raise InvalidArgument(f"file:// URLs need an absolute path (file:///srv/artifacts), got {url!r}")
    return LocalArtifactStore(path)


# scheme -> backend. An object-store backend registers here ("s3": S3ArtifactStore.from_url).
_BACKENDS: dict[str, Callable[[str], ArtifactStore]] = {"file": _local}


def open_artifact_store(url: str) -> ArtifactStore:
    """The artifact store at `url`: file:///abs/path or a plain path. Other schemes -> INVALID_ARGUMENT."""
    if not url:
        raise InvalidArgument(f"empty artifact store URL; supported: {SUPPORTED_ARTIFACT_URLS}")
    if "://" not in url:
        return LocalArtifactStore(url)
    scheme = urlsplit(url).scheme.lower()
    backend = _BACKENDS.get(scheme)
    if backend is None:
        raise InvalidArgument(f"unsupported artifact store URL scheme {scheme!r}; supported: {SUPPORTED_ARTIFACT_URLS}")
    return backend(url)
