"""Batcher: requests for one composition that are ready together share one ONNX Runtime run, and
each gets exactly the answer it would get alone; a request alone runs at once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np
import orjson
import pytest

from service.errors import ErrorCode, HubError
from service.serving.batching import Batcher
from service.serving.predictor import CompositionCache, Predictor, Served
from service.serving.sessions import SessionCache
from service.serving.threads import InferenceThreads
from tests.serving.helpers import DIGITS, ArtifactDir, linear_onnx, pixels
from tests.serving.test_predictor import BASE, Registry


class Recording:
    """The predictor's logits, with the batch sizes of the runs made."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.runs: list[int] = []
        self.fail_next: Exception | None = None
        self.delay_s = 0.0

    def __call__(self, served: Served, batch: np.ndarray) -> np.ndarray:
        self.runs.append(len(batch))
        time.sleep(self.delay_s)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return self.predictor.logits(served, batch)


@pytest.fixture
def predictor(artifacts: ArtifactDir) -> Predictor:
    onnx_bytes, _, _ = linear_onnx(DIGITS, num_classes=3)
    sha = artifacts.put(onnx_bytes)
    registry = Registry(["c"])
    registry.rows["c"] = replace(
        BASE,
        id="c",
        onnx_sha256=sha,
        classes=[replace(BASE.classes[0], index=k, label=str(k), class_index=k) for k in range(3)],
    )
    return Predictor(CompositionCache(registry.get_composition, 8), SessionCache(artifacts.open_path, 4), 64)


def body(n: int, seed: int) -> bytes:
    return orjson.dumps({"inputs": pixels(n, DIGITS, seed).reshape(n, -1).tolist()})


def alone(predictor: Predictor, request: bytes) -> bytes:
    return predictor.complete(predictor.predict_json("c", request))


def assert_same(answer: bytes, expected: bytes) -> None:
    """The same predictions; probabilities within float error (a row's logits may come from another
    kernel in a batch of another size)."""
    got, want = orjson.loads(answer), orjson.loads(expected)
    assert [p["label"] for p in got["predictions"]] == [p["label"] for p in want["predictions"]]
    for g, w in zip(got["predictions"], want["predictions"], strict=True):
        assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-6)


def batcher_of(predictor: Predictor, max_samples: int = 64) -> tuple[Batcher, Recording]:
    recording = Recording(predictor)
    batcher = Batcher(InferenceThreads(1, inline_budget_s=0.05), recording, max_samples)
    return batcher, recording


async def serve(batcher: Batcher, predictor: Predictor, request: bytes) -> bytes:
    return await batcher.run("c", len(request), predictor.predict_json("c", request))


def test_requests_ready_together_share_one_run_and_each_gets_its_own_answer(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor)
    requests = [body(n, seed) for seed, n in enumerate((1, 3, 1, 2))]

    async def main() -> list[bytes]:
        return await asyncio.gather(*(serve(batcher, predictor, r) for r in requests))

    answers = asyncio.run(main())
    assert recording.runs == [7]  # 1 + 3 + 1 + 2 samples, one run
    assert (batcher.runs, batcher.requests) == (1, 4)
    for request, answer in zip(requests, answers, strict=True):
        assert_same(answer, alone(predictor, request))


def test_a_request_alone_runs_alone(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor)
    request = body(2, seed=5)

    async def main() -> list[bytes]:
        return [await serve(batcher, predictor, request) for _ in range(3)]

    for answer in asyncio.run(main()):
        assert_same(answer, alone(predictor, request))
    assert recording.runs == [2, 2, 2]


def test_a_request_arriving_during_a_run_is_run_next_by_a_task(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor)
    first, during = body(1, seed=1), body(2, seed=2)

    recording.delay_s = 0.2

    async def main() -> list[bytes]:
        leader = asyncio.ensure_future(serve(batcher, predictor, first))
        while not recording.runs:  # the leader's run, on a thread (its cost is not known yet)
            await asyncio.sleep(0.001)
        follower = asyncio.ensure_future(serve(batcher, predictor, during))
        await asyncio.sleep(0.01)
        assert [len(batch) for batch, _ in batcher._waiting["c"].batches] == [2]  # waits for the run
        return [await leader, await follower]

    leader, follower = asyncio.run(main())
    assert_same(leader, alone(predictor, first))
    assert_same(follower, alone(predictor, during))
    assert recording.runs == [1, 2]
    assert not batcher._waiting  # nothing left behind


def test_a_merged_run_takes_at_most_max_samples(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor, max_samples=4)
    requests = [body(2, seed) for seed in range(5)]

    async def main() -> list[bytes]:
        return await asyncio.gather(*(serve(batcher, predictor, r) for r in requests))

    answers = asyncio.run(main())
    assert recording.runs == [4, 4, 2]
    for request, answer in zip(requests, answers, strict=True):
        assert_same(answer, alone(predictor, request))


def test_a_request_of_max_samples_or_more_runs_alone_at_once(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor, max_samples=4)
    full, small = body(4, seed=1), body(1, seed=2)

    async def main() -> list[bytes]:
        return await asyncio.gather(*(serve(batcher, predictor, r) for r in (small, full, small)))

    answers = asyncio.run(main())
    assert recording.runs == [4, 2]  # the full one did not wait for the turn the small ones merge in
    for request, answer in zip((small, full, small), answers, strict=True):
        assert_same(answer, alone(predictor, request))


def test_a_failed_run_fails_every_request_in_it_and_the_next_run_is_clean(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor)
    requests = [body(1, seed) for seed in range(3)]
    recording.fail_next = HubError(ErrorCode.INTERNAL, "ONNX Runtime failed")

    async def main() -> tuple[list[object], bytes]:
        runs = (serve(batcher, predictor, r) for r in requests)
        failed = await asyncio.gather(*runs, return_exceptions=True)
        return failed, await serve(batcher, predictor, requests[0])

    failed, later = asyncio.run(main())
    assert [getattr(e, "code", None) for e in failed] == [ErrorCode.INTERNAL] * 3
    assert later == alone(predictor, requests[0])
    assert recording.runs == [3, 1]


def test_a_bad_request_fails_alone_before_it_joins_a_run(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor)
    good = body(1, seed=1)
    bad = orjson.dumps({"inputs": [[1.0] * 3]})  # not 64 pixels

    async def main() -> list[object]:
        runs = (serve(batcher, predictor, r) for r in (good, bad, good))
        return await asyncio.gather(*runs, return_exceptions=True)

    first, error, last = asyncio.run(main())
    assert isinstance(first, bytes) and isinstance(last, bytes)
    assert_same(first, alone(predictor, good))
    assert_same(last, alone(predictor, good))
    assert isinstance(error, HubError) and error.code == ErrorCode.INVALID_ARGUMENT
    assert recording.runs == [2]


def test_a_cancelled_request_is_left_out_of_the_run(predictor: Predictor) -> None:
    batcher, recording = batcher_of(predictor)
    kept, dropped = body(1, seed=1), body(2, seed=2)

    async def main() -> bytes:
        gone = asyncio.ensure_future(serve(batcher, predictor, dropped))
        stays = asyncio.ensure_future(serve(batcher, predictor, kept))
        await asyncio.sleep(0)  # both have handed over their batches; the run has not started
        gone.cancel()
        return await stays

    assert_same(asyncio.run(main()), alone(predictor, kept))
    assert recording.runs == [1]


def test_what_a_request_costs_the_loop_is_remembered(predictor: Predictor) -> None:
    batcher, _ = batcher_of(predictor)
    request = body(1, seed=3)
    assert not batcher.threads.cheap("c", len(request))  # nothing known yet
    asyncio.run(serve(batcher, predictor, request))
    assert batcher.threads.cheap("c", len(request))
