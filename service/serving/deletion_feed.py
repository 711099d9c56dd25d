"""Which compositions were deleted, by this process or any other: polled, at most once a second.

Compositions are cached per API process without asking the registry again (their id is their
content). A deletion in one process must still reach the others: each polls the registry's
deletion log when its last poll is older than POLL_INTERVAL_S, on the first request after that,
so a deleted composition answers 404 everywhere within a second, for one indexed query per process
per second at most, and none at all on requests in between.

The registry prunes the log's entries after a day (modules_store.sql_deletion.DELETION_LOG_RETENTION),
far beyond the second a serving process waits between polls. A process that asked nothing for
longer, and so may have missed pruned entries, is told so by its next poll, and drops everything
it caches: it reads each composition from the registry again, and finds the deleted ones gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from modules_store import DeletionsSince

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0


class DeletionFeed:
    """`mark()`: the log's position now; `since(mark)`: the log's position, and the ids deleted after
    `mark` or that some may have been pruned."""

    def __init__(
        self,
        mark: Callable[[], int],
        since: Callable[[int], DeletionsSince],
        interval_s: float = POLL_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._since = since
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # Read before anything is cached: a deletion after this point is in the log after it.
        self._mark = mark()
        self._checked = clock()

    def due(self) -> bool:
        """Whether the next `poll` asks the registry."""
        return self._clock() - self._checked >= self.interval_s

    def poll(self, forget: Callable[[list[str]], object], forget_all: Callable[[], object]) -> None:
        """When a poll is due, hand the ids deleted since the last one to `forget`, or call `forget_all`
        when the log no longer holds all of them (pruned since).

        Requests that come while a poll runs wait for it, so none is answered from what it drops.
        """
        if self._clock() - self._checked < self.interval_s:
            return
        with self._lock:
            started = self._clock()
            if started - self._checked < self.interval_s:
                return  # another thread polled while this one waited
            try:
                read = self._since(self._mark)
            except Exception:  # the registry is down: keep serving what is cached, retry after the interval
                log.warning("could not read the composition deletion log", exc_info=True)
            else:
                self._mark = read.position
                if read.pruned:
                    log.info("the composition deletion log was pruned since this process last read it: cache dropped")
                    forget_all()
                elif read.composition_ids:
                    forget(read.composition_ids)
            # The poll saw the log as of when it started: the next one is due a second after that.
            self._checked = started
