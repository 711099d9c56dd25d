"""numeric_inputs: plain-number JSON bodies to numpy in one layout, None for everything else."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from service.serving.numeric_json import numeric_inputs, skeleton

FLAT, GRID, CHW = (64,), (8, 8), (1, 8, 8)
LAYOUTS = (CHW, FLAT, GRID)


def body(inputs: object, **dumps: object) -> bytes:
    return json.dumps({"inputs": inputs}, **dumps).encode()  # type: ignore[arg-type]


def test_skeleton_is_the_array_with_its_numbers_deleted() -> None:
    assert skeleton((2, 3)) == b"[[,,],[,,]]"
    assert skeleton((1,)) == b"[]"
    values = np.zeros((3, 2, 4)).tolist()
    assert skeleton((3, 2, 4)) == json.dumps(values, separators=(",", ":")).replace("0.0", "").encode()


@pytest.mark.parametrize("dumps", [{}, {"separators": (",", ":")}, {"indent": 2}])
@pytest.mark.parametrize("shape", [(3, *FLAT), (2, *GRID), (1, *CHW)])
def test_every_number_is_read_exactly_as_json_reads_it(shape: tuple[int, ...], dumps: dict) -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 16, size=shape)
    values.flat[::5] = np.round(values.flat[::5])  # integers among the floats
    values.flat[1::7] = values.flat[1::7] * 1e-9  # exponents in the text
    inputs = values.tolist()
    inputs[0] = json.loads(json.dumps(inputs[0]).replace("0.0,", "0,"))  # bare integers too
    decoded = numeric_inputs(body(inputs, **dumps), LAYOUTS, max_batch=8)
    assert decoded is not None and decoded.shape == shape
    np.testing.assert_array_equal(decoded, np.array(json.loads(body(inputs))["inputs"], dtype=np.float64))


@pytest.mark.parametrize(
    "raw",
    [
        body([[1.0] * 63, [1.0] * 65]),  # ragged, though 128 numbers make two samples
        body([[1.0] * 64, [[1.0] * 8] * 8]),  # mixed layouts
        body([[1.0] * 32]),  # no layout
        body([[1.0] * 64] * 9),  # beyond max_batch
        body([[True] * 64]),
        body([["1"] * 64]),
        b'{"inputs": [[' + b"1," * 63 + b"NaN]]}",
        b'{"inputs": [[' + b"1," * 63 + b"1e999]]}",
        b'{"inputs": [[' + b"1," * 63 + b"123456789012345678901234567890]]}",
        b'{"inputs": [[' + b"1," * 63 + b"1 2]]}",
        b'{"inputs": [[' + b"1," * 63 + b"-]]}",
        b'{"inputs": [[' + b"1," * 64 + b"]]}",
        b'{"inputs": [' + b"1," * 63 + b"1]}",  # a bare sample, not a batch
        b'{"inputs": [[' + b"1," * 63 + b'1]], "id": 1}',
        b'{"inputs": [[' + b"1," * 63 + b"1]]",
        b"[[" + b"1," * 63 + b"1]]",
        b"",
    ],
)
def test_anything_else_is_left_to_the_checked_path(raw: bytes) -> None:
    assert numeric_inputs(raw, LAYOUTS, max_batch=8) is None


def test_a_refused_body_leaves_the_parser_ready_for_the_next() -> None:
    good = body([[2.0] * 64])
    for bad in (b'{"inputs": [[' + b"1," * 63 + b"1e999]]}", body([["x"] * 64]), b'{"inputs": [[1,2]'):
        assert numeric_inputs(bad, LAYOUTS, max_batch=8) is None
        decoded = numeric_inputs(good, LAYOUTS, max_batch=8)
        assert decoded is not None and (decoded == 2.0).all()


def test_threads_parse_at_once_without_mixing_their_bodies() -> None:
    results: dict[int, bool] = {}

    def parse(value: int) -> None:
        raw = body([[float(value)] * 64] * 4)
        results[value] = all(
            (decoded := numeric_inputs(raw, LAYOUTS, max_batch=8)) is not None and (decoded == value).all()
            for _ in range(200)
        )

    threads = [threading.Thread(target=parse, args=(v,)) for v in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {v: True for v in range(4)}
