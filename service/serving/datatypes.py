"""The Open Inference Protocol's tensor datatypes and their little-endian numpy equivalents.

decode_flat (service.serving.inputs) can read any real-valued datatype below and convert it to
float32 (the only type the graphs accept). The V2 endpoints accept FP32 only, as Triton accepts only
its config's datatype (service.serving.v2), so that clients behave the same on both. BOOL, BYTES and
BF16 carry no pixel values (or, for BF16, have no portable numpy type) and are never read.
"""

from __future__ import annotations

import numpy as np

# The wire format is little-endian whatever the host is, hence the explicit "<".
NUMPY_DTYPES: dict[str, np.dtype] = {
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
}
_DATATYPES: dict[tuple[str, int], str] = {(dt.kind, dt.itemsize): name for name, dt in NUMPY_DTYPES.items()}


def numpy_dtype(datatype: str) -> np.dtype | None:
    """The wire dtype of a V2 `datatype`, or None when it is not a supported input type."""
    return NUMPY_DTYPES.get(datatype)


def v2_datatype(dtype: np.dtype) -> str:
    """The V2 name of a numpy dtype (for outputs); ValueError for types the protocol cannot carry."""
    try:
        return _DATATYPES[(dtype.kind, dtype.itemsize)]
    except KeyError:
        raise ValueError(f"no Open Inference Protocol datatype for numpy {dtype}") from None
