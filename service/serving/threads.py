"""The threads inferences run on: a small pool of their own, apart from the framework's, and the
event loop itself for small requests when nothing else is running.

A request's work after its body is read (parse, check, run, encode) goes to one of a few threads.
More threads than cores buys nothing here: ONNX Runtime runs each graph on one thread, and the rest
of the work holds the GIL. Fewer threads mean less GIL contention and fewer context switches per
request; requests beyond them wait in the pool's queue, whose length Admission bounds.

Handing a request to a thread and its answer back costs two wake-ups (0.2-0.25 ms of a batch-1
request measured end to end on 2 cores), more than a small model's whole run. So work on a small
body that its caller vouches needs nothing but memory may run on the event loop instead, once it is
`cheap`: its last run of that size took at most `inline_budget_s`, the longest the loop may then be
held, and about the GIL's own switch interval, a delay the loop already tolerates from any thread.
The data plane decodes and encodes a cheap request on the loop (serving.batching); `run_small`
also wants no other inference in flight (nothing would run beside it), for the ONNX Runtime runs.
Everything else, and any work whose cost is not known yet, takes a thread, timed (`run_timed`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Bodies up to this size may run on the loop (a batch of 64 MNIST images as V2 binary is 200 KB),
# when their measured cost, decoding included, allows; the budget, not the size, bounds the hold.
INLINE_MAX_BYTES = 256 * 1024
# Costs remembered, least recently used forgotten first: one per (composition, body size class).
_COSTS_KEPT = 1024


class InferenceThreads:
    def __init__(self, threads: int, inline_budget_s: float) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="inference")
        self.inline_budget_s = inline_budget_s
        self.in_threads = 0  # calls handed to the pool and not answered yet (read on the loop only)
        # Seconds the last call took, by (key, body size class): sizes within a factor of 2 share one.
        self._costs: OrderedDict[tuple[str, int], float] = OrderedDict()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on a pool thread, awaited: the one hand-off of a request."""
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        self.in_threads += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        finally:
            self.in_threads -= 1

    def cheap(self, key: str, size: int) -> bool:
        """Whether work on `key` with a body of `size` bytes is known to take at most the budget:
        its last run of this size class did."""
        if size > INLINE_MAX_BYTES or self.inline_budget_s <= 0:
            return False
        cost = self._costs.get((key, size.bit_length()))
        return cost is not None and cost <= self.inline_budget_s

    def remember(self, key: str, size: int, seconds: float) -> None:
        """What work on `key` with a body of `size` bytes took this time, run wherever."""
        bucket = (key, size.bit_length())
        self._costs[bucket] = seconds
        self._costs.move_to_end(bucket)
        if len(self._costs) > _COSTS_KEPT:
            self._costs.popitem(last=False)

    async def run_small(self, key: str, size: int, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` for work of `size` bytes that depends on `key` (a composition) and needs
        nothing but memory (no SQL, no file, no graph to load): on the event loop when it is cheap
        and alone, else as `run_timed`."""
        if not (self.in_threads == 0 and self.cheap(key, size)):
            return await self.run_timed(key, size, fn, *args)
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.remember(key, size, time.perf_counter() - started)

    async def run_timed(self, key: str, size: int, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on a pool thread, as `run`, its cost remembered for `cheap`."""
        timing: list[float] = []
        try:
            return await self.run(_timed, timing, fn, *args)
        finally:
            if timing:  # empty when the call never started (cancelled while queued)
                self.remember(key, size, timing[0])

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _timed(timing: list[float], fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, its wall seconds appended to `timing` however it ends."""
    started = time.perf_counter()
    try:
        return fn(*args)
    finally:
        timing.append(time.perf_counter() - started)
