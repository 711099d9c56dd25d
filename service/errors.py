"""The one error type of the application.

    HubError(code, message)          raised by service.moda, service.jobs, service.serving, service.api
    modules_store.errors.StoreError  raised by the registry; carries a code from the same vocabulary

The API maps codes to HTTP statuses in one table (service/api/errors.py); nothing else decides a status.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A stable error code; service/api/errors.py maps each to one HTTP status."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CONFLICT = "CONFLICT"
    INCOMPATIBLE_MODULES = "INCOMPATIBLE_MODULES"
    INVALID_WEIGHTS = "INVALID_WEIGHTS"
    INVALID_IMAGE = "INVALID_IMAGE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    OVERLOADED = "OVERLOADED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"
    INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    DATASET_UNAVAILABLE = "DATASET_UNAVAILABLE"
    CORRUPT_ARTIFACT = "CORRUPT_ARTIFACT"
    INTERNAL = "INTERNAL"


class HubError(Exception):
    """An error with a stable code that callers (and HTTP clients) can branch on."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
