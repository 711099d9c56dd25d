"""The errors the ML core raises on purpose: plain Python errors, no codes, no HTTP.

Each says in its message what is wrong and how to fix it. The service turns them into coded errors
where it calls the core (service/errors.py); any other exception out of the core is a bug.
"""

from __future__ import annotations


class InvalidInput(ValueError):
    """Data, parameters or a file the caller gave cannot be used as they are."""


class InvalidWeights(InvalidInput):
    """A weights file that cannot be read, or that does not fit the architecture it is meant for."""


class DatasetUnavailable(OSError):
    """A dataset's files are missing or cannot be read."""


class ExportMismatch(RuntimeError):
    """An exported ONNX graph does not compute what the PyTorch network computes."""


CORE_ERRORS: tuple[type[Exception], ...] = (InvalidInput, DatasetUnavailable, ExportMismatch)
