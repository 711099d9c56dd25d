"""Checks on an upload's labels before its weights are loaded."""

from __future__ import annotations

import time

import pytest

from service.errors import ErrorCode, HubError
from service.jobs.ingest import load_uploaded
from service.moda.data.digits import load_digits


def test_many_distinct_labels_are_refused_at_once() -> None:
    labels = [f"class-{i}" for i in range(100_000)]  # a 1 MB form field, once 91 s of CPU
    started = time.perf_counter()
    with pytest.raises(HubError) as error:
        load_uploaded(load_digits(), "mlp", labels, b"")
    assert error.value.code == ErrorCode.INVALID_ARGUMENT and "100000 labels given" in error.value.message
    assert time.perf_counter() - started < 5.0  # generous: linear is milliseconds


def test_repeated_labels_are_named() -> None:
    labels = ["a", "b", "a", *map(str, range(6)), "b"]
    with pytest.raises(HubError) as error:
        load_uploaded(load_digits(), "mlp", labels, b"")
    assert "labels must be distinct; repeated: a, b" in error.value.message
