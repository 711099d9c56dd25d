"""Content-addressed artifact storage: the interface every backend keeps.

An artifact (weights, masks, ONNX graphs) is named by the sha256 of its bytes, so a name can never
point at other content: a backend writes atomically and verifies on read, and a file that no
longer matches its name is reported as CORRUPT_ARTIFACT, never handed out.
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from modules_store.errors import InvalidArgument

CHUNK_SIZE = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredArtifact:
    sha256: str
    size: int  # bytes
    modified: float  # when it was written, seconds since the epoch


@dataclass(frozen=True)
class PartialWrite:
    """A write's temporary file, not yet moved to its content address: a write in progress, or one
    whose writer crashed (then nothing ever finishes or removes it)."""

    name: str  # the backend's name for it
    size: int  # bytes
    modified: float  # when it was last written to, seconds since the epoch


def is_sha256(value: object) -> bool:
    """Whether `value` is 64 lowercase hex characters."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def check_sha256(sha256: str) -> str:
    """`sha256` if it is 64 lowercase hex characters; INVALID_ARGUMENT otherwise."""
    if not is_sha256(sha256):
        raise InvalidArgument(f"not a sha256 (64 lowercase hex characters): {sha256!r}")
    return sha256


def sha256_of_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def read_chunks(path: str | os.PathLike[str]) -> Iterable[bytes]:
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk


class ArtifactStore(ABC):
    """Blobs addressed by their sha256. Backends: LocalArtifactStore (file://); s3:// can follow.

    Every method taking a `sha256` raises INVALID_ARGUMENT for a malformed one and NOT_FOUND when
    no artifact has it.
    """

    @abstractmethod
    def put_bytes(self, data: bytes) -> str:
        """Store `data`; returns its sha256. Idempotent: storing the same bytes again is a no-op
        (and repairs a stored copy that was corrupted)."""

    @abstractmethod
    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store the file at `path`, streaming it (never whole in memory); returns its sha256."""

    @abstractmethod
    def get_bytes(self, sha256: str) -> bytes:
        """The artifact's bytes, verified against `sha256` on every call; CORRUPT_ARTIFACT if they differ."""

    @abstractmethod
    def local_path(self, sha256: str) -> Path:
        """A local file holding the artifact, verified (CORRUPT_ARTIFACT if not), for consumers that
        want a path (ONNX Runtime). Read it, never write it. Backends may cache the verification."""

    @abstractmethod
    def delete(self, sha256: str) -> bool:
        """Remove the artifact; False when it was not stored. Only for artifacts the registry no
        longer names (RegistryStore deletions report them): content is shared by address. A writer
        may be storing the same bytes meanwhile: reclaim() is the removal that is safe from that."""

    @abstractmethod
    def writing(self) -> AbstractContextManager[ArtifactStore]:
        """This store, seen by one writer: what its puts store (or find stored) stays, whatever
        reclaim() is asked meanwhile, until the block ends. A writer names what it stores in the
        registry before the block ends. Use the view from one thread."""

    @abstractmethod
    def reclaim(self, sha256: str, still_named: Callable[[], bool]) -> bool:
        """Remove an artifact the registry named no more, unless a writer holds it (writing()) or
        `still_named()`, asked when no writer can take hold of it any more; True when removed.

        Content is shared by address: a writer that stores the same bytes as an artifact being
        deleted finds the file and keeps it, then names it; removing the file in between would
        leave its row naming nothing.
        """

    @abstractmethod
    def stored(self) -> Iterator[StoredArtifact]:
        """Every artifact stored, in no particular order (for garbage collection)."""

    @abstractmethod
    def partial_writes(self) -> Iterator[PartialWrite]:
        """The temporary files of writes not (yet) finished, in no particular order (for garbage
        collection: a young one may be a write in progress)."""

    @abstractmethod
    def delete_partial_write(self, name: str) -> bool:
        """Remove the temporary file `name` (as partial_writes() names it); False when it is gone."""

    @abstractmethod
    def holds_any(self) -> bool:
        """Whether anything is stored at all (a registry made anew beside it would orphan it)."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether the artifact is stored (not verified: a cheap check)."""

    @abstractmethod
    def ping(self) -> None:
        """Return if the store is usable; raise OSError saying why if not."""
