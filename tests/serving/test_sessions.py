"""SessionCache: correct logits, LRU order, counters, one load per artifact under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pytest

from modules_store.errors import NotFound
from service.errors import ErrorCode, HubError
from service.moda.onnx_export import onnx_session
from service.serving.sessions import SessionCache
from tests.serving.helpers import DIGITS, ArtifactDir, linear_onnx, pixels, reference_logits


def test_run_matches_a_direct_session_and_the_math(artifacts: ArtifactDir) -> None:
    data, weight, bias = linear_onnx(DIGITS, 4)
    sha = artifacts.put(data)
    cache = SessionCache(artifacts.open_path, capacity=2)
    x = pixels(5, DIGITS)

    got = cache.run(sha, x)
    (direct,) = onnx_session(data).run(["logits"], {"input": x})

    assert got.shape == (5, 4) and got.dtype == np.float32
    np.testing.assert_array_equal(got, direct)
    np.testing.assert_allclose(got, reference_logits(x, weight, bias), rtol=1e-5, atol=1e-5)
    # Sessions are shared: a second run reuses the first one's session.
    np.testing.assert_array_equal(cache.run(sha, x[:2]), got[:2])
    assert (cache.misses, cache.hits) == (1, 1)


def test_lru_evicts_the_least_recently_used(artifacts: ArtifactDir) -> None:
    a, b, c = (artifacts.put(linear_onnx(DIGITS, 3, seed=s)[0]) for s in range(3))
    cache = SessionCache(artifacts.open_path, capacity=2)

    cache.get(a)
    cache.get(b)
    cache.get(a)  # a is now the most recently used, so b goes first
    cache.get(c)
    assert a in cache and c in cache and b not in cache
    assert (cache.hits, cache.misses, cache.evictions, len(cache)) == (1, 3, 1, 2)

    cache.get(b)  # reloaded; a (used before c) is now the oldest
    assert b in cache and c in cache and a not in cache
    assert (cache.hits, cache.misses, cache.evictions) == (1, 4, 2)
    assert artifacts.calls == [a, b, c, b]


def test_a_session_is_created_once_under_16_concurrent_askers(artifacts: ArtifactDir) -> None:
    sha = artifacts.put(linear_onnx(DIGITS, 3)[0])
    artifacts.delay_s = 0.2
    cache = SessionCache(artifacts.open_path, capacity=4)
    start = threading.Barrier(16)

    def ask() -> ort.InferenceSession:
        start.wait()
        return cache.get(sha)

    with ThreadPoolExecutor(16) as pool:
        sessions = list(pool.map(lambda _: ask(), range(16)))

    assert artifacts.calls == [sha]
    assert len({id(s) for s in sessions}) == 1
    assert (cache.misses, cache.hits, len(cache)) == (1, 15, 1)


def test_a_failed_load_reaches_every_waiter_and_is_not_cached(artifacts: ArtifactDir) -> None:
    sha = artifacts.put(linear_onnx(DIGITS, 3)[0])
    artifacts.delay_s = 0.2
    artifacts.fail_with = lambda key: NotFound(f"artifact {key} not found")
    cache = SessionCache(artifacts.open_path, capacity=4)
    start = threading.Barrier(4)

    def ask() -> BaseException | None:
        start.wait()
        try:
            cache.get(sha)
        except HubError as exc:
            return exc
        return None

    with ThreadPoolExecutor(4) as pool:
        errors = list(pool.map(lambda _: ask(), range(4)))
    # The registry named the file, so its absence is the store's loss (500), not a wrong id (404).
    assert all(
        isinstance(e, HubError) and e.code == ErrorCode.CORRUPT_ARTIFACT and "missing from the store" in e.message
        for e in errors
    )
    assert len(artifacts.calls) == 1 and len(cache) == 0

    artifacts.fail_with = None
    artifacts.delay_s = 0.0
    assert cache.run(sha, pixels(1, DIGITS)).shape == (1, 3)
    assert len(artifacts.calls) == 2 and sha in cache


def test_graphs_that_break_the_contract_are_internal_errors(artifacts: ArtifactDir) -> None:
    cache = SessionCache(artifacts.open_path, capacity=2)
    renamed = artifacts.put(linear_onnx(DIGITS, 3, input_name="x")[0])
    with pytest.raises(HubError) as info:
        cache.get(renamed)
    assert info.value.code is ErrorCode.INTERNAL
    assert "['x']" in info.value.message and "'input'" in info.value.message

    garbage = artifacts.put(b"not an onnx graph")
    with pytest.raises(HubError) as info:
        cache.get(garbage)
    assert info.value.code is ErrorCode.INTERNAL
    assert "not a loadable ONNX graph" in info.value.message
    assert len(cache) == 0


def test_a_run_on_the_wrong_shape_is_an_internal_error(artifacts: ArtifactDir) -> None:
    sha = artifacts.put(linear_onnx(DIGITS, 3)[0])
    cache = SessionCache(artifacts.open_path, capacity=2)
    with pytest.raises(HubError) as info:
        cache.run(sha, np.zeros((2, 1, 7, 7), dtype=np.float32))
    assert info.value.code is ErrorCode.INTERNAL
    assert "(2, 1, 7, 7)" in info.value.message


def test_thread_settings_are_applied(artifacts: ArtifactDir) -> None:
    sha = artifacts.put(linear_onnx(DIGITS, 3)[0])
    default = SessionCache(artifacts.open_path, capacity=1).get(sha)
    assert default.get_session_options().intra_op_num_threads == 1
    assert default.get_providers() == ["CPUExecutionProvider"]
    wider = SessionCache(artifacts.open_path, capacity=1, intra_op_num_threads=3).get(sha)
    assert wider.get_session_options().intra_op_num_threads == 3


@pytest.mark.parametrize("kwargs", [{"capacity": 0}, {"capacity": 1, "intra_op_num_threads": 0}])
def test_bad_settings_are_rejected(artifacts: ArtifactDir, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SessionCache(artifacts.open_path, **kwargs)
