"""Unpickle dataset batches without letting the file run code.

A pickle can name any importable callable (os.system, subprocess.Popen, ...) and have it called while
loading. CIFAR batches only need numpy's array reconstruction, so everything else is refused.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from service.moda.errors import DatasetUnavailable, InvalidInput

# (module, name) pairs an ndarray pickle references. numpy.core.* is how numpy 1.x (and the Python 2
# CIFAR files) spell it, numpy._core.* how numpy 2 does. _frombuffer appears only in protocol-5 pickles;
# it just wraps a buffer in an array, so allowing it adds no way to run code.
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def load_numpy_pickle(path: Path) -> Any:
    """Load `path` (bytes strings stay bytes, as in the Python 2 originals); InvalidInput on refusal
    or corruption, naming the file."""
    try:
        with path.open("rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except OSError as exc:
        raise DatasetUnavailable(f"cannot read {path}: {exc}") from exc
    except Exception as exc:
        # Corrupt pickles raise almost anything (EOFError, ValueError, TypeError, KeyError...).
        raise InvalidInput(f"{path} is not a valid dataset pickle: {exc}") from exc
