"""decode_flat: V2 tensors as bytes or JSON, in every datatype and shape, validated like the rest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.errors import ErrorCode, HubError
from service.serving.inputs import decode_flat
from tests.serving.helpers import DIGITS, pixels


def test_bytes_flat_and_nested_json_and_all_shapes_agree() -> None:
    x = pixels(2, DIGITS)  # (2, 1, 8, 8) float32
    raw = x.astype("<f4").tobytes()
    cases: list[tuple[Any, list[int]]] = [
        (raw, [2, 1, 8, 8]),
        (raw, [2, 64]),
        (raw, [2, 8, 8]),
        (x.ravel().tolist(), [2, 1, 8, 8]),
        (x.tolist(), [2, 1, 8, 8]),  # nested, row-major
        (x.reshape(2, 64).tolist(), [2, 64]),
    ]
    for data, shape in cases:
        got = decode_flat(data, shape, "FP32", DIGITS, max_batch=2)
        assert got.shape == (2, 1, 8, 8) and got.dtype == np.float32
        np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("datatype", ["UINT8", "INT8", "INT16", "INT32", "INT64", "UINT16", "FP16", "FP64"])
def test_real_datatypes_are_converted_to_float32(datatype: str) -> None:
    values = np.arange(64).reshape(1, 64) % 17  # integers 0..16: exact in every type
    dtype = {"FP16": "<f2", "FP64": "<f8"}.get(datatype, datatype.lower())
    raw = values.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
    expected = values.reshape(1, 1, 8, 8).astype(np.float32)
    np.testing.assert_array_equal(decode_flat(raw, [1, 64], datatype, DIGITS, 1), expected)
    np.testing.assert_array_equal(decode_flat(values.tolist(), [1, 64], datatype, DIGITS, 1), expected)


def test_bytes_are_read_little_endian() -> None:
    little = np.full(64, 3.0, dtype="<f4").tobytes()
    big = np.full(64, 3.0, dtype=">f4").tobytes()  # 3.0 byte-swapped is a tiny denormal, still in range
    np.testing.assert_array_equal(decode_flat(little, [1, 64], "FP32", DIGITS, 1), np.full((1, 1, 8, 8), 3.0))
    swapped = decode_flat(big, [1, 64], "FP32", DIGITS, 1)
    assert 0.0 < swapped.max() < 1e-30


FLOATS = np.ones(128, dtype="<f4").tobytes()
REJECTIONS = [
    pytest.param(FLOATS, [2, 64], "BYTES", ["'BYTES' is not supported", "FP32"], id="bytes-type"),
    pytest.param(FLOATS, [2, 64], "BF16", ["'BF16' is not supported"], id="bf16"),
    pytest.param(FLOATS, [2, 64], "BOOL", ["'BOOL' is not supported"], id="bool-type"),
    pytest.param(FLOATS[:-4], [2, 64], "FP32", ["508 bytes", "needs 128 x 4 = 512 bytes"], id="short"),
    pytest.param(FLOATS, [2, 64], "FP64", ["512 bytes", "needs 128 x 8 = 1024"], id="itemsize"),
    pytest.param([1.0] * 127, [2, 64], "FP32", ["127 elements", "[2, 64] needs 128"], id="count"),
    pytest.param([[1.0] * 64, [1.0] * 63], [2, 64], "FP32", ["ragged"], id="ragged"),
    pytest.param([1.0] * 63 + ["1"], [1, 64], "FP32", ["'1' (str)"], id="string"),
    pytest.param([1.0] * 63 + [False], [1, 64], "FP32", ["False (bool)"], id="bool"),
    pytest.param([1.5] * 64, [1, 64], "INT32", ["INT32 must hold integers"], id="fraction-as-int"),
    pytest.param(FLOATS, [128], "FP32", ["[batch, ...sample]"], id="no-batch-axis"),
    pytest.param(FLOATS, [2, -1, 8, 8], "FP32", ["non-negative"], id="negative-dim"),
    pytest.param(FLOATS, [2, 64.0], "FP32", ["non-negative integers"], id="float-dim"),
    pytest.param(FLOATS, [2, 2, 32], "FP32", ["sample 0 has shape (2, 32)", "(1, 8, 8)"], id="sample-shape"),
    pytest.param(b"", [0, 64], "FP32", ["empty"], id="empty"),
    pytest.param(FLOATS * 3, [6, 64], "FP32", ["6 samples", "at most 4"], id="too-many"),
    pytest.param(
        np.concatenate([np.ones(64), np.full(64, 255.0)]).astype("<f4").tobytes(),
        [2, 64],
        "FP32",
        ["sample 1", "outside [0, 16]", "not normalised"],
        id="out-of-range",
    ),
    pytest.param(
        np.concatenate([np.ones(64), [np.inf] * 64]).astype("<f4").tobytes(),
        [2, 64],
        "FP32",
        ["sample 1 contains NaN or infinity"],
        id="inf",
    ),
]


@pytest.mark.parametrize(("data", "shape", "datatype", "fragments"), REJECTIONS)
def test_rejections(data: Any, shape: list[Any], datatype: str, fragments: list[str]) -> None:
    with pytest.raises(HubError) as info:
        decode_flat(data, shape, datatype, DIGITS, max_batch=4)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    for fragment in fragments:
        assert fragment in info.value.message


@pytest.mark.parametrize("dims", [5, 65, 100])
def test_shapes_of_more_dimensions_than_a_batch_has_are_refused_not_crashed(dims: int) -> None:
    # numpy itself refuses more than 64 dimensions at reshape (a ValueError, once a 500).
    shape = [1] * (dims - 1) + [64]
    for data in (b"\0" * 256, [0.0] * 64):
        with pytest.raises(HubError) as error:
            decode_flat(data, shape, "FP32", DIGITS, max_batch=4)
        assert error.value.code == ErrorCode.INVALID_ARGUMENT and "must be [batch, ...sample]" in error.value.message
        assert len(error.value.message) < 400  # the shape is not echoed whole


def test_binary_tensors_are_checked_in_place_and_copied_at_most_once() -> None:
    raw = np.full((2, 1, 8, 8), 3.0, dtype="<f4").tobytes()
    batch = decode_flat(memoryview(raw), [2, 1, 8, 8], "FP32", DIGITS, max_batch=4)
    assert batch.dtype == np.float32 and batch.shape == (2, 1, 8, 8) and (batch == 3.0).all()
    assert np.shares_memory(batch, np.frombuffer(raw, dtype="<f4"))  # FP32 little-endian: no copy at all
