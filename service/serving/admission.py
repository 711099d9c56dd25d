"""Backpressure: a bounded number of inferences in flight per process, the rest refused at once.

Past the bound a request would only wait in the thread pool's queue, holding its body in memory,
until its client times out. Refusing it with 429 and `Retry-After` costs the client one round trip
and keeps memory and latency bounded for everyone admitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import ErrorCode, HubError

RETRY_AFTER_S = 1


class Admission:
    """At most `limit` requests hold a slot at once. Used on the event loop only: no lock needed."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.in_flight = 0
        self.refused = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the block; OVERLOADED (429) when all are taken."""
        if self.in_flight >= self.limit:
            self.refused += 1
            raise HubError(
                ErrorCode.OVERLOADED,
                f"the server is running {self.limit} inferences already (MODA_MAX_INFLIGHT); "
                f"retry in {RETRY_AFTER_S} s",
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
