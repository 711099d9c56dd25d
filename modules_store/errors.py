"""The one error root of MODA Hub, and the vocabulary of codes every layer answers with.

    CodedError(code, message)        every failure any layer reports on purpose
     ├── StoreError                  raised by the registry (this package)
     │    ├── NotFound               NOT_FOUND: no row / no artifact with that id
     │    ├── AlreadyExists          ALREADY_EXISTS: a unique key is taken (integrity errors land here)
     │    ├── Conflict               CONFLICT: the row exists but is in the wrong state (job transitions)
     │    ├── InvalidArgument        INVALID_ARGUMENT: the caller passed something malformed
     │    ├── CorruptArtifact        CORRUPT_ARTIFACT: a stored file no longer matches its sha256
     │    ├── Unavailable            UNAVAILABLE: the registry is missing, not the one opened, or unreadable
     │    └── StorageFull            INSUFFICIENT_STORAGE: the disk under the registry or the artifacts is full
     └── service.errors.HubError     raised by the service (jobs, serving, api)

The codes live here, in the lowest layer, so that one `except CodedError` catches every answer of
every layer and one table (service/api/errors.py) maps each code to an HTTP status. `code` is the
contract, the subclasses are a convenience for `except` clauses: nothing decides a status by class.
A database that fails a call is translated at the session boundary (sql_session.py): a full disk
to StorageFull, because its remedy is the operator's, any other operational failure (the server
away, a lock held past its timeout, a schema this code does not know) to Unavailable, so that
callers answer 503 and a CLI says one line. Other exceptions propagate unchanged: they are bugs.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code any layer answers with; the registry uses the first seven."""

    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CONFLICT = "CONFLICT"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    CORRUPT_ARTIFACT = "CORRUPT_ARTIFACT"
    UNAVAILABLE = "UNAVAILABLE"
    INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"
    INCOMPATIBLE_MODULES = "INCOMPATIBLE_MODULES"
    INVALID_WEIGHTS = "INVALID_WEIGHTS"
    INVALID_IMAGE = "INVALID_IMAGE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    OVERLOADED = "OVERLOADED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    DATASET_UNAVAILABLE = "DATASET_UNAVAILABLE"
    INTERNAL = "INTERNAL"


class CodedError(Exception):
    """A failure with a stable `code` (an `ErrorCode`, which is a `str`) that callers branch on."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class StoreError(CodedError):
    """A registry failure."""


class NotFound(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.NOT_FOUND, message)


class AlreadyExists(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.ALREADY_EXISTS, message)


class Conflict(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.CONFLICT, message)


class InvalidArgument(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_ARGUMENT, message)


class CorruptArtifact(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.CORRUPT_ARTIFACT, message)


class Unavailable(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


class StorageFull(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INSUFFICIENT_STORAGE, message)


DISK_FULL_ERRNOS = frozenset({28, 122})  # ENOSPC, EDQUOT
