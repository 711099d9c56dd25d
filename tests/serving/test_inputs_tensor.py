"""decode_tensor: every accepted layout gives the same batch; every rejection names the sample and why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.errors import ErrorCode, HubError
from service.serving.inputs import decode_tensor
from tests.serving.helpers import DIGITS, RGB, pixels

DIGIT_LAYOUTS = "(1, 8, 8), (8, 8) or flat (64,)"


def test_every_layout_gives_the_same_batch() -> None:
    x = pixels(3, DIGITS)  # (3, 1, 8, 8)
    expected = x.astype(np.float32)
    layouts: list[Any] = [
        x.tolist(),  # (C, H, W) samples
        x[:, 0].tolist(),  # (H, W) samples, one channel
        x.reshape(3, 64).tolist(),  # flat samples
        [x[0].tolist(), x[1, 0].tolist(), x[2].ravel().tolist()],  # mixed within one batch
        tuple(x.reshape(3, 64).tolist()),
        x,
        x.astype(np.float64).reshape(3, 64),
        x[:, 0],
    ]
    for values in layouts:
        got = decode_tensor(values, DIGITS, max_batch=3)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)


def test_integers_and_the_range_bounds_are_accepted() -> None:
    sample = [0] * 63 + [16]
    got = decode_tensor([sample], DIGITS, max_batch=1)
    assert got.shape == (1, 1, 8, 8)
    assert got[0, 0, 7, 7] == 16.0 and got.sum() == 16.0


def test_rgb_layouts() -> None:
    x = pixels(2, RGB)  # (2, 3, 4, 5)
    np.testing.assert_array_equal(decode_tensor(x.tolist(), RGB, 2), x)
    np.testing.assert_array_equal(decode_tensor(x.reshape(2, 60).tolist(), RGB, 2), x)
    with pytest.raises(HubError) as info:  # (H, W) is only a layout for one channel
        decode_tensor(x[:, 0].tolist(), RGB, 2)
    assert "sample 0 has shape (4, 5)" in info.value.message
    assert "(3, 4, 5) or flat (60,)" in info.value.message


def _ok() -> list[float]:
    return [1.0] * 64


def _with(index: int, value: Any) -> list[Any]:
    sample: list[Any] = _ok()
    sample[index] = value
    return sample


REJECTIONS = [
    pytest.param([_ok(), [[1, 2], [3]]], ["sample 1", "ragged", DIGIT_LAYOUTS], id="ragged"),
    pytest.param([_ok(), _ok(), [1.0] * 63], ["sample 2 has shape (63,)", DIGIT_LAYOUTS], id="wrong-size"),
    pytest.param([[[1.0] * 8] * 7], ["sample 0 has shape (7, 8)"], id="wrong-rows"),
    pytest.param([_with(5, "a")], ["sample 0", "'a' (str)", "must be numbers"], id="string"),
    pytest.param([_ok(), _with(0, None)], ["sample 1", "None (NoneType)"], id="none"),
    pytest.param([_with(3, True)], ["sample 0", "True (bool)"], id="bool"),
    pytest.param([[True] * 64], ["sample 0", "True (bool)"], id="all-bools"),
    pytest.param([_ok(), _with(9, {"v": 1})], ["sample 1", "(dict)"], id="dict"),
    pytest.param([_ok(), _with(1, float("nan"))], ["sample 1 contains NaN or infinity"], id="nan"),
    pytest.param([_with(1, float("inf")), _ok()], ["sample 0 contains NaN or infinity"], id="inf"),
    pytest.param([_with(2, 10**400)], ["sample 0", "too large"], id="huge-int"),
    pytest.param(
        [_ok(), _ok(), _with(0, -0.5)],
        ["sample 2", "[-0.5, 1]", "outside [0, 16]", "raw pixels on the 0..16 scale, not normalised"],
        id="negative",
    ),
    pytest.param([_with(0, 16.5)], ["sample 0", "outside [0, 16]"], id="above-max"),
    pytest.param([], ["empty"], id="empty"),
    pytest.param({"input": _ok()}, ["expected a batch", "dict"], id="not-a-list"),
    pytest.param(3.0, ["expected a batch", "float"], id="scalar"),
    pytest.param([3.0], ["sample 0 has shape ()"], id="scalar-sample"),
    pytest.param(["abc"], ["sample 0", "'abc' (str)"], id="string-sample"),
    pytest.param(np.ones((2, 64), dtype=bool), ["dtype bool"], id="numpy-bool"),
    pytest.param(np.full((2, 65), 1.0), ["sample 0 has shape (65,)", DIGIT_LAYOUTS], id="numpy-shape"),
    pytest.param(np.array(1.0), ["scalar"], id="numpy-scalar"),
    pytest.param(np.stack([np.ones(64), np.full(64, np.nan)]), ["sample 1 contains NaN"], id="numpy-nan"),
    pytest.param(np.array([_ok(), _with(7, "x")], dtype=object), ["sample 1", "'x' (str)"], id="numpy-object"),
]


@pytest.mark.parametrize(("values", "fragments"), REJECTIONS)
def test_rejections_name_the_sample_and_the_reason(values: Any, fragments: list[str]) -> None:
    with pytest.raises(HubError) as info:
        decode_tensor(values, DIGITS, max_batch=4)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    for fragment in fragments:
        assert fragment in info.value.message


def test_batches_beyond_max_batch_are_rejected_before_decoding() -> None:
    too_many: list[Any] = [_ok(), _ok(), "never looked at"]
    with pytest.raises(HubError) as info:
        decode_tensor(too_many, DIGITS, max_batch=2)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    assert "3 samples" in info.value.message and "at most 2" in info.value.message
    with pytest.raises(HubError, match="at most 2"):
        decode_tensor(np.ones((3, 64)), DIGITS, max_batch=2)
