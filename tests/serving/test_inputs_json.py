"""decode_json_body: a JSON body's values counted before parsing, numbers-only bodies to numpy at once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.errors import ErrorCode, HubError
from service.serving.inputs import decode_json_body, decode_tensor
from tests.serving.helpers import DIGITS as DIGITS_SPEC


def body(inputs: object) -> bytes:
    return json.dumps({"inputs": inputs}).encode()


def refused(raw: bytes, max_batch: int = 8) -> str:
    with pytest.raises(HubError) as error:
        decode_json_body(raw, DIGITS_SPEC, max_batch)
    assert error.value.code == ErrorCode.INVALID_ARGUMENT
    return error.value.message


@pytest.mark.parametrize(
    "inputs",
    [
        [[float(v % 17) for v in range(64)]] * 3,  # flat floats
        [[v % 17 for v in range(64)]] * 2,  # flat integers
        [[[v % 17 for v in range(8)] for _ in range(8)]],  # (H, W)
        [[[[1.5] * 8] * 8]],  # (C, H, W)
        [[0] * 64, [[2] * 8] * 8],  # mixed layouts
    ],
)
def test_numbers_only_bodies_decode_as_the_checked_path_does(inputs: list) -> None:
    fast = decode_json_body(body(inputs), DIGITS_SPEC, 8)
    assert fast.dtype == np.float32 and fast.shape == (len(inputs), 1, 8, 8)
    np.testing.assert_array_equal(fast, decode_tensor(inputs, DIGITS_SPEC, 8))


def test_too_many_values_are_refused_before_the_body_is_parsed() -> None:
    # Not even valid JSON past the commas: refused for its size, so it was never parsed.
    raw = b'{"inputs": [[' + b"0," * (12 * 64) + b"oops"
    assert "more than 512 values" in refused(raw, max_batch=8)


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ([[True] * 64], "bool"),
        ([["1"] * 64], "str"),
        ([[1.0] * 64, [1.0] * 10], "sample 1 has shape (10,)"),
        ([[1.0] * 63, [1.0] * 65], "sample 0 has shape (63,)"),  # two samples' worth of numbers, ragged
        ([[1.0] * 63 + [None]], "None"),
        ([[17] * 64], "outside [0, 16]"),
        ([[-1] * 64], "outside [0, 16]"),
        ([[10**400] * 64], "too large"),
    ],
)
def test_anything_but_pixels_gets_the_checked_paths_message(inputs: list, fragment: str) -> None:
    assert fragment in refused(body(inputs))


def test_nan_and_bodies_that_are_not_json_say_so() -> None:
    assert "NaN or infinity" in refused(b'{"inputs": [[' + b"1," * 63 + b"NaN]]}")
    assert "not valid JSON" in refused(b'{"inputs": [[1, 2')
    assert '{"inputs"' in refused(b"[1, 2, 3]")
