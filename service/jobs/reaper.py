"""The reaper: running jobs whose worker stopped heartbeating are re-queued (and re-submitted) or failed."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from modules_store import JobStatus, RegistryStore
from service.config import Settings
from service.jobs.executor import Executor

log = logging.getLogger(__name__)
RESUBMIT_EVERY = 4


class Reaper:
    def __init__(self, settings: Settings, store: RegistryStore, executor: Executor) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-reaper", daemon=True)
        self._resubmitted: dict[str, datetime] = {}

    def start(self) -> None:
        self._thread.start()  # its first round runs at once

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def reap(self) -> None:
        stale_after = timedelta(seconds=self.settings.stale_after_s)
        for job in self.store.recover_stale_jobs(stale_after):
            log.warning("job %s lost its worker %s: now %s", job.id, job.worker_id, job.status)
            if job.status == JobStatus.QUEUED:
                self.executor.submit(job)
        self.resubmit_waiting(stale_after)

    def resubmit_waiting(self, older_than: timedelta) -> None:
        """Hand long-queued jobs to the executor again: their message may be lost (broker down at
        submit, broker restarted). A duplicate is harmless (only one claim of a queued job wins) but
        not free, so each job is re-sent at most once per RESUBMIT_EVERY stale periods."""
        now = datetime.now(UTC)
        waiting = self.store.list_jobs(status=JobStatus.QUEUED, limit=500).items
        self._resubmitted = {job.id: self._resubmitted[job.id] for job in waiting if job.id in self._resubmitted}
        for job in waiting:
            last = self._resubmitted.get(job.id, job.created_at)
            if now - last > older_than * RESUBMIT_EVERY:
                self.executor.submit(job)
                self._resubmitted[job.id] = now

    def _loop(self) -> None:
        while True:
            try:
                self.reap()
            except Exception:  # the database or the broker is away; try again next round
                log.exception("reaping stale jobs failed")
            if self._stop.wait(max(self.settings.stale_after_s / 3, 0.5)):
                return
