"""The threads inferences run on: a small pool of their own, apart from the framework's.

A request's work after its body is read (parse, check, run, encode) goes to one of a few threads.
More threads than cores buys nothing here: ONNX Runtime runs each graph on one thread, and the rest
of the work holds the GIL. Fewer threads mean less GIL contention and fewer context switches per
request; requests beyond them wait in the pool's queue, whose length Admission bounds.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class InferenceThreads:
    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="inference")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on a pool thread, awaited: the one hand-off of a request."""
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
