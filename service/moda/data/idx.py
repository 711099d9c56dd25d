"""Parse the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Layout: two zero bytes, a type code, the number of dimensions; one big-endian uint32 per dimension;
then the values, big-endian, row-major. A ".gz" file is the same bytes gzipped.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from service.moda.errors import DatasetUnavailable, InvalidInput

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path) -> np.ndarray:
    """The array stored in `path`; INVALID_ARGUMENT naming the file when it is not well-formed IDX."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise _invalid(path, f"only {len(raw)} bytes, too short for an IDX header")
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code not in _DTYPES:
        raise _invalid(path, f"bad magic number 0x{raw[:4].hex()}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise _invalid(path, f"truncated header: {ndim} dimensions need {header_size} bytes, got {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header_size])
    dtype = _DTYPES[type_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual < expected:
        raise _invalid(path, f"truncated: dimensions {dims} need {expected} data bytes, got {actual}")
    if actual > expected:
        # Extra bytes mean the header and payload disagree; trusting either would silently misread.
        raise _invalid(path, f"{actual - expected} unexpected trailing bytes after {dims} values")
    # frombuffer is a read-only view of `raw`; callers convert to float32 anyway, which copies.
    return np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(dims)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _invalid(path, f"corrupt gzip stream: {exc}") from exc
    except OSError as exc:
        raise DatasetUnavailable(f"cannot read {path}: {exc}") from exc


def _invalid(path: Path, reason: str) -> InvalidInput:
    return InvalidInput(f"{path} is not a valid IDX file: {reason}")
