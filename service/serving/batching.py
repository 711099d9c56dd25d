"""Requests for one composition that are ready together run as one ONNX Runtime batch.

On a busy server, requests arrive while an inference runs. Their bodies are read and decoded in
the next turn of the event loop, and each hands its batch to the Batcher. The Batcher runs the
batches waiting for one composition as one merged batch (at most `max_samples` samples), then
gives each request its rows of the logits. ONNX Runtime runs a batch of 8 faster per sample than
8 runs of one, and the merged run pays its hand-off to a thread once. A request whose own batch
has `max_samples` samples or more gains nothing from merging and runs at once, alone.

Nothing waits on purpose: there is no timer and no delay. The first request to hand over a batch
for a composition leads: it lets the loop finish its turn (so that the requests decoded in the same
turn join it), then runs what is waiting. Alone, it runs alone, one turn of the loop later (tens of
microseconds); requests merge only when the server is already behind. So batching costs an idle
server no latency worth the name (Triton's dynamic batcher with a queue delay of 0). Batches that
arrive while a run is going on are run by a task, one merged run after the other, until none waits.
A merged run goes where InferenceThreads.run_small puts it: on the event loop while runs of its
size are known to be quick and nothing else runs, else on a thread, where the loop meanwhile reads
the next requests.

    request ─ decode ─┐                                      ┌─ its rows ─ encode ─ response
    request ─ decode ─┼─ waiting ─ np.concatenate ─ one run ─┼─ its rows ─ encode ─ response
    request ─ decode ─┘                                      └─ its rows ─ encode ─ response
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from service.serving.predictor import Served, Steps, fail, finish
from service.serving.threads import InferenceThreads

T = TypeVar("T")

_Pending = tuple[np.ndarray, asyncio.Future[np.ndarray]]  # a request's batch (N, C, H, W), its logits to come


@dataclass
class _Waiting:
    """The batches waiting for one composition, and the task that runs them after its leader."""

    served: Served
    batches: deque[_Pending] = field(default_factory=deque)
    runner: asyncio.Task[None] | None = None  # held here: the loop keeps only a weak reference to a task


class Batcher:
    """Used on the event loop only: no lock needed."""

    def __init__(
        self,
        threads: InferenceThreads,
        run: Callable[[Served, np.ndarray], np.ndarray],
        max_samples: int,
    ) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be at least 1, got {max_samples}")
        self.threads = threads
        self._run = run  # logits (N, K) of a composition on a batch (N, C, H, W)
        self.max_samples = max_samples
        self._waiting: dict[str, _Waiting] = {}  # by composition id
        self.served = 0  # requests driven here, on the event loop
        self.runs = 0  # batches run so far
        self.requests = 0  # requests those runs answered (more than runs: some were merged)

    async def run(self, key: str, size: int, steps: Steps[T]) -> T:
        """Drive `steps` (a request on `key` with a body of `size` bytes) on the event loop, its
        batch run with whatever other batches for the same composition are waiting. What it costs
        the loop itself (decoding and encoding) is remembered for InferenceThreads.cheap."""
        self.served += 1
        started = time.perf_counter()
        served, batch = next(steps)
        on_loop = time.perf_counter() - started
        try:
            logits = await self._logits(served, batch)
        except Exception as error:
            fail(steps, error)
        resumed = time.perf_counter()
        try:
            return finish(steps, logits)
        finally:
            self.threads.remember(key, size, on_loop + time.perf_counter() - resumed)

    async def _logits(self, served: Served, batch: np.ndarray) -> np.ndarray:
        if len(batch) >= self.max_samples:  # a full batch already: nothing to gain, no turn to wait
            return await self._run_merged(served, batch, requests=1)
        rows: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(served.id)
        if waiting is not None:  # someone runs this composition's batches: wait for it
            waiting.batches.append((batch, rows))
            return await rows
        # Lead: one turn of the loop lets the requests decoded in this turn hand over their
        # batches, then run them all with this one. What arrives meanwhile a task takes over.
        waiting = self._waiting[served.id] = _Waiting(served)
        waiting.batches.append((batch, rows))
        try:
            await asyncio.sleep(0)
            await self._run_once(waiting)
        except BaseException:
            rows.cancel()  # this request is gone (cancelled): its batch is not run
            raise
        finally:
            if waiting.batches:
                waiting.runner = asyncio.create_task(self._run_waiting(waiting))
            else:
                del self._waiting[served.id]
        return await rows  # done by now, unless this request was cancelled

    async def _run_waiting(self, waiting: _Waiting) -> None:
        try:
            while waiting.batches:
                await self._run_once(waiting)
        finally:
            for _, rows in waiting.batches:  # left only when this task is cancelled (the server stopping)
                rows.cancel()
            del self._waiting[waiting.served.id]

    async def _run_once(self, waiting: _Waiting) -> None:
        """Run the first waiting batches, merged, and answer each request with its rows."""
        taken = self._take(waiting.batches)
        if not taken:
            return
        merged = taken[0][0] if len(taken) == 1 else np.concatenate([batch for batch, _ in taken])
        try:
            logits = await self._run_merged(waiting.served, merged, requests=len(taken))
        except Exception as error:  # every request of the run answers with its error
            for _, rows in taken:
                if not rows.done():
                    rows.set_exception(error)
            return
        except BaseException:  # the task running it cancelled (the server stopping): so is the run
            for _, rows in taken:
                rows.cancel()
            raise
        start = 0
        for batch, rows in taken:
            if not rows.done():  # a request cancelled meanwhile wants nothing
                rows.set_result(logits[start : start + len(batch)])
            start += len(batch)

    async def _run_merged(self, served: Served, batch: np.ndarray, requests: int) -> np.ndarray:
        """The logits of `batch`, the batches of `requests` requests merged, counted once run."""
        key = f"{served.id} merged"  # the costs of runs, apart from those of whole requests
        logits = await self.threads.run_small(key, batch.nbytes, self._run, served, batch)
        self.runs += 1
        self.requests += requests
        return logits

    def _take(self, batches: deque[_Pending]) -> list[_Pending]:
        """The first waiting batches, up to max_samples samples in all (at least one batch)."""
        taken: list[_Pending] = []
        samples = 0
        while batches and (not taken or samples + len(batches[0][0]) <= self.max_samples):
            batch, rows = batches.popleft()
            if not rows.cancelled():
                taken.append((batch, rows))
                samples += len(batch)
        return taken
