"""The one exception type of the registry.

    StoreError(code, message)        every failure the registry reports on purpose
     ├── NotFound                    NOT_FOUND: no row / no artifact with that id
     ├── AlreadyExists               ALREADY_EXISTS: a unique key is taken (integrity errors land here)
     ├── Conflict                    CONFLICT: the row exists but is in the wrong state (job transitions)
     ├── InvalidArgument             INVALID_ARGUMENT: the caller passed something malformed
     ├── CorruptArtifact             CORRUPT_ARTIFACT: a stored file no longer matches its sha256
     ├── Unavailable                 UNAVAILABLE: the registry is missing, or not the one this process opened
     └── StorageFull                 INSUFFICIENT_STORAGE: the disk under the registry or the artifacts is full

`code` is the contract, the subclasses are a convenience for `except` clauses: the service maps
`code` to an HTTP status in one table (service/api/errors.py) and never inspects the class.
Database-driver and OS exceptions that are not translated here propagate unchanged: they are
outages, not answers. A full disk is translated (StorageFull), because its remedy is the operator's.
"""

from __future__ import annotations

from enum import StrEnum


class StoreErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CONFLICT = "CONFLICT"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    CORRUPT_ARTIFACT = "CORRUPT_ARTIFACT"
    UNAVAILABLE = "UNAVAILABLE"
    INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"


class StoreError(Exception):
    """A registry failure with a stable `code` (a `StoreErrorCode`, which is a `str`)."""

    def __init__(self, code: StoreErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = StoreErrorCode(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFound(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(StoreErrorCode.NOT_FOUND, message)


class AlreadyExists(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(StoreErrorCode.ALREADY_EXISTS, message)


class Conflict(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(StoreErrorCode.CONFLICT, message)


class InvalidArgument(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(StoreErrorCode.INVALID_ARGUMENT, message)


class CorruptArtifact(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(StoreErrorCode.CORRUPT_ARTIFACT, message)


class Unavailable(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(StoreErrorCode.UNAVAILABLE, message)


class StorageFull(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(StoreErrorCode.INSUFFICIENT_STORAGE, message)


DISK_FULL_ERRNOS = frozenset({28, 122})  # ENOSPC, EDQUOT
