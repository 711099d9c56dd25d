"""The service's errors, and the translation of the ML core's plain Python errors into them.

    modules_store.errors.CodedError  the one root: a code (ErrorCode) and a message
     ├── StoreError                  raised by the registry
     └── HubError                    raised by service.jobs, service.serving, service.api

The ML core (service.moda) knows nothing of codes: it raises the plain errors of
service/moda/errors.py, which `coded` turns into HubErrors where the service calls it (job runs,
the API's error handlers). The API maps codes to HTTP statuses in one table (service/api/errors.py);
nothing else decides a status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from modules_store.errors import CodedError, ErrorCode
from service.moda.errors import CORE_ERRORS, DatasetUnavailable, ExportMismatch, InvalidInput, InvalidWeights


class HubError(CodedError):
    """A failure of the service with a stable code that callers (and HTTP clients) can branch on."""


# The most specific class first: InvalidWeights is an InvalidInput.
CORE_CODES: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (InvalidWeights, ErrorCode.INVALID_WEIGHTS),
    (InvalidInput, ErrorCode.INVALID_ARGUMENT),
    (DatasetUnavailable, ErrorCode.DATASET_UNAVAILABLE),
    (ExportMismatch, ErrorCode.INTERNAL),
)


def coded(error: Exception) -> HubError:
    """The HubError that says what the ML core's `error` (one of CORE_ERRORS) says, with the code of
    its class."""
    code = next(code for kind, code in CORE_CODES if isinstance(error, kind))
    return HubError(code, str(error))


@contextmanager
def core_errors_coded() -> Iterator[None]:
    """Raise the ML core's refusals inside this block as HubErrors (for code that branches on codes)."""
    try:
        yield
    except CORE_ERRORS as error:
        raise coded(error) from error


__all__ = ["CORE_ERRORS", "CodedError", "ErrorCode", "HubError", "coded", "core_errors_coded"]
