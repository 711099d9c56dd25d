"""JSON bodies of plain numbers, straight into numpy: the fast door of /v1 predict.

A batch of 64 MNIST images is 50,176 JSON numbers. Parsing them into Python floats (orjson) and
gathering those into an array costs more than running LeNet5 on the batch; simdjson writes them
into one buffer of doubles without making a Python object per number (4x faster here).

simdjson flattens nested arrays whatever their lengths, so the nesting is checked apart from the
values: with the numbers and whitespace deleted, the body must read exactly as a regular batch in
one of the sample layouts would (`{"inputs":[[,,...],...]}`). Any body that does not (mixed layouts,
other members, strings, NaN, numbers beyond float64) gets None, and the checked path decides it.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np
import simdjson

# Characters a JSON number or the whitespace between tokens is made of.
_NUMBER_AND_SPACE = b"0123456789.eE+- \t\r\n"
_FRAME = (b'{"inputs":', b"}")
# A simdjson parser holds its buffers for the next document (allocating them per request costs
# more than the parse): one per thread, since a parser is not thread-safe.
_parsers = threading.local()


@functools.lru_cache(maxsize=64)  # a few sample layouts per input spec in use
def skeleton(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a JSON array of `shape` with its numbers deleted."""
    text = b""  # a number's place
    for size in reversed(shape):
        text = b"[" + b",".join([text] * size) + b"]"
    return text


def _batch_shape(body_skeleton: bytes, sample_shapes: tuple[tuple[int, ...], ...]) -> tuple[int, ...] | None:
    """(N, *sample) of the layout whose regular batch `body_skeleton` is, or None."""
    for sample in sample_shapes:
        one = skeleton(sample)
        # "[" + N samples joined by "," + "]" is 2 + N * len(one) + N - 1 bytes long.
        n, rest = divmod(len(body_skeleton) - 1, len(one) + 1)
        if n > 0 and rest == 0 and body_skeleton == b"[" + (one + b",") * (n - 1) + one + b"]":
            return (n, *sample)
    return None


def numeric_inputs(body: bytes, sample_shapes: tuple[tuple[int, ...], ...], max_batch: int) -> np.ndarray | None:
    """The float64 batch (N, *sample) of a body `{"inputs": [...]}` holding only numbers in one of
    `sample_shapes`, or None for any other body (then the checked path parses it and says what is wrong)."""
    stripped = body.translate(None, _NUMBER_AND_SPACE)
    if not (stripped.startswith(_FRAME[0]) and stripped.endswith(_FRAME[1])):
        return None
    shape = _batch_shape(stripped[len(_FRAME[0]) : -len(_FRAME[1])], sample_shapes)
    if shape is None or shape[0] > max_batch:
        return None
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    document = inputs = None
    try:
        document = parser.parse(body)
        inputs = document["inputs"] if isinstance(document, simdjson.Object) else None
        if not isinstance(inputs, simdjson.Array):
            return None
        values = np.frombuffer(inputs.as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError, KeyError):
        return None  # not JSON after all, a number beyond float64 (BIGINT), ...: the checked path says so
    finally:
        document = inputs = None  # the parser refuses a new document while a view of the last one lives
    return values.reshape(shape) if values.size == math.prod(shape) else None
